package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/krystalstack/gamesa/consensus"
	"github.com/krystalstack/gamesa/gossip"
	"github.com/krystalstack/gamesa/optimizer/alloc"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Timing of the allocation loops.
const (
	// leaderPoll is how often the leader looks for a reason to decide:
	// a member that failed, a job submitted, a node whose draw moved.
	// Each look copies the gossip view and hashes it; four a second cost
	// an idle one-node cluster about 4 % of a core (make footprint).
	leaderPoll = time.Second
	// followPoll is how often a node reads its share of the allocation.
	// It is well inside the jobs lease, so a few slow answers in a row do
	// not stop a node's jobs.
	followPoll = 500 * time.Millisecond
	// idleWait bounds a wait for an event (leadership, a state change)
	// that the waiter is woken for anyway: a safety net, not a poll.
	idleWait = 30 * time.Second
	// capHold bounds how long raises wait for a node to take up a lower
	// cap: a node that does not is broken, and the rest must not starve.
	capHold = 10 * time.Second
	// applyTimeout bounds one commit of the leader.
	applyTimeout = 10 * time.Second
)

// allocator is the node's part in the cluster's allocation (DESIGN.md,
// flow 3). On the leader it decides the power caps and job placements and
// commits them through Raft; on every node it follows its own share of the
// committed allocation: the power cap it enforces and, with jobs enabled,
// the jobs it runs. run owns its goroutines; they end with run's context.
type allocator struct {
	n   *Node
	c   *cluster
	log *slog.Logger

	// capper enforces the node's power cap; nil when nothing can.
	capper powerCapper
	// enforced says whether the cap is enforced here (the simulated
	// machine, or a real host in enforce mode).
	enforced bool

	// share is the node's latest accepted share of the allocation.
	share atomic.Pointer[share]
	// registered is the registration the state last showed for this node
	// (nil when none); the follow loop stores it, the register loop reads.
	registered atomic.Pointer[gamesav1.NodeResources]

	jobs    *jobRunner // nil unless jobs.enabled
	jobsDir string     // where job logs live (also after jobs were disabled)

	// Metrics.
	capWatts, epoch                  atomic.Uint64 // capWatts as Float64bits
	staleShares, commits, commitFail prometheus.Counter
}

func (n *Node) newAllocator(dataDir string) *allocator {
	a := &allocator{
		n: n, c: n.cluster, log: n.log.With("component", "allocation"), jobsDir: jobsDirOf(dataDir),
		enforced: n.cfg.Telemetry.Source == "sim" || n.cfg.Mode == "enforce",
		staleShares: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gamesa_allocation_stale_shares_total",
			Help: "Shares of the allocation refused because they were older than one already applied (a lagging replica).",
		}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gamesa_allocation_commits_total", Help: "Allocations this node committed as leader.",
		}),
		commitFail: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gamesa_allocation_commit_failures_total", Help: "Allocations this node decided as leader that did not commit (stale epoch, lost leadership).",
		}),
	}
	if n.act != nil {
		a.capper = n.act
	}
	if n.cfg.Jobs.Enabled {
		a.jobs = newJobRunner(a, dataDir)
	}
	return a
}

// registerMetrics adds the allocation's gauges to the node's registry.
func (a *allocator) registerMetrics(reg *prometheus.Registry) {
	cs := []prometheus.Collector{
		a.staleShares, a.commits, a.commitFail,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gamesa_power_cap_watts", Help: "This node's share of the cluster power budget; 0 when none.",
		}, func() float64 { return math.Float64frombits(a.capWatts.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gamesa_power_cap_enforced",
			Help: "1 when the node enforces its power cap (the simulated machine, or a host in enforce mode), else 0.",
		}, func() float64 {
			if a.enforced && a.capper != nil {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gamesa_allocation_epoch", Help: "The epoch of the allocation this node follows.",
		}, func() float64 { return float64(a.epoch.Load()) }),
	}
	if a.jobs != nil {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gamesa_jobs_running", Help: "Job processes this node runs.",
		}, func() float64 { return float64(a.jobs.running()) }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				a.log.Warn("registering metric", "err", err)
			}
		}
	}
}

// run follows the node's share and registers the node; on a server it
// also decides while it leads; with jobs enabled it runs them. It returns
// when ctx is done (after the node's jobs have stopped).
func (a *allocator) run(ctx context.Context) error {
	if a.n.metrics != nil {
		a.registerMetrics(a.n.metrics.reg)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { a.follow(gctx); return nil })
	g.Go(func() error { a.register(gctx); return nil })
	if a.c.raft != nil {
		g.Go(func() error { a.lead(gctx); return nil })
	}
	if a.jobs != nil {
		g.Go(func() error { a.jobs.run(gctx); return nil })
	}
	return g.Wait()
}

// lead decides while this server leads: every leaderPoll it fingerprints
// what a decision reads, and decides when that changed or
// cluster.allocate_interval has passed. One decision is one command with
// the next epoch, so a leader that loses its leadership half way leaves
// nothing behind (its command is refused as stale, or never submitted).
func (a *allocator) lead(ctx context.Context) {
	var (
		leading       bool
		lastPrint     uint64
		lastDecision  time.Time
		missingSince  = map[string]time.Time{}
		decreaseSince time.Time
		lastSplitErr  string
	)
	interval := a.n.cfg.Cluster.AllocateInterval
	policy := alloc.DefaultPolicy()
	split := alloc.DefaultSplitConfig()
	for {
		// A follower waits for leadership, a leader polls what it reads.
		won := a.c.leading.Changed()
		poll := idleWait
		if a.c.leading.Load() {
			poll = leaderPoll
		}
		if !wait(ctx, poll, won) {
			return
		}
		if !a.c.leading.Load() {
			if leading {
				a.log.Info("no longer deciding allocations")
			}
			leading, lastPrint, lastDecision, decreaseSince = false, 0, time.Time{}, time.Time{}
			clear(missingSince)
			continue
		}
		leading = true
		now := time.Now()
		st := a.c.raft.State()
		view := a.c.mesh.SharedView() // read only: decide and fingerprint look
		trackMissing(missingSince, st, view, now)
		fp := fingerprint(st, view, policy)
		if fp == lastPrint && now.Sub(lastDecision) < interval {
			continue
		}
		lastPrint, lastDecision = fp, now
		d := decide(decideInput{
			now: now, state: st, view: view, split: split, place: policy,
			fence: a.n.cfg.Jobs.fence(), missingSince: missingSince,
			decreaseSince: decreaseSince, capHold: capHold,
		})
		switch {
		case !d.pendingDecrease:
			decreaseSince = time.Time{}
		case decreaseSince.IsZero():
			decreaseSince = now
		}
		if e := fmt.Sprint(d.splitErr); d.splitErr != nil && e != lastSplitErr {
			a.log.Warn("power budget cannot be split; keeping the caps in force", "err", d.splitErr)
		}
		lastSplitErr = fmt.Sprint(d.splitErr)
		if d.cmd != nil {
			a.commit(ctx, d)
		}
		a.deregisterLeft(ctx, st, view)
	}
}

// commit applies one decision on this leader.
func (a *allocator) commit(ctx context.Context, d decision) {
	actx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	res, err := a.c.raft.Apply(actx, &gamesav1.Command{Op: &gamesav1.Command_CommitAllocation{CommitAllocation: d.cmd}})
	switch {
	case err != nil:
		a.commitFail.Inc()
		if ctx.Err() == nil {
			a.log.Info("allocation not committed", "epoch", d.cmd.GetEpoch(), "err", err)
		}
	case res.GetError() != "":
		a.commitFail.Inc()
		a.log.Info("allocation refused", "epoch", d.cmd.GetEpoch(), "why", res.GetError())
	default:
		a.commits.Inc()
		a.log.Info("allocation committed", "epoch", d.cmd.GetEpoch(), "index", res.GetIndex(), "changes", d.changes)
	}
}

// deregisterLeft removes the registrations of nodes that left the cluster
// once they hold no job runs (their runs are declared lost first), so a
// departed node's floor no longer counts against the budget.
func (a *allocator) deregisterLeft(ctx context.Context, st *consensus.State, view gossip.ClusterView) {
	for _, r := range st.Nodes() {
		id := r.GetNodeId()
		if m, ok := view.Get(id); !ok || m.State != gossip.StateLeft || len(st.JobsOn(id)) > 0 {
			continue
		}
		actx, cancel := context.WithTimeout(ctx, applyTimeout)
		res, err := a.c.raft.Apply(actx, &gamesav1.Command{Op: &gamesav1.Command_DeregisterNode{DeregisterNode: &gamesav1.DeregisterNode{NodeId: id}}})
		cancel()
		if err == nil && res.GetError() == "" {
			a.log.Info("deregistered a node that left", "node", id)
		}
	}
}

// trackMissing keeps, for every node with a job run that gossip does not
// list, when this leader first missed it.
func trackMissing(missing map[string]time.Time, st *consensus.State, view gossip.ClusterView, now time.Time) {
	seen := map[string]bool{}
	for _, j := range st.Jobs() {
		for _, r := range []*gamesav1.JobRun{j.GetCurrent(), j.GetDraining()} {
			if r == nil {
				continue
			}
			id := r.GetNodeId()
			if _, ok := view.Get(id); ok {
				continue
			}
			seen[id] = true
			if _, ok := missing[id]; !ok {
				missing[id] = now
			}
		}
	}
	for id := range missing {
		if !seen[id] {
			delete(missing, id)
		}
	}
}

// fingerprint hashes what makes a decision worth making before the
// interval: any change of the replicated state, any member's liveness, and
// telemetry moving enough to matter (draw by a twentieth of the node's
// ceiling, workload class, crossing the thermal limit, its cap in force).
func fingerprint(st *consensus.State, view gossip.ClusterView, p alloc.Policy) uint64 {
	ceil := make(map[string]float64, len(view.Members))
	st.WalkNodes(func(r *gamesav1.NodeResources) bool {
		ceil[r.GetNodeId()] = r.GetPowerCeilingWatts()
		return true
	})
	var buf [512]byte // the hashed fields, laid end to end
	b := binary.AppendUvarint(buf[:0], st.Index())
	for _, m := range view.Members {
		d := m.Digest
		step := max(ceil[m.Meta.ID]/20, 1)
		hot := d != nil && d.GetMaxTemperatureCelsius() != 0 && d.GetThermalHeadroomCelsius() < p.ThermalLimitC+p.ThermalHysteresisC
		b = append(append(b, m.Meta.ID...), 0)
		b = binary.AppendVarint(b, int64(m.State))
		b = binary.AppendUvarint(b, math.Float64bits(math.Round(d.GetPowerWatts()/step)))
		b = append(append(b, d.GetAppClass()...), 0)
		b = append(b, boolByte(hot))
		b = binary.AppendUvarint(b, math.Float64bits(math.Round(d.GetPowerCapWatts())))
	}
	h := fnv.New64a()
	h.Write(b) //nolint:errcheck // a hash.Hash never fails
	return h.Sum64()
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}
