package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/krystalstack/gamesa/consensus"
	"github.com/krystalstack/gamesa/gossip"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// cluster is the node's place in the cluster: the gossip mesh every node
// runs and, on servers, the Raft replica. The node's loop publishes a digest
// each tick; the cluster's own goroutines (started by run) bootstrap Raft,
// follow leadership, and, on the leader, reconcile Raft membership with
// gossip.
type cluster struct {
	cfg  ClusterConfig
	id   string
	log  *slog.Logger
	mesh *gossip.Mesh
	raft *consensus.Server // nil on clients
	fwd  *forwarder

	// leading is true once this server won an election and its Barrier
	// completed: only then does it serve consistent reads or decide.
	leading flag
	// publishEvery spaces digests one node tick apart, even while a fast
	// watcher makes the loop sample at 10 Hz; lastPublish is the loop's.
	publishEvery time.Duration
	lastPublish  time.Time

	// left is closed when a Leave request asks the node to stop.
	left     chan struct{}
	leftOnce sync.Once

	// capWatts is the power cap in force on this node (math.Float64bits;
	// 0 for none), which its digest carries; the allocator sets it.
	capWatts atomic.Uint64
}

// openCluster starts the gossip mesh and, on a server, the Raft replica.
// grpcAddr is the advertised gRPC address peers forward writes to.
func (n *Node) openCluster(dataDir, grpcAddr string, tlsc tlsConfigs) (c *cluster, err error) {
	cc := n.cfg.Cluster
	c = &cluster{
		cfg: cc, id: n.cfg.NodeID, log: n.log.With("component", "cluster"),
		publishEvery: n.cfg.Tick, left: make(chan struct{}),
	}
	opened := c // the named result is nil on the error paths
	defer func() {
		if err != nil {
			opened.close()
		}
	}()
	meta := gossip.Meta{
		ID: n.cfg.NodeID, GRPCAddr: grpcAddr, Version: n.version,
		Role: gossip.RoleClient,
	}
	if cc.Role == "server" {
		rc := consensus.DefaultConfig()
		rc.NodeID = n.cfg.NodeID
		rc.DataDir = filepath.Join(dataDir, "raft")
		rc.BindAddr = cc.RaftAddress
		rc.TLS = tlsc.peer
		rc.ClientTLS = tlsc.client
		if ip := cc.AdvertiseAddress; ip != "" {
			_, port, _ := net.SplitHostPort(cc.RaftAddress) // validated
			rc.AdvertiseAddr = net.JoinHostPort(ip, port)
		}
		rc.HeartbeatTimeout = cc.HeartbeatTimeout
		rc.ElectionTimeout = cc.ElectionTimeout
		rc.LeaderLeaseTimeout = cc.LeaderLeaseTimeout
		rc.Logger = c.log
		if c.raft, err = consensus.Open(rc); err != nil {
			return nil, fmt.Errorf("raft: %w", err)
		}
		meta.Role = gossip.RoleServer
		meta.RaftAddr = c.raft.Addr()
		meta.BootstrapExpect = cc.BootstrapExpect
	}
	gc := gossip.DefaultConfig()
	gc.NodeID = n.cfg.NodeID
	host, port, err := splitHostPort(cc.GossipAddress)
	if err != nil {
		return nil, fmt.Errorf("cluster.gossip_address: %w", err)
	}
	gc.BindAddr, gc.BindPort = host, port
	if ip := cc.AdvertiseAddress; ip != "" {
		gc.AdvertiseAddr, gc.AdvertisePort = ip, port
	}
	gc.Meta = meta
	gc.StaleAfter = cc.StaleAfter
	gc.Logger = c.log
	if cc.EncryptKeyFile != "" {
		b, err := os.ReadFile(cc.EncryptKeyFile)
		if err != nil {
			return nil, fmt.Errorf("cluster.encrypt_key_file: %w", err)
		}
		if gc.SecretKey, err = gossip.DecodeKey(strings.TrimSpace(string(b))); err != nil {
			return nil, fmt.Errorf("cluster.encrypt_key_file %s: %w", cc.EncryptKeyFile, err)
		}
	}
	if c.mesh, err = gossip.New(gc); err != nil {
		return nil, fmt.Errorf("gossip: %w", err)
	}
	if c.fwd, err = newForwarder(tlsc.client, n.cfg.Auth, c.log); err != nil {
		return nil, err
	}
	return c, nil
}

// splitHostPort splits a validated listen address.
func splitHostPort(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", port, err)
	}
	return host, int(p), nil
}

// run owns the cluster's goroutines until ctx is done.
func (c *cluster) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	if len(c.cfg.Join) > 0 {
		g.Go(func() error { c.retryJoin(gctx); return nil })
	}
	if c.raft != nil {
		g.Go(func() error { c.bootstrap(gctx); return nil })
		g.Go(func() error { c.lead(gctx); return nil })
	}
	return g.Wait()
}

// close leaves gossip gracefully (so peers see "left", not "failed") and
// stops Raft. It is safe on a partly opened cluster.
func (c *cluster) close() {
	if c.fwd != nil {
		c.fwd.close()
	}
	if c.mesh != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := c.mesh.Leave(ctx); err != nil {
			c.log.Warn("leaving gossip", "err", err)
		}
		cancel()
		if err := c.mesh.Shutdown(); err != nil {
			c.log.Warn("stopping gossip", "err", err)
		}
	}
	if c.raft != nil {
		if err := c.raft.Shutdown(); err != nil {
			c.log.Warn("stopping raft", "err", err)
		}
	}
}

// retryJoin joins the configured members, retrying with backoff until one
// answers: members may start in any order.
func (c *cluster) retryJoin(ctx context.Context) {
	wait := 500 * time.Millisecond
	for {
		jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := c.mesh.Join(jctx, c.cfg.Join)
		cancel()
		if err == nil && n > 0 {
			c.log.Info("joined cluster", "contacted", n, "of", len(c.cfg.Join))
			return
		}
		c.log.Warn("join failed; retrying", "addresses", c.cfg.Join, "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, 30*time.Second)
	}
}

// bootstrap is the Consul pattern: a server without Raft state waits until
// gossip shows bootstrap_expect servers that expect the same number, then
// every one of them bootstraps with that same set. It never bootstraps when
// a cluster already exists (some server reports applied Raft entries): the
// leader adds a late server instead.
func (c *cluster) bootstrap(ctx context.Context) {
	if c.raft.HasState() {
		return
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if c.raft.HasState() {
			return
		}
		peers, ok, why := bootstrapPeers(c.mesh.View(), c.cfg.BootstrapExpect)
		if !ok {
			c.log.Debug("waiting to bootstrap", "why", why)
			continue
		}
		err := c.raft.Bootstrap(peers)
		if err != nil && !errors.Is(err, consensus.ErrAlreadyBootstrapped) {
			c.log.Error("raft bootstrap", "err", err)
			continue
		}
		c.log.Info("raft bootstrapped", "servers", len(peers))
		return
	}
}

// bootstrapPeers decides from a gossip view whether the servers may
// bootstrap, and with which peers. It is pure so the rule is testable.
func bootstrapPeers(v gossip.ClusterView, expect int) ([]consensus.Peer, bool, string) {
	var peers []consensus.Peer
	for _, m := range v.Members {
		if m.Meta.Role != gossip.RoleServer || m.State != gossip.StateAlive {
			continue
		}
		if m.Digest.GetRaftAppliedIndex() > 0 {
			return nil, false, "server " + m.Meta.ID + " already has Raft state: a cluster exists"
		}
		if m.Meta.BootstrapExpect != expect {
			return nil, false, fmt.Sprintf("server %s expects %d servers, this one %d", m.Meta.ID, m.Meta.BootstrapExpect, expect)
		}
		peers = append(peers, consensus.Peer{ID: m.Meta.ID, Addr: m.Meta.RaftAddr})
	}
	switch {
	case len(peers) < expect:
		return nil, false, fmt.Sprintf("%d of %d servers seen", len(peers), expect)
	case len(peers) > expect:
		return nil, false, fmt.Sprintf("%d servers seen but %d expected: fix bootstrap_expect", len(peers), expect)
	}
	slices.SortFunc(peers, func(a, b consensus.Peer) int { return strings.Compare(a.ID, b.ID) })
	return peers, true, ""
}

// lead follows this server's leadership. On winning (the Barrier has run),
// it reconciles Raft membership with gossip every reconcile_interval and
// whenever gossip membership changes.
func (c *cluster) lead(ctx context.Context) {
	changes, stopLeader := c.raft.LeadershipChanges()
	defer stopLeader()
	events, stopEvents := c.mesh.Subscribe(64)
	defer stopEvents()
	var tick <-chan time.Time
	var ticker *time.Ticker
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			c.leading.Store(false)
			return
		case leader, ok := <-changes:
			if !ok {
				return
			}
			c.leading.Store(leader)
			if ticker != nil {
				ticker.Stop()
				ticker, tick = nil, nil
			}
			if leader {
				c.log.Info("leading the cluster", "term", c.raft.Stats().Term)
				ticker = time.NewTicker(c.cfg.ReconcileInterval)
				tick = ticker.C
				c.reconcile(ctx)
			}
		case <-events:
			if c.leading.Load() {
				c.reconcile(ctx)
			}
		case <-tick:
			c.reconcile(ctx)
		}
	}
}

// reconcile aligns the Raft configuration with gossip membership once.
func (c *cluster) reconcile(ctx context.Context) {
	cfg, err := c.raft.Configuration()
	if err != nil {
		c.log.Warn("reconcile: reading raft configuration", "err", err)
		return
	}
	changes := consensus.Reconcile(cfg, serverStatuses(c.mesh.SharedView()), c.id, c.raft.CommitIndex(), time.Now(), consensus.ReconcilePolicy{
		PromoteAfter:      c.cfg.PromoteAfter,
		CatchUpSlack:      64,
		RemoveFailedAfter: c.cfg.RemoveFailedAfter,
	})
	if len(changes) == 0 {
		return
	}
	for _, ch := range changes {
		c.log.Info("reconcile", "change", ch.Kind, "server", ch.ID, "addr", ch.Addr, "reason", ch.Reason)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.raft.ApplyChanges(rctx, changes); err != nil {
		c.log.Warn("reconcile", "err", err)
	}
}

// serverStatuses turns the gossip view's servers into the reconciler's input.
func serverStatuses(v gossip.ClusterView) []consensus.MemberStatus {
	var out []consensus.MemberStatus
	for _, m := range v.Members {
		if m.Meta.Role != gossip.RoleServer {
			continue
		}
		st := consensus.StatusAlive
		switch m.State {
		case gossip.StateLeft:
			st = consensus.StatusLeft
		case gossip.StateFailed:
			st = consensus.StatusFailed
		}
		out = append(out, consensus.MemberStatus{
			ID: m.Meta.ID, RaftAddr: m.Meta.RaftAddr, Status: st, Since: m.StateSince,
			AppliedIndex: m.Digest.GetRaftAppliedIndex(),
		})
	}
	return out
}

// publish gossips this tick's digest, at most one per node tick.
func (c *cluster) publish(s *gamesav1.Sample) {
	now := s.GetTime().AsTime()
	if now.Sub(c.lastPublish) < c.publishEvery*9/10 {
		return
	}
	c.lastPublish = now
	d := digestOf(s)
	d.PowerCapWatts = math.Float64frombits(c.capWatts.Load())
	if c.raft != nil {
		d.RaftAppliedIndex = c.raft.AppliedIndex()
	}
	if err := c.mesh.Publish(d); err != nil {
		c.log.Debug("publishing digest", "err", err)
	}
}

// defaultThrottleCelsius stands in for a sensor's limit when the hardware
// reports none: common desktop CPUs begin to throttle near it.
const defaultThrottleCelsius = 95

// digestOf reduces a sample to the compact digest peers see.
func digestOf(s *gamesav1.Sample) *gamesav1.Digest {
	sum := Summarize(s)
	d := &gamesav1.Digest{
		Time:                  s.GetTime(),
		CpuUtilizationPercent: sum.GetCpuUtilizationPercent(),
		MemoryUsedPercent:     sum.GetMemoryUsedPercent(),
		MaxTemperatureCelsius: sum.GetMaxTemperatureCelsius(),
		PowerWatts:            sum.GetPowerWatts(),
		AppClass:              s.GetInsights().GetWorkloadClass(),
	}
	// Headroom: the smallest distance of any sensor to its own limit (the
	// hardware's max, else critical, else a common throttling point).
	headroom := math.Inf(1)
	for _, t := range s.GetThermal() {
		limit := t.GetMaxCelsius()
		if limit <= 0 {
			limit = t.GetCriticalCelsius()
		}
		if limit <= 0 {
			limit = defaultThrottleCelsius
		}
		headroom = min(headroom, limit-t.GetTemperatureCelsius())
	}
	for _, g := range s.GetGpus() {
		d.GpuUtilizationPercent = max(d.GpuUtilizationPercent, g.GetUtilizationPercent())
		d.GpuTemperatureCelsius = max(d.GpuTemperatureCelsius, g.GetTemperatureCelsius())
		// Whole-machine draw, as the power cap covers it: the packages
		// and the GPUs (a gaming PC's largest part).
		d.PowerWatts += g.GetPowerWatts()
	}
	if !math.IsInf(headroom, 1) {
		// The forecast, when there is one, says where the hottest sensor
		// is going: headroom shrinks by the forecast rise.
		rise := 0.0
		for _, f := range s.GetInsights().GetThermalForecast() {
			rise = max(rise, f.GetCelsius()-d.MaxTemperatureCelsius)
		}
		d.ThermalHeadroomCelsius = headroom - rise
	}
	var versions []string
	for _, m := range s.GetInsights().GetModels() {
		versions = append(versions, fmt.Sprintf("%s/%d", m.GetKind(), m.GetVersion()))
	}
	d.ModelVersion = strings.Join(versions, ",")
	return d
}

// leave asks the node to stop after leaving the cluster gracefully.
func (c *cluster) leave() { c.leftOnce.Do(func() { close(c.left) }) }

// holdForLeader waits, with jitter, for a leader to become known: writes
// arriving during an election are held a few seconds rather than failed.
func holdForLeader(ctx context.Context, attempt int) error {
	d := time.Duration(50*(1<<min(attempt, 5))) * time.Millisecond
	d += time.Duration(rand.Int64N(int64(d/2) + 1))
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
