package dashboard

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry/history"
	"github.com/krystalstack/gamesa/telemetry/sim"
)

// twin is the dashboard's Source over the simulated machine, in memory: the
// test decides when a sample is taken (publish), samples go to a history
// ring and to every watcher, and a watcher that falls watchSlack samples
// behind is cut off with ErrTooSlow, as the node's hub does (its slack is
// 32; tests publish in bursts, so the twin allows more).
type twin struct {
	t    testing.TB
	info *gamesav1.NodeInfo

	mu        sync.Mutex
	m         *sim.Machine
	ring      *history.Ring
	now       time.Time
	seq       uint64
	last      *gamesav1.Sample
	watchers  map[*twinWatch]struct{}
	intervals []time.Duration // every interval Watch was asked for
	delivered uint64          // samples handed to deliver, all watchers
	cluster   *gamesav1.GetClusterStateResponse
	failWatch error // when set, Watch returns it at once
}

type twinWatch struct {
	ch   chan *gamesav1.Sample
	done chan struct{}
}

const watchSlack = 1024

func newTwin(t testing.TB) *twin {
	t.Helper()
	cfg := sim.DefaultConfig()
	cfg.NodeID = "twin"
	cfg.Scenario = sim.ScenarioGame
	m, err := sim.New(cfg)
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	ring, err := history.NewRing(100_000, 0)
	if err != nil {
		t.Fatalf("history.NewRing: %v", err)
	}
	tw := &twin{
		t:        t,
		m:        m,
		ring:     ring,
		now:      time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		watchers: make(map[*twinWatch]struct{}),
		info:     &gamesav1.NodeInfo{NodeId: "twin", Source: "sim", Mode: "observe", CpuCount: uint32(cfg.Cores)},
	}
	tw.cluster = &gamesav1.GetClusterStateResponse{SelfId: "twin", LeaderId: "twin", Members: []*gamesav1.Member{{
		Info: tw.info, State: gamesav1.MemberState_MEMBER_STATE_ALIVE,
		Summary: &gamesav1.MemberSummary{PowerWatts: 42, MaxTemperatureCelsius: 61.5},
	}}}
	return tw
}

// publish takes n samples step apart and hands each to the ring and the
// watchers.
func (tw *twin) publish(n int, step time.Duration) []*gamesav1.Sample {
	tw.t.Helper()
	out := tw.take(n, step)
	for _, s := range out {
		tw.add(s)
	}
	return out
}

// take takes n samples step apart without publishing them.
func (tw *twin) take(n int, step time.Duration) []*gamesav1.Sample {
	tw.t.Helper()
	tw.mu.Lock()
	defer tw.mu.Unlock()
	var out []*gamesav1.Sample
	for range n {
		tw.now = tw.now.Add(step)
		s, err := tw.m.Sample(context.Background(), tw.now)
		if err != nil {
			tw.t.Fatalf("sim Sample: %v", err)
		}
		tw.seq++
		s.Seq = tw.seq
		out = append(out, s)
	}
	return out
}

// add stores and publishes s as is (tests that need odd samples).
func (tw *twin) add(s *gamesav1.Sample) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.appendLocked(s)
}

func (tw *twin) appendLocked(s *gamesav1.Sample) {
	if err := tw.ring.Append(s); err != nil {
		tw.t.Fatalf("ring.Append: %v", err)
	}
	tw.last = s
	for w := range tw.watchers {
		select {
		case w.ch <- s:
		default:
			delete(tw.watchers, w)
			close(w.done)
		}
	}
}

func (tw *twin) Info() *gamesav1.NodeInfo { return tw.info }

func (tw *twin) Watch(ctx context.Context, interval time.Duration, deliver func(*gamesav1.Sample)) error {
	w := &twinWatch{ch: make(chan *gamesav1.Sample, watchSlack), done: make(chan struct{})}
	tw.mu.Lock()
	tw.intervals = append(tw.intervals, interval)
	if err := tw.failWatch; err != nil {
		tw.mu.Unlock()
		return err
	}
	if tw.last != nil {
		w.ch <- tw.last
	}
	tw.watchers[w] = struct{}{}
	tw.mu.Unlock()
	defer func() {
		tw.mu.Lock()
		delete(tw.watchers, w)
		tw.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.done:
			return ErrTooSlow
		case s := <-w.ch:
			deliver(s)
			tw.mu.Lock()
			tw.delivered++
			tw.mu.Unlock()
		}
	}
}

func (tw *twin) History(_ context.Context, from, to time.Time, limit int) ([]*gamesav1.Sample, bool, error) {
	s, more := tw.ring.Range(from, to, limit)
	return s, more, nil
}

func (tw *twin) Cluster(context.Context) (*gamesav1.GetClusterStateResponse, error) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return tw.cluster, nil
}

// stats reads the twin's counters.
func (tw *twin) stats() (watchers int, delivered uint64, intervals []time.Duration) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return len(tw.watchers), tw.delivered, append([]time.Duration(nil), tw.intervals...)
}

// planTwin is a twin whose optimizer has made plans.
type planTwin struct {
	*twin
	plans []*gamesav1.Plan
}

func (p planTwin) Plans(_ context.Context, from, to time.Time, limit int) ([]*gamesav1.Plan, error) {
	var out []*gamesav1.Plan
	for _, pl := range p.plans {
		t := pl.GetTime().AsTime()
		if !t.Before(from) && !t.After(to) && len(out) < limit {
			out = append(out, pl)
		}
	}
	return out, nil
}

func plan(t time.Time, mode string, actions ...*gamesav1.Action) *gamesav1.Plan {
	return &gamesav1.Plan{Time: timestamppb.New(t), Mode: mode, Actions: actions}
}

// serve starts h on a real loopback listener.
func serve(t *testing.T, src Source, mutate func(*Config)) (*Handler, *httptest.Server) {
	t.Helper()
	cfg := DefaultConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	h, err := New(cfg, src, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close()
		srv.Close()
	})
	return h, srv
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func clone(s *gamesav1.Sample) *gamesav1.Sample { return proto.Clone(s).(*gamesav1.Sample) }
