package dashboard_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/krystalstack/gamesa/node/dashboard"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry/history"
	"github.com/krystalstack/gamesa/telemetry/sim"
)

// planned is a node whose optimizer has made plans: a minute of the
// simulated machine, recorded, and two plans in it. The node issue's
// optimizer will feed the same views through dashboard.PlanSource.
type planned struct {
	ring  *history.Ring
	last  *gamesav1.Sample
	plans []*gamesav1.Plan
}

func newPlanned(t *testing.T) *planned {
	t.Helper()
	cfg := sim.DefaultConfig()
	cfg.NodeID, cfg.Scenario = "planner", sim.ScenarioGame
	end := time.Now().Truncate(time.Second)
	samples, err := sim.Record(context.Background(), cfg, end.Add(-time.Minute), time.Second, 61)
	if err != nil {
		t.Fatalf("sim.Record: %v", err)
	}
	ring, err := history.NewRing(len(samples), 0)
	if err != nil {
		t.Fatalf("NewRing: %v", err)
	}
	for _, s := range samples {
		if err := ring.Append(s); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	at := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(end.Add(-d)) }
	return &planned{ring: ring, last: samples[len(samples)-1], plans: []*gamesav1.Plan{
		{Time: at(50 * time.Second), Mode: "BALANCED"},
		{Time: at(20 * time.Second), Mode: "GAMING", Actions: []*gamesav1.Action{
			{Knob: "cgroup.cpuset", Target: "steam-game", Value: "0-5", Reasons: []string{"game in foreground"}},
			{Knob: "cgroup.weight", Target: "steam-game", Value: "800", Reasons: []string{"game in foreground"}},
			{Knob: "cgroup.cpuset", Target: "background", Value: "6-7", Reasons: []string{"keep background work off the game's cores"}},
			{Knob: "cgroup.weight", Target: "background", Value: "50"},
		}},
	}}
}

func (p *planned) Info() *gamesav1.NodeInfo {
	return &gamesav1.NodeInfo{NodeId: "planner", Source: "sim", Mode: "observe"}
}

func (p *planned) Watch(ctx context.Context, _ time.Duration, deliver func(*gamesav1.Sample)) error {
	deliver(p.last)
	<-ctx.Done()
	return nil
}

func (p *planned) History(_ context.Context, from, to time.Time, limit int) ([]*gamesav1.Sample, bool, error) {
	s, more := p.ring.Range(from, to, limit)
	return s, more, nil
}

func (p *planned) Cluster(context.Context) (*gamesav1.GetClusterStateResponse, error) {
	return &gamesav1.GetClusterStateResponse{SelfId: "planner", LeaderId: "planner", Members: []*gamesav1.Member{{
		Info: p.Info(), State: gamesav1.MemberState_MEMBER_STATE_ALIVE, Role: gamesav1.NodeRole_NODE_ROLE_SERVER,
		Digest: &gamesav1.Digest{NodeId: "planner", PowerWatts: 30, PowerCapWatts: 40},
	}}, Settings: []*gamesav1.Setting{{Key: "power/budget_watts", Value: "120", Version: 7}}}, nil
}

func (p *planned) Plans(_ context.Context, from, to time.Time, limit int) ([]*gamesav1.Plan, error) {
	var out []*gamesav1.Plan
	for _, pl := range p.plans {
		if t := pl.GetTime().AsTime(); !t.Before(from) && !t.After(to) && len(out) < limit {
			out = append(out, pl)
		}
	}
	return out, nil
}

// TestBrowserPlans: when the node has plans and the cluster has set a cap
// and a budget, the views that were empty show them: the decision timeline
// with its reasons, the allocation chart, the cap on the power chart, the
// budget.
func TestBrowserPlans(t *testing.T) {
	if raceEnabled {
		t.Skip("the browser tests run without -race")
	}
	exe := findBrowser(t)
	h, err := dashboard.New(dashboard.DefaultConfig(), newPlanned(t), slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/gamesa", h)
	mux.Handle("/gamesa/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(h.Close)
	if !bundled(t, srv.URL) {
		t.Skip("the front end is not built into this test binary (run make dashboard)")
	}
	p := newPage(t, exe)
	p.do("loading the page", chromedp.Navigate(srv.URL+"/gamesa"))
	p.until("the decisions", `document.getElementById('p-decisions').dataset.state === 'data'`, `document.getElementById('p-decisions').textContent`)
	text := eval[string](p, `document.querySelector('#p-decisions .timeline').textContent`)
	for _, want := range []string{"balanced → gaming", "game in foreground", "keep background work off the game's cores", "4 actions"} {
		if !strings.Contains(text, want) {
			t.Errorf("decision timeline %q lacks %q", text, want)
		}
	}
	p.until("the allocation chart", `(() => { const e = document.getElementById('p-alloc');
		return e.dataset.state === 'data' && +e.dataset.points === 2 && !!e.querySelector('canvas'); })()`, `document.getElementById('p-alloc').dataset`)
	legend := eval[string](p, `document.querySelector('#p-alloc .u-legend').textContent`)
	if !strings.Contains(legend, "cores") || !strings.Contains(legend, "weight") {
		t.Errorf("allocation legend %q; want cores and weight", legend)
	}
	p.until("the cluster's cap on the power chart", `document.querySelector('#p-power .u-legend').textContent.includes('node cap (cluster)')`,
		`document.querySelector('#p-power .u-legend').textContent`)
	p.until("the budget", `document.getElementById('cluster-summary').textContent.includes('of 120 W budget')`, `document.getElementById('cluster-summary').textContent`)
	if got := eval[string](p, `document.querySelector('#members .member').textContent`); !strings.Contains(got, "40 W") {
		t.Errorf("member card %q; want the 40 W cap", got)
	}
	if got := eval[string](p, `document.querySelector('#p-settings .settings').textContent`); !strings.Contains(got, "power/budget_watts120") {
		t.Errorf("settings %q; want power/budget_watts = 120", got)
	}
	p.screenshot(outDir(t), "dashboard-plans.png")
	p.checkNoProblems()
}
