package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"

	gopsutilhost "github.com/shirou/gopsutil/v4/host"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/krystalstack/gamesa/node/auth"
	"github.com/krystalstack/gamesa/node/dashboard"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
	"github.com/krystalstack/gamesa/telemetry/history"
	telemetryhost "github.com/krystalstack/gamesa/telemetry/host"
	"github.com/krystalstack/gamesa/telemetry/sim"
)

// shutdownGrace bounds how long in-flight RPCs and HTTP requests may take to
// finish once the node is asked to stop.
const shutdownGrace = 5 * time.Second

// Node is one GAMESA agent: it owns the local loop, the history, and the
// gRPC and HTTP servers. Create it with New and run it with Run.
type Node struct {
	cfg     Config
	log     *slog.Logger
	version string

	hub    *hub
	ring   *history.Ring
	rec    *history.Recorder // nil when history.disk is off
	models *modelSet         // nil when ml.enabled is off; owned by the loop
	// recBroken stops writes after the recorder reports damage; owned by the loop.
	recBroken bool
	src       telemetry.Source
	info      *gamesav1.NodeInfo
	latest    atomic.Pointer[gamesav1.Sample]
	seq       uint64 // owned by the loop
	metrics   *metrics
	health    *health.Server
	cluster   *cluster
	act       *actuation
	apps      *apps              // registrations and the coordinator's process view
	dash      *dashboard.Handler // nil until the HTTP handler is built
	alloc     *allocator         // the node's part in the cluster's allocation
	fed       *federation        // the node's part in federated learning
	authz     *auth.Authorizer

	grpcAddr, httpAddr atomic.Pointer[net.TCPAddr]
	ready              chan struct{}
}

// New checks cfg and returns a node that has not started. version is the
// build's version string, shown by GetInfo.
func New(cfg Config, version string) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.NodeID == "" {
		h, err := os.Hostname()
		if err != nil || !validNodeID(h) {
			h = "gamesa-node"
		}
		cfg.NodeID = h
	}
	return &Node{
		cfg:     cfg,
		log:     log.With("node", cfg.NodeID),
		version: version,
		hub:     newHub(),
		ready:   make(chan struct{}),
	}, nil
}

// Ready is closed once the node serves gRPC and HTTP with a first sample.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// GRPCAddr is the address gRPC listens on; nil before Ready.
func (n *Node) GRPCAddr() *net.TCPAddr { return n.grpcAddr.Load() }

// HTTPAddr is the address HTTP listens on; nil before Ready.
func (n *Node) HTTPAddr() *net.TCPAddr { return n.httpAddr.Load() }

// Run starts the node and blocks until ctx is done or a server fails. It
// shuts down gracefully: in-flight calls get shutdownGrace to finish, the
// recorder is closed, a --dev data directory is removed.
func (n *Node) Run(ctx context.Context) (err error) {
	dataDir, cleanup, err := n.prepareDataDir()
	if err != nil {
		return err
	}
	defer cleanup()

	if n.src, err = n.newSource(); err != nil {
		return err
	}
	defer func() {
		if c, ok := n.src.(io.Closer); ok {
			if cerr := c.Close(); cerr != nil {
				n.log.Warn("closing telemetry source", "err", cerr)
			}
		}
	}()

	if n.ring, err = history.NewRing(n.cfg.History.RingSize, n.cfg.History.RingRetention); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if n.cfg.History.Disk {
		if n.rec, err = n.openRecorder(filepath.Join(dataDir, "history.db")); err != nil {
			return err
		}
		defer func() {
			if cerr := n.rec.Close(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("closing recorder: %w", cerr))
			}
		}()
	}

	if n.cfg.ML.Enabled {
		if n.models, err = newModelSet(filepath.Join(dataDir, "models"), modelKinds(), n.cfg.ML.Seed,
			n.cfg.ML.TrainStepsPerTick, n.cfg.ML.SaveInterval, time.Now(), n.log); err != nil {
			return err
		}
		n.models.trainEvery = n.cfg.ML.TrainInterval
		if n.cfg.modelPeriod > 0 {
			n.models.period = n.cfg.modelPeriod
		}
		defer func() {
			if serr := n.models.save(); serr != nil {
				n.log.Warn("saving models at shutdown", "err", serr)
			}
		}()
	}

	grpcLis, err := net.Listen("tcp", n.cfg.GRPC.Address)
	if err != nil {
		return fmt.Errorf("grpc.address: %w", err)
	}
	defer grpcLis.Close() // also closed by the gRPC server; a second close is harmless
	httpLis, err := net.Listen("tcp", n.cfg.HTTP.Address)
	if err != nil {
		return fmt.Errorf("http.address: %w", err)
	}
	defer httpLis.Close() // as above
	n.grpcAddr.Store(grpcLis.Addr().(*net.TCPAddr))
	n.httpAddr.Store(httpLis.Addr().(*net.TCPAddr))

	tlsc, err := n.tlsConfigs()
	if err != nil {
		return err
	}
	if n.authz, err = n.newAuthorizer(); err != nil {
		return err
	}
	// A Leave request stops the node the way a signal does.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	if n.cluster, err = n.openCluster(dataDir, advertised(grpcLis.Addr(), n.cfg.Cluster.AdvertiseAddress), tlsc); err != nil {
		return err
	}
	defer n.cluster.close()
	go func() {
		select {
		case <-n.cluster.left:
			stop()
		case <-ctx.Done():
		}
	}()

	_, simulated := n.src.(*sim.Machine)
	n.apps = newApps(n.cfg.Telemetry.ProcRoot, !simulated)
	if n.act, err = n.newActuation(ctx, dataDir); err != nil {
		return err
	}
	defer func() {
		// Shutdown reverts enforce mode's changes, even when ctx is done.
		rctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		n.act.close(rctx)
	}()

	n.metrics = newMetrics(n)
	n.alloc = n.newAllocator(dataDir)
	if n.fed, err = n.newFederation(dataDir); err != nil {
		return err
	}
	n.tick(ctx, time.Now(), n.cfg.Tick) // a first sample before anyone can ask
	n.info = n.buildInfo()

	gs := n.newGRPCServer(tlsc.server)
	hs := &http.Server{Handler: n.httpHandler(), ReadHeaderTimeout: 10 * time.Second}
	// Shutdown does not end hijacked connections: live dashboard pages
	// would keep their subscriptions past Run otherwise.
	hs.RegisterOnShutdown(func() {
		if n.dash != nil {
			n.dash.Close()
		}
	})

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return n.loop(gctx) })
	g.Go(func() error { return n.cluster.run(gctx) })
	g.Go(func() error { return n.alloc.run(gctx) })
	g.Go(func() error { return n.fed.run(gctx) })
	g.Go(func() error {
		// ErrServerStopped: shutdown began before Serve did (a very short
		// run); that is a clean stop, not a failure.
		if err := gs.Serve(grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("grpc: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := hs.Serve(httpLis); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		n.health.Shutdown()
		stopGRPC(gs, shutdownGrace)
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			n.log.Warn("http shutdown", "err", err)
		}
		return nil
	})
	raftAddr := ""
	if n.cluster.raft != nil {
		raftAddr = n.cluster.raft.Addr()
	}
	n.log.Info("node ready",
		"grpc", grpcLis.Addr().String(), "http", httpLis.Addr().String(),
		"gossip", n.cluster.mesh.LocalAddr(), "raft", raftAddr, "role", n.cfg.Cluster.Role,
		"source", n.cfg.Telemetry.Source, "mode", n.cfg.Mode, "data_dir", dataDir)
	close(n.ready)
	err = g.Wait()
	n.log.Info("node stopped", "err", err)
	return err
}

// stopGRPC lets in-flight RPCs finish, but ends streams that outlive grace:
// a WatchTelemetry stream never finishes on its own.
func stopGRPC(gs *grpc.Server, grace time.Duration) {
	done := make(chan struct{})
	go func() { gs.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		gs.Stop()
		<-done
	}
}

func (n *Node) prepareDataDir() (string, func(), error) {
	if n.cfg.DataDir == "" { // Validate allows this only with Dev
		dir, err := os.MkdirTemp("", "gamesa-dev-")
		if err != nil {
			return "", nil, fmt.Errorf("data_dir: %w", err)
		}
		return dir, func() {
			if err := os.RemoveAll(dir); err != nil {
				n.log.Warn("removing dev data dir", "dir", dir, "err", err)
			}
		}, nil
	}
	if err := os.MkdirAll(n.cfg.DataDir, 0o750); err != nil {
		return "", nil, fmt.Errorf("data_dir: %w", err)
	}
	lock, err := lockDataDir(n.cfg.DataDir)
	if err != nil {
		return "", nil, err
	}
	return n.cfg.DataDir, func() {
		if err := lock.Close(); err != nil { // releases the flock
			n.log.Warn("releasing data dir lock", "err", err)
		}
	}, nil
}

func (n *Node) newSource() (telemetry.Source, error) {
	switch n.cfg.Telemetry.Source {
	case "sim":
		sc := sim.DefaultConfig()
		sc.NodeID = n.cfg.NodeID
		sc.Seed = n.cfg.Sim.Seed
		sc.Scenario = n.cfg.Sim.Scenario
		m, err := sim.New(sc)
		if err != nil {
			return nil, fmt.Errorf("sim: %w", err)
		}
		return m, nil
	default:
		h, err := telemetryhost.New(telemetryhost.Config{
			Roots:        n.cfg.Telemetry.Roots(),
			TopProcesses: n.cfg.Telemetry.TopProcesses,
			GPU:          n.cfg.Telemetry.GPU,
			Logger:       n.log,
		})
		if err != nil {
			return nil, fmt.Errorf("telemetry: %w", err)
		}
		return h, nil
	}
}

// openRecorder opens the on-disk history. A corrupt file is moved aside (so
// nothing is lost and a person can look at it) and a fresh one started.
func (n *Node) openRecorder(path string) (*history.Recorder, error) {
	opts := history.DefaultRecorderOptions()
	opts.MaxBytes = int64(n.cfg.History.MaxBytes)
	opts.MaxAge = n.cfg.History.MaxAge
	opts.MinInterval = n.cfg.History.MinInterval
	rec, err := history.Open(path, opts)
	if errors.Is(err, history.ErrCorrupt) {
		aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("history: %w (and moving it aside failed: %v)", err, rerr)
		}
		n.log.Warn("history file was corrupt; moved aside, starting a new one", "err", err, "kept_as", aside)
		rec, err = history.Open(path, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return rec, nil
}

// period is the loop's current period: the configured tick, or faster while
// a watcher asks for more, never below MinInterval.
func (n *Node) period() time.Duration {
	p := n.cfg.Tick
	if f := n.hub.fastest(); f > 0 && f < p {
		p = f
	}
	return max(p, MinInterval)
}

// loop takes a sample every period until ctx is done. The schedule is fixed
// rate: a slow tick does not push every later one back.
func (n *Node) loop(ctx context.Context) error {
	period := n.period()
	last := time.Now()
	next := last.Add(period)
	timer := time.NewTimer(period)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.hub.changed:
			if p := n.period(); p != period {
				period = p
				next = last.Add(period)
				timer.Reset(time.Until(next))
			}
		case now := <-timer.C:
			n.tick(ctx, now, period)
			last = now
			next = next.Add(period)
			if next.Before(time.Now()) { // fell behind: skip, don't burst
				next = time.Now().Add(period)
			}
			timer.Reset(time.Until(next))
		}
	}
}

// tick takes, stores and publishes one sample.
func (n *Node) tick(ctx context.Context, now time.Time, period time.Duration) {
	start := time.Now()
	s, err := n.src.Sample(ctx, now)
	if err != nil {
		n.metrics.sampleErrors.Inc()
		n.log.Warn("sample failed", "err", err)
		return
	}
	n.seq++
	s.NodeId, s.Seq = n.cfg.NodeID, n.seq
	if s.Time == nil {
		s.Time = timestamppb.New(now)
	}
	if n.models != nil {
		n.fed.takeOver(n.models) // a new global or personalised thermal model
		n.models.observe(s)
		n.models.maybeSave(now)
	}
	if err := n.ring.Append(s); err != nil {
		n.log.Warn("keeping sample in memory", "err", err)
	}
	if n.rec != nil && !n.recBroken {
		if err := n.rec.Append(s); err != nil {
			n.metrics.recordErrors.Inc()
			if errors.Is(err, history.ErrCorrupt) {
				// Swapping the file under concurrent readers is not worth
				// its complexity for a rare event: stop writing, keep the
				// ring, and let the next start move the file aside.
				n.recBroken = true
				n.log.Error("history file damaged; recording to disk stopped until restart, when it is moved aside", "err", err)
			} else {
				n.log.Warn("recording sample", "err", err)
			}
		}
	}
	n.latest.Store(s)
	n.hub.publish(s, period)
	if n.cluster != nil {
		n.cluster.publish(s)
	}
	if n.act != nil {
		n.act.step(ctx, s, now)
	}
	n.metrics.observeTick(time.Since(start))
}

func (n *Node) buildInfo() *gamesav1.NodeInfo {
	s := n.latest.Load()
	info := &gamesav1.NodeInfo{
		NodeId:      n.cfg.NodeID,
		Version:     n.version,
		Os:          runtime.GOOS,
		Arch:        runtime.GOARCH,
		Source:      n.cfg.Telemetry.Source,
		Mode:        n.cfg.Mode,
		StartedAt:   timestamppb.Now(),
		Tick:        durationpb.New(n.cfg.Tick),
		GrpcAddress: n.GRPCAddr().String(),
		HttpAddress: n.HTTPAddr().String(),
		Collectors:  n.src.Collectors(),
		Role:        n.cfg.Cluster.Role,
	}
	info.Hostname, _ = os.Hostname() // empty on failure is an honest answer
	if k, err := gopsutilhost.KernelVersion(); err == nil {
		info.Kernel = k
	}
	if s != nil {
		info.CpuModel = s.GetCpu().GetModel()
		info.CpuCount = uint32(len(s.GetCpu().GetCores()))
		info.MemoryTotalBytes = s.GetMemory().GetTotalBytes()
	}
	return info
}

// newHealthServer is split out so the gRPC wiring reads top-down.
func newHealthServer() *health.Server {
	h := health.NewServer()
	h.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	for _, svc := range []string{
		gamesav1.NodeService_ServiceDesc.ServiceName, gamesav1.ClusterService_ServiceDesc.ServiceName,
		gamesav1.ActuatorService_ServiceDesc.ServiceName, gamesav1.AllocationService_ServiceDesc.ServiceName,
		gamesav1.AppService_ServiceDesc.ServiceName, gamesav1.PolicyService_ServiceDesc.ServiceName,
		gamesav1.FederatedService_ServiceDesc.ServiceName,
	} {
		h.SetServingStatus(svc, healthpb.HealthCheckResponse_SERVING)
	}
	return h
}
