package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/krystalstack/gamesa/optimizer/neural/thermal"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry/sim"
)

// testNode runs a real node on the simulated machine with OS-chosen loopback
// ports and returns a connected gRPC client. The node stops at test end.
type testNode struct {
	*Node
	conn   *grpc.ClientConn
	api    gamesav1.NodeServiceClient
	dir    string
	cancel context.CancelFunc
	done   chan error
}

func startNode(t *testing.T, mutate func(*Config)) *testNode {
	t.Helper()
	cfg := testConfig(t)
	if mutate != nil {
		mutate(&cfg)
	}
	n, err := New(cfg, "test")
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNode{Node: n, dir: cfg.DataDir, cancel: cancel, done: make(chan error, 1)}
	go func() { tn.done <- n.Run(ctx) }()
	select {
	case <-n.Ready():
	case err := <-tn.done:
		t.Fatalf("Run ended before ready: %v", err)
	case <-time.After(30 * time.Second): // generous: -race on a loaded 2-core machine
		t.Fatal("node not ready within 30s")
	}
	tn.conn, err = grpc.NewClient(n.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	tn.api = gamesav1.NewNodeServiceClient(tn.conn)
	t.Cleanup(func() { tn.stop(t) })
	return tn
}

// testConfig is a --dev node on the simulated machine with OS-chosen
// loopback ports, a fast tick and its data in a test directory.
func testConfig(t *testing.T) Config {
	cfg := DevConfig()
	cfg.NodeID = "test-node"
	cfg.DataDir = t.TempDir()
	cfg.GRPC.Address = "127.0.0.1:0"
	cfg.HTTP.Address = "127.0.0.1:0"
	cfg.Cluster.GossipAddress = "127.0.0.1:0"
	cfg.Cluster.RaftAddress = "127.0.0.1:0"
	cfg.Telemetry.Source = "sim"
	cfg.Tick = 100 * time.Millisecond
	cfg.History.MinInterval = 0
	cfg.ML.Enabled = false // TestModels* turn it on; the rest need not pay the bootstrap
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return cfg
}

// stop cancels the node and checks that it shut down cleanly in time.
func (tn *testNode) stop(t *testing.T) {
	t.Helper()
	if tn.cancel == nil {
		return
	}
	tn.conn.Close()
	tn.cancel()
	tn.cancel = nil
	select {
	case err := <-tn.done:
		if err != nil {
			t.Errorf("Run returned %v; want nil after cancel", err)
		}
	case <-time.After(2 * shutdownGrace):
		t.Error("node did not stop within twice the shutdown grace")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestInfoAndTelemetry(t *testing.T) {
	tn := startNode(t, nil)
	ctx := ctxT(t)
	info, err := tn.api.GetInfo(ctx, &gamesav1.GetInfoRequest{})
	if err != nil {
		t.Fatalf("GetInfo: %v", err)
	}
	i := info.GetInfo()
	if i.GetNodeId() != "test-node" || i.GetSource() != "sim" || i.GetMode() != "observe" || i.GetVersion() != "test" {
		t.Errorf("GetInfo = %v; want node test-node, source sim, mode observe, version test", i)
	}
	if i.GetCpuCount() == 0 || i.GetMemoryTotalBytes() == 0 {
		t.Errorf("GetInfo cpu_count=%d memory_total=%d; want both > 0", i.GetCpuCount(), i.GetMemoryTotalBytes())
	}
	if i.GetGrpcAddress() != tn.GRPCAddr().String() {
		t.Errorf("GetInfo grpc_address = %q; want %q", i.GetGrpcAddress(), tn.GRPCAddr())
	}
	tel, err := tn.api.GetTelemetry(ctx, &gamesav1.GetTelemetryRequest{})
	if err != nil {
		t.Fatalf("GetTelemetry: %v", err)
	}
	s := tel.GetSample()
	if s.GetNodeId() != "test-node" || s.GetSeq() == 0 || len(s.GetCpu().GetCores()) != int(i.GetCpuCount()) {
		t.Errorf("GetTelemetry = node %q seq %d cores %d; want test-node, seq>0, %d cores",
			s.GetNodeId(), s.GetSeq(), len(s.GetCpu().GetCores()), i.GetCpuCount())
	}
	// The loop keeps sampling: a later call sees a later sample.
	deadline := time.Now().Add(5 * time.Second)
	for {
		later, err := tn.api.GetTelemetry(ctx, &gamesav1.GetTelemetryRequest{})
		if err != nil {
			t.Fatalf("GetTelemetry: %v", err)
		}
		if later.GetSample().GetSeq() > s.GetSeq() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("seq stayed at %d for 5s; the loop is not ticking", s.GetSeq())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cs, err := gamesav1.NewClusterServiceClient(tn.conn).GetClusterState(ctx, &gamesav1.GetClusterStateRequest{})
	if err != nil {
		t.Fatalf("GetClusterState: %v", err)
	}
	if len(cs.GetMembers()) != 1 || cs.GetLeaderId() != "test-node" || cs.GetSelfId() != "test-node" ||
		cs.GetMembers()[0].GetState() != gamesav1.MemberState_MEMBER_STATE_ALIVE {
		t.Errorf("GetClusterState = %v; want this node alone, alive and leading", cs)
	}
}

// TestWatchManyClients is the fan-out figure as a behaviour check:
// 100 clients at 10 Hz each see every sample, in order, none dropped.
func TestWatchManyClients(t *testing.T) {
	tn := startNode(t, func(c *Config) { c.Tick = time.Second })
	const clients, want = 100, 20 // 2 s of 10 Hz
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithCancel(ctx)
			defer cancel() // ends the stream: the server must notice and unsubscribe
			st, err := tn.api.WatchTelemetry(ctx, &gamesav1.WatchTelemetryRequest{Interval: durationpb.New(100 * time.Millisecond)})
			if err != nil {
				errs <- err
				return
			}
			var prev uint64
			for i := 0; i < want; i++ {
				m, err := st.Recv()
				if err != nil {
					errs <- fmt.Errorf("client %d after %d samples: %w", c, i, err)
					return
				}
				seq := m.GetSample().GetSeq()
				// The first sample may be any; after it, every sample of the
				// 10 Hz loop must arrive: consecutive sequence numbers.
				if prev != 0 && seq != prev+1 {
					errs <- fmt.Errorf("client %d: seq %d after %d; a sample was dropped", c, seq, prev)
					return
				}
				prev = seq
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// With the watchers gone the loop returns to its 1 s tick.
	deadline := time.Now().Add(5 * time.Second)
	for tn.period() != time.Second {
		if time.Now().After(deadline) {
			t.Fatalf("period = %v after all watchers left; want 1s", tn.period())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWatchSlowClientIsCutOff: a client that stops reading is ended with
// RESOURCE_EXHAUSTED once its bounded buffer fills; it never holds more.
func TestWatchSlowClientIsCutOff(t *testing.T) {
	tn := startNode(t, nil)
	ctx := ctxT(t)
	st, err := tn.api.WatchTelemetry(ctx, &gamesav1.WatchTelemetryRequest{Interval: durationpb.New(100 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	// Read one sample so the stream is established, then stall until the
	// hub has cut us off, then drain: what is in flight, then the status.
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, cut := tn.hub.stats(); cut > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a stalled watcher was not cut off within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var got int
	for {
		_, err := st.Recv()
		if err == nil {
			got++
			if got > 10000 {
				t.Fatal("stream kept delivering after cut-off")
			}
			continue
		}
		if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "too slow") {
			t.Fatalf("Recv after stall = %v; want ResourceExhausted 'client too slow'", err)
		}
		break
	}
}

func TestRequestValidation(t *testing.T) {
	tn := startNode(t, nil)
	ctx := ctxT(t)
	recvErr := func(req *gamesav1.WatchTelemetryRequest) error {
		st, err := tn.api.WatchTelemetry(ctx, req)
		if err != nil {
			return err
		}
		_, err = st.Recv()
		return err
	}
	now := time.Now()
	for _, tc := range []struct {
		name  string
		call  func() error
		field string
	}{
		{"interval too short", func() error {
			return recvErr(&gamesav1.WatchTelemetryRequest{Interval: durationpb.New(50 * time.Millisecond)})
		}, "interval"},
		{"interval negative", func() error {
			return recvErr(&gamesav1.WatchTelemetryRequest{Interval: durationpb.New(-time.Second)})
		}, "interval"},
		{"interval malformed", func() error {
			return recvErr(&gamesav1.WatchTelemetryRequest{Interval: &durationpb.Duration{Seconds: 1, Nanos: -5}})
		}, "interval"},
		{"history end before start", func() error {
			_, err := tn.api.ListHistory(ctx, &gamesav1.ListHistoryRequest{Start: timestamppb.New(now), End: timestamppb.New(now.Add(-time.Hour))})
			return err
		}, "end"},
		{"history absurd range", func() error {
			_, err := tn.api.ListHistory(ctx, &gamesav1.ListHistoryRequest{Start: timestamppb.New(now.AddDate(-30, 0, 0)), End: timestamppb.New(now)})
			return err
		}, "start"},
		{"history limit", func() error {
			_, err := tn.api.ListHistory(ctx, &gamesav1.ListHistoryRequest{Limit: 1_000_000})
			return err
		}, "limit"},
		{"history bad timestamp", func() error {
			_, err := tn.api.ListHistory(ctx, &gamesav1.ListHistoryRequest{Start: &timestamppb.Timestamp{Seconds: 1 << 62}})
			return err
		}, "start"},
		{"unknown field, unary", func() error {
			req := &gamesav1.GetInfoRequest{}
			req.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 42, protowire.VarintType), 1))
			_, err := tn.api.GetInfo(ctx, req)
			return err
		}, "gamesa.v1.GetInfoRequest (field number 42)"},
		{"unknown field, stream", func() error {
			req := &gamesav1.WatchTelemetryRequest{Interval: durationpb.New(time.Second)}
			req.Interval.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 1))
			return recvErr(req)
		}, "google.protobuf.Duration (field number 9)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.field) {
				t.Fatalf("got %v; want InvalidArgument naming %q", err, tc.field)
			}
		})
	}
}

func TestListHistory(t *testing.T) {
	tn := startNode(t, nil)
	ctx := ctxT(t)
	// Wait for a handful of samples.
	deadline := time.Now().Add(10 * time.Second)
	for tn.latest.Load().GetSeq() < 6 {
		if time.Now().After(deadline) {
			t.Fatal("fewer than 6 samples in 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	all, err := tn.api.ListHistory(ctx, &gamesav1.ListHistoryRequest{})
	if err != nil {
		t.Fatalf("ListHistory: %v", err)
	}
	ss := all.GetSamples()
	if len(ss) < 6 {
		t.Fatalf("ListHistory returned %d samples; want >= 6", len(ss))
	}
	for i := 1; i < len(ss); i++ {
		if ss[i].GetSeq() != ss[i-1].GetSeq()+1 || ss[i].GetTime().AsTime().Before(ss[i-1].GetTime().AsTime()) {
			t.Fatalf("samples %d,%d out of order: seq %d then %d", i-1, i, ss[i-1].GetSeq(), ss[i].GetSeq())
		}
	}
	// A window and a limit.
	mid := ss[2].GetTime()
	part, err := tn.api.ListHistory(ctx, &gamesav1.ListHistoryRequest{Start: mid, End: ss[4].GetTime(), Limit: 2})
	if err != nil {
		t.Fatalf("ListHistory(window): %v", err)
	}
	if got := part.GetSamples(); len(got) != 2 || got[0].GetSeq() != ss[2].GetSeq() || !part.GetTruncated() {
		t.Fatalf("ListHistory(window, limit 2) = %d samples from seq %d, truncated %v; want 2 from %d, truncated",
			len(got), got[0].GetSeq(), part.GetTruncated(), ss[2].GetSeq())
	}
}

func TestHTTPEndpoints(t *testing.T) {
	tn := startNode(t, nil)
	base := "http://" + tn.HTTPAddr().String()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s body: %v", path, err)
		}
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Errorf("/healthz = %d %s; want 200 ok", code, body)
	}
	code, body := get("/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		`gamesa_memory_bytes{kind="total"}`, `gamesa_cpu_core_utilization_ratio{core="0"}`,
		`gamesa_temperature_celsius{`, `gamesa_collector_up{collector="sim",state="ok"} 1`,
		"gamesa_samples_total", "go_goroutines", "process_resident_memory_bytes",
		`gamesa_cluster_members{state="alive"} 1`, `gamesa_gossip_digests_total{outcome="published"}`,
		"gamesa_raft_term", "gamesa_raft_applied_index",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, body := get("/gamesa"); code != 200 || !strings.Contains(body, "test-node") {
		t.Errorf("/gamesa = %d; want 200 naming the node", code)
	}
	if code, body := get("/gamesa/api/sample"); code != 200 || !strings.Contains(body, `"nodeId":"test-node"`) {
		t.Errorf("/gamesa/api/sample = %d %.200s", code, body)
	}
	if code, _ := get("/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ without http.pprof = %d; want 404", code)
	}
}

func TestPprofOptIn(t *testing.T) {
	tn := startNode(t, func(c *Config) { c.HTTP.Pprof = true })
	resp, err := http.Get("http://" + tn.HTTPAddr().String() + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body) // a short body fails the check below
	if resp.StatusCode != 200 || !strings.Contains(string(b), "goroutine profile") {
		t.Fatalf("/debug/pprof/goroutine with http.pprof = %d %.100s; want the profile", resp.StatusCode, b)
	}
}

func TestHealthAndReflection(t *testing.T) {
	tn := startNode(t, nil)
	ctx := ctxT(t)
	hr, err := healthpb.NewHealthClient(tn.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "gamesa.v1.NodeService"})
	if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health Check = %v, %v; want SERVING", hr, err)
	}
	rs, err := reflectionpb.NewServerReflectionClient(tn.conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	got := strings.Join(names, ",")
	for _, want := range []string{"gamesa.v1.NodeService", "gamesa.v1.ClusterService", "grpc.health.v1.Health"} {
		if !strings.Contains(got, want) {
			t.Errorf("reflection lists %s; want %s among them", got, want)
		}
	}
}

// TestHistorySurvivesRestart: the on-disk recorder keeps samples across a
// restart of the node on the same data directory.
func TestHistorySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	first := startNode(t, func(c *Config) { c.DataDir = dir })
	deadline := time.Now().Add(10 * time.Second)
	for first.latest.Load().GetSeq() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("fewer than 3 samples in 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	firstStart := first.info.GetStartedAt()
	first.stop(t)

	second := startNode(t, func(c *Config) { c.DataDir = dir })
	resp, err := second.api.ListHistory(ctxT(t), &gamesav1.ListHistoryRequest{
		Start: timestamppb.New(firstStart.AsTime().Add(-time.Minute)),
		End:   second.info.GetStartedAt(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.GetSamples()); n < 3 {
		t.Fatalf("after restart, ListHistory over the first run = %d samples; want >= 3", n)
	}
}

// TestCorruptHistoryIsMovedAside: a corrupt recorder file does not stop the
// node, and is kept for a person to look at.
func TestCorruptHistoryIsMovedAside(t *testing.T) {
	dir := t.TempDir()
	bad := []byte(strings.Repeat("this is not a bbolt file ", 400))
	if err := os.WriteFile(filepath.Join(dir, "history.db"), bad, 0o600); err != nil {
		t.Fatal(err)
	}
	startNode(t, func(c *Config) { c.DataDir = dir })
	matches, err := filepath.Glob(filepath.Join(dir, "history.db.corrupt-*"))
	if err != nil || len(matches) != 1 {
		t.Fatalf("corrupt files kept: %v (%v); want exactly one", matches, err)
	}
	kept, err := os.ReadFile(matches[0])
	if err != nil || string(kept) != string(bad) {
		t.Fatalf("kept file differs from the original (err %v)", err)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	cfg := DevConfig()
	cfg.Tick = 0
	if _, err := New(cfg, "x"); err == nil || !strings.Contains(err.Error(), "tick") {
		t.Fatalf("New(tick 0) = %v; want an error naming tick", err)
	}
}

func TestRunFailsOnBusyPort(t *testing.T) {
	tn := startNode(t, nil)
	cfg := DevConfig()
	cfg.Telemetry.Source = "sim"
	cfg.GRPC.Address = tn.GRPCAddr().String()
	cfg.HTTP.Address = "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := New(cfg, "x")
	if err != nil {
		t.Fatal(err)
	}
	err = n.Run(ctxT(t))
	if err == nil || !strings.Contains(err.Error(), "grpc.address") {
		t.Fatalf("Run on a busy port = %v; want an error naming grpc.address", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Fatal("Run reported cancellation instead of the port conflict")
	}
}

// TestModelsClassifyAndPersist: with ml on, a node on the simulated
// machine's render scenario says "render" once a window is full, shows its
// models in every sample, and saves them at shutdown for the next start.
func TestModelsClassifyAndPersist(t *testing.T) {
	dir := t.TempDir()
	tn := startNode(t, func(c *Config) {
		c.DataDir = dir
		c.ML.Enabled = true
		c.modelPeriod = c.Tick // fill the 60-sample window in 6 s
		c.Sim.Scenario = "render"
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		in := tn.latest.Load().GetInsights()
		if in.GetWorkloadClass() != "" {
			if in.GetWorkloadClass() != "render" {
				t.Errorf("workload class = %q (%.2f); want render", in.GetWorkloadClass(), in.GetWorkloadConfidence())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no workload class after 30s; insights %v", in)
		}
		time.Sleep(50 * time.Millisecond)
	}
	kinds := map[string]bool{}
	for _, m := range tn.latest.Load().GetInsights().GetModels() {
		kinds[m.GetKind()] = true
	}
	for _, k := range modelKinds() {
		if !kinds[k.name] {
			t.Errorf("insights lack model %s; have %v", k.name, kinds)
		}
	}
	learned := map[string]bool{}
	for _, m := range tn.latest.Load().GetInsights().GetModels() {
		learned[m.GetKind()] = m.GetTrainingSamples() > 0
	}
	if !learned["workload"] {
		t.Error("the bootstrapped classifier reports no training samples")
	}
	tn.stop(t)
	// A model is saved when it has learned something; the thermal model,
	// with seconds of history, has not and is not written.
	for _, k := range modelKinds() {
		_, err := os.Stat(filepath.Join(dir, "models", k.name+".model"))
		if saved := err == nil; saved != learned[k.name] {
			t.Errorf("model %s saved at shutdown: %v (%v); want %v", k.name, saved, err, learned[k.name])
		}
	}
	// A damaged model file is kept aside and the node starts anyway.
	bad := filepath.Join(dir, "models", "workload.model")
	if err := os.WriteFile(bad, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	startNode(t, func(c *Config) { c.DataDir = dir; c.ML.Enabled = true })
	if m, _ := filepath.Glob(bad + ".bad-*"); len(m) != 1 {
		t.Errorf("damaged model kept as %v; want one .bad- file", m)
	}
}

// TestThermalForecastFromSavedModel: a node that finds a trained thermal
// model in its data directory forecasts from its first seconds, and the
// forecasts are plausible for the machine it watches.
func TestThermalForecastFromSavedModel(t *testing.T) {
	dir := t.TempDir()
	cfg := sim.DefaultConfig()
	cfg.Scenario = "render"
	samples, err := sim.Record(context.Background(), cfg, time.Unix(1_700_000_000, 0), time.Second, 900)
	if err != nil {
		t.Fatal(err)
	}
	series := thermal.Series{Name: "sim"}
	for _, s := range samples {
		p, err := thermal.PointFromSample(s)
		if err != nil {
			t.Fatal(err)
		}
		series.Points = append(series.Points, p)
	}
	// The hottest sensor's range over the recording: a forecast outside
	// it (with a margin) is not one this machine can produce.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range samples {
		c := Summarize(s).GetMaxTemperatureCelsius()
		lo, hi = min(lo, c), max(hi, c)
	}
	tc := thermal.DefaultConfig()
	tc.TrainSteps = 50 // plausibility, not accuracy: thermal's own tests measure that
	m, _, err := thermal.Train([]thermal.Series{series}, tc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "models"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "models", thermal.Kind+".model"), b, 0o600); err != nil {
		t.Fatal(err)
	}

	tn := startNode(t, func(c *Config) {
		c.DataDir, c.ML.Enabled, c.Sim.Scenario = dir, true, "render"
		c.modelPeriod = c.Tick // forecasts after 16 observations: 1.6 s
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := tn.latest.Load()
		if f := s.GetInsights().GetThermalForecast(); len(f) == len(thermal.Horizons) {
			now := Summarize(s).GetMaxTemperatureCelsius()
			const margin = 5
			for _, fc := range f {
				// A render load from a cold start heats fast, so the step
				// from now may be large; the level must stay in the range
				// the machine was recorded in.
				if c := fc.GetCelsius(); c < lo-margin || c > hi+margin {
					t.Errorf("forecast %.1f°C in %ds from %.1f°C now: outside the recorded %.1f..%.1f°C", c, fc.GetHorizonSeconds(), now, lo, hi)
				}
			}
			t.Logf("now %.1f°C, recorded %.1f..%.1f°C, forecast %v", now, lo, hi, f)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no thermal forecast within 20s; insights %v", s.GetInsights())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRestartWithTrainedAnomalyModel: a detector saved after it fitted its
// normaliser loads with an empty replay buffer; the node must keep running
// (it once panicked in the first Train) and score with it.
func TestRestartWithTrainedAnomalyModel(t *testing.T) {
	dir := t.TempDir()
	m, err := TrainAnomaly(context.Background(), 7)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "models"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "models", "anomaly.model"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	tn := startNode(t, func(c *Config) { c.DataDir, c.ML.Enabled, c.modelPeriod = dir, true, c.Tick })
	deadline := time.Now().Add(20 * time.Second)
	for tn.latest.Load().GetInsights().GetAnomalyThreshold() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no anomaly score within 20s: %v", tn.latest.Load().GetInsights())
		}
		time.Sleep(50 * time.Millisecond)
	}
	start := tn.latest.Load().GetSeq()
	for tn.latest.Load().GetSeq() < start+20 { // twenty more ticks of Observe + Train
		if time.Now().After(deadline) {
			t.Fatal("the loop stopped after the detector started scoring")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDataDirIsExclusive: a second agent on the same data directory stops
// at once with a message naming the owner; the first keeps running, and
// the directory is free again once it stops.
func TestDataDirIsExclusive(t *testing.T) {
	dir := t.TempDir()
	first := startNode(t, func(c *Config) { c.DataDir = dir })
	cfg := DevConfig()
	cfg.DataDir = dir
	cfg.Telemetry.Source = "sim"
	cfg.ML.Enabled = false
	cfg.GRPC.Address, cfg.HTTP.Address = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	second, err := New(cfg, "x")
	if err != nil {
		t.Fatal(err)
	}
	err = second.Run(ctxT(t))
	if !errors.Is(err, ErrDataDirInUse) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("second agent on %s: %v; want ErrDataDirInUse naming pid %d", dir, err, os.Getpid())
	}
	if _, err := first.api.GetInfo(ctxT(t), &gamesav1.GetInfoRequest{}); err != nil {
		t.Fatalf("first agent after the second was refused: %v", err)
	}
	first.stop(t)
	startNode(t, func(c *Config) { c.DataDir = dir }) // free again
}
