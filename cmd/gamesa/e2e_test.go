package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry/telemetrytest"
)

// binPath is the gamesa binary TestMain builds once for every test here.
var binPath string

func TestMain(m *testing.M) {
	// GAMESA_BIN runs the tests against a binary built elsewhere, on a
	// machine without Go (the GPU machine, say).
	if binPath = os.Getenv("GAMESA_BIN"); binPath != "" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "gamesa-e2e-")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "gamesa")
	cmd := exec.Command("go", "build", "-o", binPath, ".")
	cmd.Env = append(os.Environ(), "CGO_CFLAGS=-Wno-deprecated-declarations")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("go build: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildBinary returns the binary TestMain built.
func buildBinary(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the end-to-end test reads /proc")
	}
	return binPath
}

// agent is a running `gamesa agent` process.
type agent struct {
	cmd                          *exec.Cmd
	grpcAddr, http, gossip, raft string
	stderr                       *logBuffer
	exited                       chan error
	scanned                      chan struct{} // closed when all of stderr has been read
}

// logBuffer is the agent's stderr, written by the reading goroutine and
// read by the test.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) add(line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(line)
	l.b.WriteByte('\n')
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startAgent runs the real binary with OS-chosen loopback ports and waits
// for its "node ready" log line, which names the addresses.
func startAgent(t *testing.T, bin string, args ...string) *agent {
	t.Helper()
	return launchAgent(t, bin, append([]string{"--dev"}, args...)...)
}

// launchAgent is startAgent without --dev: the caller gives the data
// directory and the cluster flags.
func launchAgent(t *testing.T, bin string, args ...string) *agent {
	t.Helper()
	args = append([]string{"agent", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--gossip-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0", "--log-format", "json"}, args...)
	cmd := exec.Command(bin, args...)
	pr, pw := io.Pipe()
	a := &agent{cmd: cmd, stderr: &logBuffer{}, exited: make(chan error, 1), scanned: make(chan struct{})}
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.exited <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill() // the test failed before stopping it
			<-a.exited
		}
	})
	ready := make(chan struct{})
	go func() {
		defer close(a.scanned)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Bytes()
			a.stderr.add(line)
			var rec struct{ Msg, GRPC, HTTP, Gossip, Raft string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "node ready" {
				a.grpcAddr, a.http, a.gossip, a.raft = rec.GRPC, rec.HTTP, rec.Gossip, rec.Raft
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case err := <-a.exited:
		t.Fatalf("agent exited before ready: %v\n%s", err, a.stderr)
	case <-time.After(20 * time.Second):
		t.Fatalf("agent not ready in 20s\n%s", a.stderr)
	}
	return a
}

// stop sends SIGTERM and expects a clean exit.
func (a *agent) stop(t *testing.T) {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-a.exited:
		if err != nil {
			t.Fatalf("agent exit after SIGTERM: %v\n%s", err, a.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("agent still running 15s after SIGTERM\n%s", a.stderr)
	}
	<-a.scanned // the last log lines are in a.stderr
}

func runCLI(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// TestEndToEnd starts the real binary on the real host and checks its
// answers against the kernel: CPU count from /proc/stat, MemTotal from
// /proc/meminfo. It uses the gRPC API, the CLI and /metrics, then stops the
// agent with SIGTERM.
func TestEndToEnd(t *testing.T) {
	bin := buildBinary(t)
	a := startAgent(t, bin)

	conn, err := grpc.NewClient(a.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	api := gamesav1.NewNodeServiceClient(conn)
	info, err := api.GetInfo(ctx, &gamesav1.GetInfoRequest{})
	if err != nil {
		t.Fatalf("GetInfo: %v", err)
	}
	cpus, memTotal := telemetrytest.KernelCPUs(t), telemetrytest.KernelMemTotal(t)
	if got := int(info.GetInfo().GetCpuCount()); got != cpus {
		t.Errorf("GetInfo cpu_count = %d; want %d from /proc/stat", got, cpus)
	}
	if got := info.GetInfo().GetMemoryTotalBytes(); got != memTotal {
		t.Errorf("GetInfo memory_total_bytes = %d; want %d from /proc/meminfo", got, memTotal)
	}
	tel, err := api.GetTelemetry(ctx, &gamesav1.GetTelemetryRequest{})
	if err != nil {
		t.Fatalf("GetTelemetry: %v", err)
	}
	if got := len(tel.GetSample().GetCpu().GetCores()); got != cpus {
		t.Errorf("sample has %d cores; want %d", got, cpus)
	}
	if tel.GetSample().GetProcesses().GetTotal() == 0 {
		t.Error("sample counts no processes")
	}
	checkGPUs(t, tel.GetSample())

	// The CLI, as a person would run it.
	out, code := runCLI(t, bin, "status", "--addr", a.grpcAddr, "-o", "json")
	if code != 0 {
		t.Fatalf("gamesa status -o json exited %d: %s", code, out)
	}
	var st struct {
		Info struct {
			CPUCount         int    `json:"cpu_count"`
			MemoryTotalBytes string `json:"memory_total_bytes"` // protojson writes 64-bit ints as strings
		} `json:"info"`
		Sample struct {
			Seq string `json:"seq"`
		} `json:"sample"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("gamesa status -o json is not JSON: %v\n%s", err, out)
	}
	if st.Info.CPUCount != cpus || st.Info.MemoryTotalBytes != strconv.FormatUint(memTotal, 10) || st.Sample.Seq == "" {
		t.Errorf("gamesa status -o json = %+v; want %d cpus, %d bytes, a seq", st, cpus, memTotal)
	}
	out, code = runCLI(t, bin, "status", "--addr", a.grpcAddr)
	if code != 0 || !strings.Contains(out, "cores") || !strings.Contains(out, "PID") {
		t.Errorf("gamesa status exited %d:\n%s", code, out)
	}
	out, code = runCLI(t, bin, "top", "--addr", a.grpcAddr, "--interval", "200ms", "--count", "3", "-o", "json")
	if lines := strings.Count(out, "\n"); code != 0 || lines != 3 {
		t.Errorf("gamesa top --count 3 -o json exited %d with %d lines; want 0 and 3:\n%s", code, lines, out)
	}
	out, code = runCLI(t, bin, "history", "--addr", a.grpcAddr, "--since", "1m")
	if code != 0 || !strings.Contains(out, "SEQ") {
		t.Errorf("gamesa history exited %d:\n%s", code, out)
	}

	// Prometheus.
	resp, err := http.Get("http://" + a.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body) // a short read shows up as missing metrics below
	resp.Body.Close()
	want := `gamesa_memory_bytes{kind="total"} ` + strconv.FormatFloat(float64(memTotal), 'g', -1, 64)
	if !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %q", want)
	}
	// The agent's runtime defaults, unless the environment sets its own.
	for env, metric := range map[string]string{
		"GOGC":       "go_gc_gogc_percent " + strconv.Itoa(agentGCPercent),
		"GOMAXPROCS": "go_sched_gomaxprocs_threads " + strconv.Itoa(agentMaxProcs),
	} {
		if os.Getenv(env) == "" && !strings.Contains(string(body), metric+"\n") {
			t.Errorf("/metrics lacks %q: the agent's default for %s", metric, env)
		}
	}

	a.stop(t)
	if !strings.Contains(a.stderr.String(), "node stopped") {
		t.Errorf("no 'node stopped' in the log:\n%s", a.stderr)
	}
}

// TestConfigErrorsExit2: a bad config file or flag exits with status 2 and
// names the key.
func TestConfigErrorsExit2(t *testing.T) {
	bin := buildBinary(t)
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(cfg, []byte("tick: 1s\nhistory:\n  max_age: forever\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"agent", "--dev", "--config", cfg}, "history.max_age (line 3)"},
		{[]string{"agent", "--dev", "--tick", "1ms"}, "tick"},
		{[]string{"agent", "--dev", "--source", "moon"}, "telemetry.source"},
		{[]string{"agent"}, "data_dir"},
		{[]string{"agent", "--no-such-flag"}, "no-such-flag"},
		{[]string{"status", "-o", "xml"}, "--output"},
	} {
		out, code := runCLI(t, bin, tc.args...)
		if code != exitUsage || !strings.Contains(out, tc.want) {
			t.Errorf("gamesa %s = exit %d, %q; want exit 2 naming %q", strings.Join(tc.args, " "), code, out, tc.want)
		}
	}
}

// TestMLClassifyEval runs the offline evaluation as a user would and checks
// the accuracy it prints against the floor the README states.
func TestMLClassifyEval(t *testing.T) {
	bin := buildBinary(t)
	out, code := runCLI(t, bin, "ml", "classify", "eval")
	if code != 0 {
		t.Fatalf("gamesa ml classify eval exited %d:\n%s", code, out)
	}
	var acc float64
	if _, err := fmt.Sscanf(out, "accuracy %f%%", &acc); err != nil || acc < 90 {
		t.Errorf("accuracy line %q (%v); want at least 90%%", strings.SplitN(out, "\n", 2)[0], err)
	}
}

// TestMLAnomalyEval: the offline fault-injection evaluation, as a user runs
// it, meets the floors the README states.
func TestMLAnomalyEval(t *testing.T) {
	bin := buildBinary(t)
	out, code := runCLI(t, bin, "ml", "anomaly", "eval", "--rounds", "1")
	if code != 0 {
		t.Fatalf("gamesa ml anomaly eval exited %d:\n%s", code, out)
	}
	for _, fault := range []string{"stuck-sensor", "fan-failure", "runaway-process"} {
		var events, detected int
		var recall float64
		line := lineStarting(out, fault)
		if _, err := fmt.Sscanf(strings.TrimPrefix(line, fault), "%d %d %f", &events, &detected, &recall); err != nil || recall < 0.8 {
			t.Errorf("%s line %q (%v); want recall at least 0.8", fault, line, err)
		}
	}
}

// TestMLThermalTrainEval trains on one recorded laptop day and evaluates on
// another through the CLI: the model file works across the two commands.
func TestMLThermalTrainEval(t *testing.T) {
	bin := buildBinary(t)
	data := filepath.Join("..", "..", "..", "shared", "data", "thermal")
	if _, err := os.Stat(data); err != nil {
		t.Skipf("recorded logs not found at %s: %v", data, err)
	}
	model := filepath.Join(t.TempDir(), "thermal.model")
	out, code := runCLI(t, bin, "ml", "thermal", "train", "--data", filepath.Join(data, "gl553vd-2020-05-02.csv.gz"), "--out", model)
	if code != 0 || !strings.Contains(out, "wrote "+model) {
		t.Fatalf("train exited %d:\n%s", code, out)
	}
	out, code = runCLI(t, bin, "ml", "thermal", "eval", "--model", model, "--data", filepath.Join(data, "gl553vd-2020-05-08.csv.gz"))
	if code != 0 || !strings.Contains(out, "persistence") || !strings.Contains(out, "linear-ar") {
		t.Fatalf("eval exited %d:\n%s", code, out)
	}
	out, code = runCLI(t, bin, "ml", "thermal", "eval", "--model", filepath.Join(data, "gl553vd-2020-05-08.csv.gz"), "--data", data)
	if code == 0 || !strings.Contains(out, "corrupt model") {
		t.Errorf("eval of a non-model file exited %d:\n%s\nwant a failure saying the model is corrupt", code, out)
	}
}

func lineStarting(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// checkGPUs compares the sample's NVIDIA GPUs with what nvidia-smi says,
// where there is one: index, UUID, name and memory total must agree.
func checkGPUs(t *testing.T, s *gamesav1.Sample) {
	t.Helper()
	out, err := exec.Command("nvidia-smi", "--query-gpu=index,uuid,name,memory.total", "--format=csv,noheader,nounits").Output()
	if err != nil {
		t.Logf("no nvidia-smi answer (%v): the sample must hold no GPU", err)
		if n := len(s.GetGpus()); n != 0 {
			t.Errorf("sample has %d GPUs but nvidia-smi does not run", n)
		}
		return
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(s.GetGpus()) != len(lines) {
		t.Fatalf("sample has %d GPUs; nvidia-smi lists %d:\n%s", len(s.GetGpus()), len(lines), out)
	}
	for i, line := range lines {
		f := strings.Split(line, ", ")
		g := s.GetGpus()[i]
		t.Logf("gpu %d: %q %s, %d MiB, %.0f%% busy, %.1f W of %.1f W, %.0f °C", g.GetIndex(), g.GetName(), g.GetUuid(), g.GetMemoryTotalBytes()>>20, g.GetUtilizationPercent(), g.GetPowerWatts(), g.GetPowerLimitWatts(), g.GetTemperatureCelsius())
		if len(f) != 4 {
			t.Fatalf("nvidia-smi line %q: want 4 fields", line)
		}
		mib, _ := strconv.ParseUint(f[3], 10, 64)
		if strconv.Itoa(int(g.GetIndex())) != f[0] || g.GetUuid() != f[1] || g.GetName() != f[2] || g.GetMemoryTotalBytes()>>20 != mib {
			t.Errorf("gpu %d = %d %s %q %d MiB; nvidia-smi says %s", i, g.GetIndex(), g.GetUuid(), g.GetName(), g.GetMemoryTotalBytes()>>20, line)
		}
	}
}
