package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/krystalstack/gamesa/consensus"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// powerCapper enforces this node's share of the cluster's power budget
// (watts; 0 lifts it). The node's actuation implements it: its cap
// controller turns the cap into RAPL, GPU and frequency limits every
// second and applies them to the simulated machine, or to a real host
// through the actuators in enforce mode. On a host in observe mode the cap
// is computed and shown but not enforced (gamesa_power_cap_enforced 0).
type powerCapper interface {
	setPowerCap(watts float64)
}

// share is one node's part of a committed allocation, as one replica
// showed it.
type share struct {
	epoch, index uint64
	// capMW is the node's power cap, 0 for none.
	capMW int64
	// jobs are the jobs with a run on this node (current or draining).
	jobs []*gamesav1.Job
	// reg is the node's registration in the state; nil when missing.
	reg *gamesav1.NodeResources
	// confirmed is when the replica that gave this share last heard from
	// the leader (now on the leader): a node's jobs run only while it is
	// recent (the lease).
	confirmed time.Time
	from      string
}

// shareFrom reads node's share out of a replica's state.
func shareFrom(st *consensus.State, node string, confirmed time.Time, from string) *share {
	sh := &share{epoch: st.Epoch(), index: st.Index(), jobs: st.JobsOn(node), confirmed: confirmed, from: from}
	if a := st.Allocation(); a != nil {
		for _, c := range a.GetCaps() {
			if c.GetNodeId() == node {
				sh.capMW = c.GetCapMilliwatts()
			}
		}
	}
	sh.reg, _ = st.Node(node)
	return sh
}

// newer reports whether next may replace cur: a share from a replica
// behind the one already applied (a lagging server, an older epoch) is
// refused, so a node never goes back to an older decision.
func newer(cur, next *share) bool {
	return cur == nil || next.epoch >= cur.epoch && next.index >= cur.index
}

// follow reads the node's share every followPoll (a server without jobs
// when its replica changes): a server from its own replica, a client from
// any server's. It applies the power cap of each new epoch, publishes it
// in the node's digest, and leaves the jobs to the job runner.
func (a *allocator) follow(ctx context.Context) {
	applied := int64(-1)
	warned := false
	for {
		var changed <-chan struct{}
		poll := followPoll
		if a.c.raft != nil && a.jobs == nil {
			// A server without jobs needs no lease: its share changes
			// only with its replica, so it waits for that.
			changed, poll = a.c.raft.Changed(), idleWait
		}
		sh, err := a.fetchShare(ctx)
		switch {
		case err != nil:
			a.log.Debug("reading this node's share", "err", err)
		case !newer(a.share.Load(), sh):
			a.staleShares.Inc()
			cur := a.share.Load()
			a.log.Debug("refused a stale share of the allocation", "from", sh.from, "epoch", sh.epoch, "index", sh.index, "have_epoch", cur.epoch, "have_index", cur.index)
		default:
			a.share.Store(sh)
			a.registered.Store(sh.reg)
			a.epoch.Store(sh.epoch)
			if sh.capMW != applied {
				applied = sh.capMW
				w := float64(sh.capMW) / 1000
				a.capWatts.Store(math.Float64bits(w))
				if a.capper != nil {
					a.capper.setPowerCap(w)
				}
				inForce := 0.0
				if a.enforced && a.capper != nil {
					inForce = w
				} else if w > 0 && !warned {
					warned = true
					a.log.Warn("power cap not enforced: on the host the actuators enforce it only in enforce mode", "cap_watts", w)
				}
				a.c.capWatts.Store(math.Float64bits(inForce))
				a.log.Info("power cap", "watts", w, "epoch", sh.epoch, "enforced", inForce > 0 || w == 0)
			}
		}
		if !wait(ctx, poll, changed) {
			return
		}
	}
}

// fetchShare reads this node's share: a server from its own replica,
// confirmed by its leadership or its last contact with the leader; a
// client from a server's replica through GetAllocation (any alive server,
// a stale read: no log entry per poll). Why not gossip: the allocation is
// replicated state, and a digest that carried it would be a second, older
// copy of it; a server's replica is the committed state itself, and its
// replica_age tells the client how fresh it is, which the jobs' lease
// needs. A replica behind one already seen is refused (newer).
func (a *allocator) fetchShare(ctx context.Context) (*share, error) {
	c := a.c
	if c.raft != nil {
		var confirmed time.Time
		if c.leading.Load() {
			confirmed = time.Now()
		} else if lc := c.raft.LastContact(); !lc.IsZero() {
			confirmed = lc
		}
		st := c.raft.State()
		if cur := a.share.Load(); cur != nil && cur.from == c.id && cur.index == st.Index() && cur.epoch == st.Epoch() {
			// The replica has applied nothing since: the same share,
			// newly confirmed, without copying the allocation again.
			sh := *cur
			sh.confirmed = confirmed
			return &sh, nil
		}
		return shareFrom(st, c.id, confirmed, c.id), nil
	}
	_, addr := c.target()
	if addr == "" {
		return nil, fmt.Errorf("no server known")
	}
	cl, err := c.fwd.allocClient(addr)
	if err != nil {
		return nil, err
	}
	fctx, err := c.fwd.outgoing(ctx)
	if err != nil {
		return nil, err
	}
	fctx, cancel := context.WithTimeout(fctx, followPoll*4)
	defer cancel()
	asked := time.Now()
	resp, err := cl.GetAllocation(fctx, &gamesav1.GetAllocationRequest{Stale: true, NodeId: c.id})
	if err != nil {
		return nil, err
	}
	sh := &share{
		epoch: resp.GetAllocation().GetEpoch(), index: resp.GetAppliedIndex(), jobs: resp.GetJobs(),
		confirmed: asked.Add(-resp.GetReplicaAge().AsDuration()), from: resp.GetServedBy(),
	}
	for _, cp := range resp.GetAllocation().GetCaps() {
		if cp.GetNodeId() == c.id {
			sh.capMW = cp.GetCapMilliwatts()
		}
	}
	for _, n := range resp.GetNodes() {
		if n.GetNodeId() == c.id {
			sh.reg = n
		}
	}
	return sh, nil
}

// register writes this node's registration when the state lacks it or
// holds another (at start, after the leader removed it, when its labels
// changed), retrying every few seconds while no leader answers.
func (a *allocator) register(ctx context.Context) {
	for {
		want := a.registration(ctx)
		have := a.registered.Load()
		sh := a.share.Load()
		if want != nil && sh != nil && !sameRegistration(have, want) {
			wctx, cancel := context.WithTimeout(ctx, writeHold+time.Second)
			// The same write while the state stays where it is: a retry
			// applies once, a later re-registration applies.
			id := requestIDFor("reg", fmt.Sprint(want.String(), sh.index))
			_, err := a.writeAlloc(wctx, &gamesav1.Command{
				RequestId: id,
				Op:        &gamesav1.Command_RegisterNode{RegisterNode: &gamesav1.RegisterNode{Node: want}},
			}, func(ctx context.Context, cl gamesav1.AllocationServiceClient) error {
				_, err := cl.RegisterNode(ctx, &gamesav1.RegisterNodeRequest{Node: want, RequestId: id})
				return err
			})
			cancel()
			if err != nil {
				a.log.Debug("registering this node", "err", err)
			} else {
				a.registered.Store(want)
				a.log.Info("registered with the cluster", "cores", want.GetCores(), "jobs", want.GetJobsEnabled(),
					"power_floor_watts", want.GetPowerFloorWatts(), "power_ceiling_watts", want.GetPowerCeilingWatts())
			}
		}
		// Registered as wanted: look again now and then (the leader may
		// drop a node it missed, a GPU may come up); otherwise retry soon.
		poll := registerRetry
		if want != nil && sameRegistration(a.registered.Load(), want) {
			poll = registerIdle
		}
		if !wait(ctx, poll) {
			return
		}
	}
}

const (
	registerRetry = 2 * time.Second
	registerIdle  = 10 * time.Second
)

// sameRegistration compares registrations, the state's version aside.
func sameRegistration(have, want *gamesav1.NodeResources) bool {
	if have == nil {
		return false
	}
	h := proto.Clone(have).(*gamesav1.NodeResources)
	h.Version = 0
	return proto.Equal(h, want)
}

// registration is what this node offers the cluster, from its latest
// sample and its configuration; nil before the first sample.
func (a *allocator) registration(ctx context.Context) *gamesav1.NodeResources {
	s := a.n.latest.Load()
	if s == nil {
		return nil
	}
	cfg := a.n.cfg
	floor, ceil := a.n.powerRange(ctx, s)
	r := &gamesav1.NodeResources{
		NodeId:            cfg.NodeID,
		Cores:             uint32(len(s.GetCpu().GetCores())),
		MemoryBytes:       s.GetMemory().GetTotalBytes(),
		Gpus:              uint32(len(s.GetGpus())),
		Labels:            cfg.Jobs.labels(),
		JobsEnabled:       cfg.Jobs.Enabled,
		PowerFloorWatts:   floor,
		PowerCeilingWatts: ceil,
		PowerEnforced:     a.enforced && a.capper != nil,
	}
	for i, p := range powerPriorities {
		if p == cfg.Cluster.PowerPriority {
			r.PowerPriority = uint32(i)
		}
	}
	return r
}

// knobLister is a machine that lists its knobs: the simulated one (and the
// actuators' Set, which has the same method).
type knobLister interface {
	Inventory(ctx context.Context) ([]*gamesav1.Knob, error)
}

// powerRange is the node's floor and ceiling for the power split, over
// what its cap covers (CPU packages and GPUs): the configured ones, else a
// ceiling from the machine's largest limits (each RAPL package's PL1 and
// each GPU's power limit as the knobs allow, or as its sample shows them)
// and a floor of a fifth of it. 0, 0 when neither is known.
func (n *Node) powerRange(ctx context.Context, s *gamesav1.Sample) (floor, ceil float64) {
	floor, ceil = n.cfg.Cluster.PowerFloorWatts, n.cfg.Cluster.PowerCeilingWatts
	if ceil == 0 {
		ceil = machineCeiling(ctx, n.src, s)
	}
	if floor == 0 {
		floor = math.Round(ceil/5*1000) / 1000
	}
	return floor, max(ceil, floor)
}

// machineCeiling is the most the machine's packages and GPUs may be
// allowed to draw.
func machineCeiling(ctx context.Context, src any, s *gamesav1.Sample) float64 {
	var w float64
	if kl, ok := src.(knobLister); ok {
		if knobs, err := kl.Inventory(ctx); err == nil {
			for _, k := range knobs {
				var v float64
				if _, err := fmt.Sscan(k.GetMax(), &v); err != nil {
					continue
				}
				switch k.GetName() {
				case "rapl.pl1_uw":
					w += v / 1e6
				case "nvml.power_limit_mw":
					w += v / 1e3
				}
			}
		}
	}
	if w == 0 {
		for _, d := range s.GetPower().GetRapl() {
			if strings.HasPrefix(d.GetName(), "package") {
				w += d.GetLongTermLimitWatts()
			}
		}
		for _, g := range s.GetGpus() {
			w += max(g.GetMaxPowerLimitWatts(), g.GetPowerLimitWatts())
		}
	}
	return math.Round(w*1000) / 1000
}

// writeAlloc is cluster.write for the allocation service: the command is
// applied here when this server leads, else forward sends the original
// request on to a node nearer the leader. A rejection comes back as the
// gRPC code its kind calls for.
func (a *allocator) writeAlloc(ctx context.Context, cmd *gamesav1.Command, forward func(context.Context, gamesav1.AllocationServiceClient) error) (*gamesav1.CommandResult, error) {
	return writeAlloc(ctx, a.c, cmd, forward)
}

func writeAlloc(ctx context.Context, c *cluster, cmd *gamesav1.Command, forward func(context.Context, gamesav1.AllocationServiceClient) error) (*gamesav1.CommandResult, error) {
	res, err := c.write(ctx, cmd, func(fctx context.Context, _ gamesav1.ClusterServiceClient) error {
		// write chose where to go by the same rule; asking again picks
		// the leader (on a server) or a server (on a client).
		_, addr := c.target()
		if addr == "" {
			return status.Error(codes.Unavailable, "no leader known")
		}
		cl, err := c.fwd.allocClient(addr)
		if err != nil {
			return status.Error(codes.Internal, err.Error())
		}
		return forward(fctx, cl)
	})
	if res != nil && res.GetError() != "" {
		return res, status.Error(rejectionCode(res.GetRejection()), res.GetError())
	}
	return res, err
}

// rejectionCode is the gRPC code for a command the state machine refused.
func rejectionCode(r gamesav1.Rejection) codes.Code {
	switch r {
	case gamesav1.Rejection_REJECTION_INVALID, gamesav1.Rejection_REJECTION_UNKNOWN_LABEL:
		return codes.InvalidArgument
	case gamesav1.Rejection_REJECTION_NOT_FOUND:
		return codes.NotFound
	}
	return codes.FailedPrecondition
}

// requestIDFor is a request id that is the same for the same write, so a
// node's retries of one report or registration apply once.
func requestIDFor(kind, content string) string {
	sum := sha256.Sum256([]byte(content))
	return kind + "-" + hex.EncodeToString(sum[:16])
}
