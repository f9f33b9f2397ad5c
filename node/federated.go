package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/krystalstack/gamesa/optimizer/federated"
	"github.com/krystalstack/gamesa/optimizer/neural/thermal"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// federation is the node's part in federated learning (DESIGN.md, flow 4;
// the cluster's rules are in consensus/state_fed.go):
//
//   - On the leader (federated_leader.go) it opens rounds through Raft,
//     on a timer (federated.interval) or on request; collects the
//     participants' uploads in memory, checking each as it arrives;
//     merges them once every participant answered, or at the deadline
//     with at least federated.min_participants (else it aborts the
//     round); stores the new version's file in its store and commits the
//     version's metadata.
//   - A leader that finds an open round it is not collecting (it won an
//     election mid-round, or lost its collection) aborts the round: the
//     uploads went to the previous leader's memory, so resuming would
//     mean asking every node again, and the next round does that anyway.
//     A late upload for the aborted round, or for any round not open, is
//     refused with FAILED_PRECONDITION.
//   - On every node (federated_node.go) it watches the committed rounds;
//     when invited it trains from the round's global model on its own
//     recent data for at most federated.train_budget and uploads to the
//     leader that opened the round. When a new version is committed it
//     fetches the file (from its holder, the leader, or any node that has
//     it), checks its content hash, fine-tunes a personalised copy, and
//     hands the better of the two on its own recent data to the local
//     loop's thermal model.
//
// run owns the goroutines; they end with its context. The gRPC service
// (grpc_federated.go) reads the store and the collector.
type federation struct {
	n     *Node
	c     *cluster
	cfg   FederatedConfig
	log   *slog.Logger
	store *modelStore
	// thermal is the predictor's config on every node (see
	// federated_train.go); bounds checks the leader's uploads.
	thermal thermal.Config
	bounds  federated.Config

	// The leader's collection: the round it collects, nil when none.
	mu  sync.Mutex
	col *collector
	// opening serialises opening rounds (the timer and StartRound).
	opening sync.Mutex
	// openAfter holds the timer back after a round could not open; only
	// the leader's loop uses it.
	openAfter time.Time

	// pending is a thermal model file for the local loop to take over
	// (takeOver); nil when none waits.
	pending atomic.Pointer[handover]

	// Figures for /metrics.
	version, round      atomic.Uint64 // the global version adopted; the last round answered
	personal            atomic.Bool   // the adopted model is the personalised copy
	replaced            atomic.Uint64 // times the local loop's thermal model was replaced
	uploads, leaderEnds *prometheus.CounterVec
}

// handover is a model for the local loop.
type handover struct {
	data     []byte
	version  uint64
	personal bool
}

// maxUpdateBytes bounds one upload: a thermal model file is about 30 KB,
// so this leaves room for bigger models and refuses garbage early.
const maxUpdateBytes = 4 << 20

func (n *Node) newFederation(dataDir string) (*federation, error) {
	store, err := newModelStore(filepath.Join(dataDir, "federated"))
	if err != nil {
		return nil, err
	}
	bounds := federated.DefaultConfig()
	bounds.MaxBytes = maxUpdateBytes
	f := &federation{
		n: n, c: n.cluster, cfg: n.cfg.Federated, log: n.log.With("component", "federated"),
		store: store, thermal: thermal.DefaultConfig(), bounds: bounds,
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gamesa_federated_uploads_total",
			Help: "Updates this node received as leader, by outcome (accepted, or the reason refused).",
		}, []string{"outcome"}),
		leaderEnds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gamesa_federated_rounds_total",
			Help: "Rounds this node opened, closed or aborted as leader.",
		}, []string{"event"}),
	}
	return f, nil
}

// run starts the leader's round loop (on a server: with federated.enabled
// off it opens no round, but still ends one a previous leader left open)
// and, when federated.enabled, the participant loop; it returns when ctx
// is done.
func (f *federation) run(ctx context.Context) error {
	if f.n.metrics != nil {
		f.registerMetrics(f.n.metrics.reg)
	}
	g, gctx := errgroup.WithContext(ctx)
	if f.c.raft != nil {
		g.Go(func() error { f.lead(gctx); return nil })
	}
	if f.cfg.Enabled {
		g.Go(func() error { f.participate(gctx); return nil })
	}
	return g.Wait()
}

// takeOver gives the local loop's thermal model the adopted model, if one
// waits. It runs on the loop goroutine, which owns ms.
func (f *federation) takeOver(ms *modelSet) {
	if f == nil || ms == nil {
		return
	}
	h := f.pending.Swap(nil)
	if h == nil {
		return
	}
	for _, e := range ms.entries {
		if e.kind.name != thermal.Kind {
			continue
		}
		m, err := e.kind.load(h.data)
		if err != nil {
			f.log.Warn("adopted model does not load into the local loop; keeping the current one", "version", h.version, "err", err)
			return
		}
		e.m, e.failures, e.loss = m, 0, 0
		f.replaced.Add(1)
		f.log.Info("local thermal model replaced", "version", h.version, "personalised", h.personal)
	}
}

// Gauges of the federated state, read at scrape time.
var (
	descFedRound        = desc("federated_round", "The latest federated round the replicated state holds (0: none).")
	descFedRoundState   = desc("federated_round_state", "1 for the state the latest round is in (open, closed, aborted).", "state")
	descFedParticipants = desc("federated_round_participants", "Nodes invited to the latest round.")
	descFedContributors = desc("federated_round_contributors", "Nodes whose updates went into the latest closed round.")
	descFedModelVersion = desc("federated_model_version", "The latest committed global model version, by kind.", "kind")
	descFedAdopted      = desc("federated_adopted_version", "The global version this node adopted, by kind.", "kind")
	descFedPersonal     = desc("federated_personalised", "1 when this node's model is its personalised copy of the global one.", "kind")
	descFedAnswered     = desc("federated_last_round_answered", "The last round this node trained and uploaded for.")
	descFedReplaced     = prometheus.NewDesc("gamesa_federated_local_model_replacements_total", "Times the local loop's thermal model was replaced by an adopted one.", nil, nil)
)

// fedCollector exports the federated state: the cluster's from this
// node's replica (servers), and this node's own figures.
type fedCollector struct{ f *federation }

func (c *fedCollector) Describe(chan<- *prometheus.Desc) {}

func (c *fedCollector) Collect(ch chan<- prometheus.Metric) {
	e := emitter{ch: ch}
	f := c.f
	if f.c != nil && f.c.raft != nil {
		st := f.c.raft.State()
		var latest *gamesav1.FederatedRound
		if rs := st.Rounds(1); len(rs) == 1 {
			latest = rs[0]
		}
		e.g(descFedRound, float64(latest.GetRound()))
		for _, s := range []gamesav1.RoundState{gamesav1.RoundState_ROUND_STATE_OPEN, gamesav1.RoundState_ROUND_STATE_CLOSED, gamesav1.RoundState_ROUND_STATE_ABORTED} {
			v := 0.0
			if latest != nil && latest.GetState() == s {
				v = 1
			}
			e.g(descFedRoundState, v, roundStateWord(s))
		}
		e.g(descFedParticipants, float64(len(latest.GetParticipants())))
		e.g(descFedContributors, float64(len(latest.GetContributors())))
		for _, m := range st.LatestModels() {
			e.g(descFedModelVersion, float64(m.GetVersion()), m.GetKind())
		}
	}
	e.g(descFedAdopted, float64(f.version.Load()), thermal.Kind)
	personal := 0.0
	if f.personal.Load() {
		personal = 1
	}
	e.g(descFedPersonal, personal, thermal.Kind)
	e.g(descFedAnswered, float64(f.round.Load()))
	ch <- prometheus.MustNewConstMetric(descFedReplaced, prometheus.CounterValue, float64(f.replaced.Load()))
}

func (f *federation) registerMetrics(reg *prometheus.Registry) {
	for _, c := range []prometheus.Collector{f.uploads, f.leaderEnds, &fedCollector{f: f}} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				f.log.Warn("registering metric", "err", err)
			}
		}
	}
}

// roundStateWord is a round state in lower case: open, closed, aborted.
func roundStateWord(s gamesav1.RoundState) string {
	switch s {
	case gamesav1.RoundState_ROUND_STATE_OPEN:
		return "open"
	case gamesav1.RoundState_ROUND_STATE_CLOSED:
		return "closed"
	case gamesav1.RoundState_ROUND_STATE_ABORTED:
		return "aborted"
	}
	return fmt.Sprintf("state(%d)", int32(s))
}
