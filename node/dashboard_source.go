package node

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/krystalstack/gamesa/node/dashboard"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry/history"
)

// dashboardSource feeds the dashboard from the node's internals: the hub for
// live samples, the ring and recorder for history, the cluster service for
// the cluster's state.
type dashboardSource struct{ n *Node }

var _ dashboard.Source = dashboardSource{}

// Info describes the node; set in Run before the HTTP server starts.
func (s dashboardSource) Info() *gamesav1.NodeInfo { return s.n.info }

// Watch subscribes to the hub like a WatchTelemetry client: the loop samples
// as fast as the fastest watcher asks, never faster than MinInterval, so a
// page asking for more than 10 updates a second gets every sample once.
func (s dashboardSource) Watch(ctx context.Context, interval time.Duration, deliver func(*gamesav1.Sample)) error {
	w := s.n.hub.subscribe(min(max(interval, MinInterval), MaxInterval))
	defer s.n.hub.unsubscribe(w)
	for {
		// A cut-off wins over buffered samples, as in WatchTelemetry.
		select {
		case <-w.done:
			return fmt.Errorf("fell %d samples behind: %w", watchBuffer, dashboard.ErrTooSlow)
		default:
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.done:
			return fmt.Errorf("fell %d samples behind: %w", watchBuffer, dashboard.ErrTooSlow)
		case sample := <-w.ch:
			deliver(sample)
		}
	}
}

// History answers from the ring when it reaches back to from, else from the
// recorder, as ListHistory does.
func (s dashboardSource) History(_ context.Context, from, to time.Time, limit int) ([]*gamesav1.Sample, bool, error) {
	samples, truncated, err := history.Query(s.n.ring, s.n.rec, from, to, limit)
	if err != nil {
		return nil, false, fmt.Errorf("history: %w", err)
	}
	return samples, truncated, nil
}

// Cluster is what GetClusterState answers from this node's own view: a
// stale read, so a page refreshing every few seconds costs the leader
// nothing (a client node still asks a server, having no replica).
func (s dashboardSource) Cluster(ctx context.Context) (*gamesav1.GetClusterStateResponse, error) {
	return (&clusterService{n: s.n}).GetClusterState(ctx, &gamesav1.GetClusterStateRequest{Stale: true})
}

// dashboardHandler builds the dashboard served under /gamesa.
func (n *Node) dashboardHandler() http.Handler {
	h, err := dashboard.New(dashboard.DefaultConfig(), dashboardSource{n}, n.log)
	if err != nil {
		// Only a programming error gets here (DefaultConfig is valid, the
		// embedded page parses); say so on the page rather than crash the node.
		n.log.Error("dashboard unavailable", "err", err)
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "dashboard unavailable: "+err.Error(), http.StatusInternalServerError)
		})
	}
	n.dash = h
	return h
}

var _ dashboard.PlanSource = dashboardSource{}

// Plans are the recorded decisions' plans, for the page's decision
// timeline: each says the mode in force and every action with its reasons.
func (s dashboardSource) Plans(_ context.Context, from, to time.Time, limit int) ([]*gamesav1.Plan, error) {
	if s.n.act == nil {
		return nil, nil
	}
	ds, _, err := s.n.act.decisions.between(from, to, limit)
	if err != nil {
		return nil, fmt.Errorf("decision history: %w", err)
	}
	plans := make([]*gamesav1.Plan, len(ds))
	for i, d := range ds {
		plans[i] = &gamesav1.Plan{Time: d.GetTime(), Mode: d.GetMode(), Actions: d.GetActions()}
	}
	return plans, nil
}
