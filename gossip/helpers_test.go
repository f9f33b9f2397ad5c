package gossip

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tlog is an io.Writer that forwards to t.Log until the test's cleanup has
// shut its meshes down: memberlist goroutines may still log a moment after
// Shutdown, and t.Log after a test ends panics.
type tlog struct {
	t    testing.TB
	done atomic.Bool
}

func (w *tlog) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// testLogger returns a logger that writes records at level and above to
// t.Log, and stops when the test cleans up.
func testLogger(t testing.TB, level slog.Level) *slog.Logger {
	t.Helper()
	w := &tlog{t: t}
	t.Cleanup(func() { w.done.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fakeClock is a settable Config.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testConfig is a loopback config with a free port and the fast timing.
func testConfig(t testing.TB, id string) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.NodeID = id
	cfg.BindAddr = "127.0.0.1"
	cfg.BindPort = 0
	cfg.Timing = FastTiming()
	cfg.Meta = Meta{Role: RoleClient, GRPCAddr: "127.0.0.1:7070", Version: "test"}
	cfg.Logger = testLogger(t, slog.LevelError)
	return cfg
}

// newMesh starts a mesh that the test's cleanup shuts down.
func newMesh(t testing.TB, cfg Config) *Mesh {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%q): %v", cfg.NodeID, err)
	}
	t.Cleanup(func() {
		if err := m.Shutdown(); err != nil {
			t.Errorf("Shutdown(%q): %v", cfg.NodeID, err)
		}
	})
	return m
}

// join joins m to the given meshes and waits until each of them has m as
// an alive member: memberlist's Join returns before the peer has merged the
// joiner's state.
func join(t testing.TB, m *Mesh, peers ...*Mesh) {
	t.Helper()
	addrs := make([]string, len(peers))
	for i, p := range peers {
		addrs[i] = p.LocalAddr()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := m.Join(ctx, addrs); err != nil {
		t.Fatalf("%s.Join(%v): %v", m.self, addrs, err)
	}
	for _, p := range peers {
		eventually(t, 30*time.Second, func() string { return p.self + " never saw " + m.self + " join" },
			func() bool { return stateOf(p, m.self) == StateAlive })
	}
}

// eventually polls cond every 10 ms until it holds or timeout passes; the
// timeouts are generous because the test machine is shared and loaded.
func eventually(t testing.TB, timeout time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// seesAll reports whether every mesh counts want alive members.
func seesAll(ms []*Mesh, want int) bool {
	for _, m := range ms {
		if m.ml.NumMembers() != want {
			return false
		}
	}
	return true
}

// memberCounts describes what each mesh sees, for failure messages.
func memberCounts(ms []*Mesh) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%s:%d ", m.self, m.ml.NumMembers())
	}
	return b.String()
}

// stateOf returns the state of member id in m's view, 0 when absent.
func stateOf(m *Mesh, id string) MemberState {
	mem, ok := m.View().Get(id)
	if !ok {
		return 0
	}
	return mem.State
}

func atoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("Atoi(%q): %v", s, err)
	}
	return n
}
