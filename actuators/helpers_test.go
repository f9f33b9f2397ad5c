package actuators_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"

	"github.com/krystalstack/gamesa/actuators"
	"github.com/krystalstack/gamesa/telemetry/telemetrytest"
)

// fixture copies testdata/fixture into a temporary directory and returns a
// Config over it: sysfs, /dev and a cgroup v2 tree from the fixture, an
// empty /proc and /run (no other tuners), and a journal in its own
// directory.
func fixture(t testing.TB) (actuators.Config, string) {
	t.Helper()
	return fixtureIn(t, t.TempDir())
}

// fixtureIn is fixture with the tree copied into dir; the journal stays
// in a temporary directory of the test's.
func fixtureIn(t testing.TB, dir string) (actuators.Config, string) {
	t.Helper()
	if err := telemetrytest.CopyTree("testdata/fixture", dir); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"proc", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := actuators.DefaultConfig()
	cfg.Proc = filepath.Join(dir, "proc")
	cfg.Sys = filepath.Join(dir, "sys")
	cfg.Dev = filepath.Join(dir, "dev")
	cfg.Run = filepath.Join(dir, "run")
	cfg.CgroupRoot = filepath.Join(dir, "cgroup2")
	cfg.JournalPath = filepath.Join(t.TempDir(), "data", "actuators.journal")
	cfg.Logger = testLogger(t)
	return cfg, dir
}

// testLogger sends the package's log lines to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// open opens a Set and closes it at the end of the test.
func open(t testing.TB, cfg actuators.Config) *actuators.Set {
	t.Helper()
	s, err := actuators.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return s
}

// plan builds a plan from knob, target, value triples.
func plan(kv ...string) *gamesav1.Plan {
	p := &gamesav1.Plan{Mode: "TEST"}
	for i := 0; i+2 < len(kv); i += 3 {
		p.Actions = append(p.Actions, &gamesav1.Action{Knob: kv[i], Target: kv[i+1], Value: kv[i+2], Reasons: []string{"test"}})
	}
	return p
}

// apply applies p and fails the test unless every result has the wanted
// status.
func apply(t testing.TB, s *actuators.Set, want actuators.Status, p *gamesav1.Plan) []actuators.Result {
	t.Helper()
	res := s.Apply(context.Background(), p)
	if len(res) != len(p.Actions) {
		t.Fatalf("Apply() returned %d results for %d actions", len(res), len(p.Actions))
	}
	for _, r := range res {
		if r.Status != want {
			t.Errorf("Apply(%s %s=%q) = %v (%v); want %v", r.Action.Knob, r.Action.Target, r.Action.Value, r.Status, r.Err, want)
		}
	}
	return res
}

// revert reverts and fails the test on an error.
func revert(t testing.TB, s *actuators.Set) []actuators.Result {
	t.Helper()
	res, err := s.Revert(context.Background())
	if err != nil {
		t.Fatalf("Revert() = %v", err)
	}
	return res
}

// readFile returns a file's content without surrounding space.
func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// writeFile replaces a file's content, as another program would.
func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// statuses lists results as "knob target: status" for failure messages.
func statuses(res []actuators.Result) string {
	var b strings.Builder
	for _, r := range res {
		fmt.Fprintf(&b, "\n  %s %s=%q: %v (prev %q, now %q) %v", r.Action.Knob, r.Action.Target, r.Action.Value, r.Status, r.Previous, r.Value, r.Err)
	}
	return b.String()
}

// poll calls cond until it returns true or the deadline passes.
func poll(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// configJSON is how a helper process receives its Config (the fields the
// tests set; the rest stay default).
type configJSON struct {
	Proc, Sys, Dev, Run, CgroupRoot, CgroupName, JournalPath string
	PIDs                                                     []int
	AllowRealtime, RespectTuners                             bool
	Plan                                                     []string
}

func (c configJSON) config() actuators.Config {
	cfg := actuators.DefaultConfig()
	cfg.Proc, cfg.Sys, cfg.Dev, cfg.Run = c.Proc, c.Sys, c.Dev, c.Run
	cfg.CgroupRoot, cfg.CgroupName, cfg.JournalPath = c.CgroupRoot, c.CgroupName, c.JournalPath
	cfg.Scope.PIDs = c.PIDs
	cfg.AllowRealtime = c.AllowRealtime
	cfg.RespectTuners = c.RespectTuners
	return cfg
}

func toJSON(c configJSON) string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return string(b)
}
