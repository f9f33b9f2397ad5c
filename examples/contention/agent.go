package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// How long the agent gets to start (a loaded 2-core machine and a Raft
// election) and to stop (it reverts every change first).
const (
	agentReadyTimeout = 60 * time.Second
	agentStopGrace    = 30 * time.Second
)

// agent is a running `gamesa agent`, on loopback ports the OS chose.
type agent struct {
	*proc
	grpcAddr, httpAddr string
	logDone            chan struct{} // closed when all of its log is written
}

// startAgent starts `gamesa agent --dev` in mode with its own data
// directory and waits until it serves. Its log (JSON lines) goes to
// logPath. The caller stops it.
func startAgent(ctx context.Context, bin, mode, dataDir, logPath string) (*agent, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating the agent's log: %w", err)
	}
	cmd := exec.Command(bin, "agent", "--dev", "--mode", mode, "--data-dir", dataDir,
		"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--gossip-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0", "--log-format", "json")
	// SIGTERM if the harness dies: the agent then still reverts what it
	// changed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting the agent: %w", err)
	}
	cmd.Stdout = logFile
	p, err := startProc("gamesa agent", cmd)
	if err != nil {
		logFile.Close()
		return nil, err
	}
	a := &agent{proc: p, logDone: make(chan struct{})}
	ready := make(chan [2]string, 1)
	go func() {
		defer close(a.logDone)
		defer logFile.Close()
		copyLog(stderr, logFile, ready)
	}()
	select {
	case addrs := <-ready:
		a.grpcAddr, a.httpAddr = addrs[0], addrs[1]
		return a, nil
	case <-p.exited:
		err = fmt.Errorf("the agent exited before it was ready (its log: %s)", logPath)
	case <-time.After(agentReadyTimeout):
		err = fmt.Errorf("the agent was not ready in %s (its log: %s)", agentReadyTimeout, logPath)
	case <-ctx.Done():
		err = ctx.Err()
	}
	a.stop()
	return nil, err
}

// copyLog copies the agent's log lines to w and sends the gRPC and HTTP
// addresses of its "node ready" line to ready.
func copyLog(r io.Reader, w io.Writer, ready chan<- [2]string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	sent := false
	for sc.Scan() {
		line := sc.Bytes()
		// A lost log line must not stop the run.
		_, _ = w.Write(line)
		_, _ = w.Write([]byte{'\n'})
		if sent {
			continue
		}
		var rec struct{ Msg, GRPC, HTTP string }
		if json.Unmarshal(line, &rec) == nil && rec.Msg == "node ready" && rec.GRPC != "" {
			ready <- [2]string{rec.GRPC, rec.HTTP}
			sent = true
		}
	}
	// Whatever is left (a line over the limit) must still be read, or the
	// agent blocks on a full pipe.
	_, _ = io.Copy(w, r)
}

// stop stops the agent, which reverts its changes, and waits for its log.
func (a *agent) stop() error {
	err := a.proc.stop(agentStopGrace)
	<-a.logDone
	return err
}

// cli runs a gamesa client command against the agent and returns its
// standard output.
func (a *agent) cli(ctx context.Context, bin string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	args = append(append([]string{}, args...), "--addr", a.grpcAddr)
	out, err := exec.CommandContext(ctx, bin, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("gamesa %v: %w: %s", args, err, ee.Stderr)
		}
		return nil, fmt.Errorf("gamesa %v: %w", args, err)
	}
	return out, nil
}

// Action outcomes of GetPlan (actuators.proto ActionResult.status) the
// harness looks for.
const (
	statusApplied    = "applied"
	statusUnchanged  = "unchanged"
	statusWouldApply = "would-apply"
	statusDenied     = "denied"
)

// seenResult is one outcome of one action, as the agent's GetPlan showed
// it; the plan watch keeps each distinct one.
type seenResult struct {
	Knob    string    `json:"knob"`
	Target  string    `json:"target"`
	Value   string    `json:"value"`
	Status  string    `json:"status"`
	Note    string    `json:"note,omitempty"`
	Reasons []string  `json:"reasons,omitempty"`
	First   time.Time `json:"first_seen"`
}

// planWatch polls the agent's GetPlan and keeps every distinct action
// outcome it shows, so that an action applied once and then dropped from
// later plans (a nice value already set) is still on record.
type planWatch struct {
	client gamesav1.ActuatorServiceClient
	conn   *grpc.ClientConn

	mu    sync.Mutex
	seen  []seenResult
	index map[[4]string]int
	last  *gamesav1.GetPlanResponse
}

func newPlanWatch(grpcAddr string) (*planWatch, error) {
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("connecting to the agent at %s: %w", grpcAddr, err)
	}
	return &planWatch{client: gamesav1.NewActuatorServiceClient(conn), conn: conn, index: map[[4]string]int{}}, nil
}

// run polls every interval until ctx ends, then closes the connection.
func (w *planWatch) run(ctx context.Context, every time.Duration) {
	defer w.conn.Close()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		w.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll asks for the plan once; a failed call is skipped (the next one
// will do).
func (w *planWatch) poll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := w.client.GetPlan(ctx, &gamesav1.GetPlanRequest{})
	if err != nil {
		return
	}
	w.record(resp, time.Now())
}

func (w *planWatch) record(resp *gamesav1.GetPlanResponse, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last = resp
	for _, r := range resp.GetResults() {
		a := r.GetAction()
		key := [4]string{a.GetKnob(), a.GetTarget(), a.GetValue(), r.GetStatus()}
		if _, ok := w.index[key]; ok {
			continue
		}
		w.index[key] = len(w.seen)
		w.seen = append(w.seen, seenResult{Knob: key[0], Target: key[1], Value: key[2], Status: key[3],
			Note: r.GetNote(), Reasons: a.GetReasons(), First: now})
	}
}

// results returns the outcomes seen so far, for target when it is not
// empty, oldest first.
func (w *planWatch) results(target string) []seenResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	if target == "" {
		return append([]seenResult{}, w.seen...)
	}
	out := []seenResult{}
	for _, s := range w.seen {
		if s.Target == target {
			out = append(out, s)
		}
	}
	return out
}
