package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// jobNode starts a --dev node (a one-server cluster) on the simulated
// machine with jobs enabled and a quick allocation interval.
func jobNode(t *testing.T, mutate func(*Config)) (*testNode, gamesav1.AllocationServiceClient) {
	t.Helper()
	tn := startNode(t, func(c *Config) {
		c.Jobs.Enabled = true
		c.Jobs.Labels = map[string]string{"zone": "a"}
		c.Cluster.AllocateInterval = 500 * time.Millisecond
		if mutate != nil {
			mutate(c)
		}
	})
	return tn, gamesav1.NewAllocationServiceClient(tn.conn)
}

// waitJob polls a job until cond holds.
func waitJob(t *testing.T, cl gamesav1.AllocationServiceClient, id string, timeout time.Duration, cond func(j *gamesav1.Job) bool) *gamesav1.Job {
	t.Helper()
	var last *gamesav1.Job
	waitFor(t, "job "+id, timeout, func() (bool, string) {
		resp, err := cl.GetJob(ctxT(t), &gamesav1.GetJobRequest{JobId: id})
		if err != nil {
			return false, err.Error()
		}
		last = resp.GetJob()
		return cond(last), fmt.Sprintf("%v: %s (current %v, draining %v)", last.GetState(), last.GetReason(), last.GetCurrent(), last.GetDraining())
	})
	return last
}

// TestJobLifecycleOnOneNode runs a job on a one-node cluster: it is placed
// and started as a real process in its own process group, its output can
// be read (and followed) through JobLogs, it is stopped on request, and
// a job that exits by itself reports its status.
func TestJobLifecycleOnOneNode(t *testing.T) {
	tn, cl := jobNode(t, nil)
	ctx := ctxT(t)
	waitFor(t, "registered", 10*time.Second, func() (bool, string) {
		resp, err := cl.GetAllocation(ctx, &gamesav1.GetAllocationRequest{})
		if err != nil {
			return false, err.Error()
		}
		return len(resp.GetNodes()) == 1 && resp.GetNodes()[0].GetJobsEnabled() && resp.GetAllocation().GetEpoch() > 0,
			fmt.Sprint(resp.GetNodes(), resp.GetAllocation())
	})

	script := `echo "hello from $GAMESA_JOB run $GAMESA_RUN_ID on $GAMESA_NODE"; trap 'echo bye; exit 0' TERM; while :; do sleep 0.1; done`
	sub, err := cl.SubmitJob(ctx, &gamesav1.SubmitJobRequest{Spec: &gamesav1.JobSpec{
		Id: "loop", Cores: 1, MemoryBytes: 1 << 20, Command: []string{"sh", "-c", script},
		Constraints: []*gamesav1.Label{{Key: "zone", Value: "a"}},
	}})
	if err != nil {
		t.Fatalf("SubmitJob: %v", err)
	}
	if sub.GetJob().GetState() != gamesav1.JobState_JOB_STATE_PENDING {
		t.Errorf("SubmitJob state = %v; want pending", sub.GetJob().GetState())
	}
	j := waitJob(t, cl, "loop", 15*time.Second, func(j *gamesav1.Job) bool { return j.GetState() == gamesav1.JobState_JOB_STATE_RUNNING })
	run := j.GetCurrent()
	if run.GetNodeId() != "test-node" || run.GetPid() == 0 {
		t.Fatalf("running job: run %v; want on test-node with a pid", run)
	}
	// A process group of its own.
	if pgid, err := pgidOf(int(run.GetPid())); err != nil || pgid != int(run.GetPid()) {
		t.Errorf("job pid %d: process group %d (%v); want its own", run.GetPid(), pgid, err)
	}

	// Its log, through JobLogs.
	logPath := filepath.Join(tn.dir, "jobs", "loop", fmt.Sprintf("run-%d.log", run.GetRunId()))
	waitFor(t, "job output", 10*time.Second, func() (bool, string) {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "hello"), string(b)
	})
	out, first := readLogs(t, cl, &gamesav1.JobLogsRequest{JobId: "loop"})
	want := fmt.Sprintf("hello from loop run %d on test-node\n", run.GetRunId())
	if out != want || first.GetNodeId() != "test-node" || first.GetRunId() != run.GetRunId() {
		t.Errorf("JobLogs = %q from %s run %d; want %q from test-node run %d", out, first.GetNodeId(), first.GetRunId(), want, run.GetRunId())
	}

	// Following the log ends when the run does.
	follow := make(chan string, 1)
	go func() {
		out, _ := readLogs(t, cl, &gamesav1.JobLogsRequest{JobId: "loop", Follow: true})
		follow <- out
	}()
	if _, err := cl.StopJob(ctx, &gamesav1.StopJobRequest{JobId: "loop"}); err != nil {
		t.Fatalf("StopJob: %v", err)
	}
	j = waitJob(t, cl, "loop", 15*time.Second, func(j *gamesav1.Job) bool { return j.GetState() == gamesav1.JobState_JOB_STATE_STOPPED })
	if h := j.GetHistory(); len(h) != 1 || h[0].GetState() != gamesav1.RunState_RUN_STATE_KILLED {
		t.Errorf("stopped job's history = %v; want one killed run", h)
	}
	select {
	case out := <-follow:
		if !strings.HasSuffix(out, "bye\n") {
			t.Errorf("followed log = %q; want it to end with the job's goodbye", out)
		}
	case <-time.After(10 * time.Second):
		t.Error("following the log did not end with the run")
	}
	if err := processGone(int(run.GetPid())); err != nil {
		t.Error(err)
	}

	// A job that fails by itself reports its status; one whose program
	// does not exist fails to start.
	for _, spec := range []*gamesav1.JobSpec{
		{Id: "fails", Command: []string{"sh", "-c", "exit 3"}},
		{Id: "missing", Command: []string{"/no/such/program"}},
	} {
		if _, err := cl.SubmitJob(ctx, &gamesav1.SubmitJobRequest{Spec: spec}); err != nil {
			t.Fatalf("SubmitJob(%s): %v", spec.GetId(), err)
		}
	}
	j = waitJob(t, cl, "fails", 15*time.Second, func(j *gamesav1.Job) bool { return consensusEnded(j) })
	if j.GetState() != gamesav1.JobState_JOB_STATE_FAILED || j.GetHistory()[0].GetExitCode() != 3 {
		t.Errorf("job fails: %v, history %v; want failed with exit status 3", j.GetState(), j.GetHistory())
	}
	j = waitJob(t, cl, "missing", 15*time.Second, func(j *gamesav1.Job) bool { return consensusEnded(j) })
	if j.GetState() != gamesav1.JobState_JOB_STATE_FAILED || j.GetHistory()[0].GetState() != gamesav1.RunState_RUN_STATE_START_FAILED {
		t.Errorf("job missing: %v, history %v; want failed to start", j.GetState(), j.GetHistory())
	}
	list, err := cl.ListJobs(ctx, &gamesav1.ListJobsRequest{})
	if err != nil || len(list.GetJobs()) != 3 || !list.GetConsistent() {
		t.Errorf("ListJobs = %v, %v; want 3 jobs, consistent", list, err)
	}
}

func consensusEnded(j *gamesav1.Job) bool { return j.GetEndedIndex() != 0 }

// readLogs reads a JobLogs stream to its end.
func readLogs(t *testing.T, cl gamesav1.AllocationServiceClient, req *gamesav1.JobLogsRequest) (string, *gamesav1.JobLogsResponse) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := cl.JobLogs(ctx, req)
	if err != nil {
		t.Errorf("JobLogs: %v", err)
		return "", nil
	}
	var b strings.Builder
	var first *gamesav1.JobLogsResponse
	for {
		m, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return b.String(), first
		}
		if err != nil {
			t.Errorf("JobLogs stream: %v", err)
			return b.String(), first
		}
		if first == nil {
			first = m
		}
		b.Write(m.GetData())
	}
}

// TestBadAllocationInput: the bad inputs are refused with a code
// and a reason, and the replicated state is unchanged.
func TestBadAllocationInput(t *testing.T) {
	_, cl := jobNode(t, func(c *Config) { c.Cluster.PowerFloorWatts, c.Cluster.PowerCeilingWatts = 20, 45 })
	ctx := ctxT(t)
	waitFor(t, "registered", 10*time.Second, func() (bool, string) {
		resp, err := cl.GetAllocation(ctx, &gamesav1.GetAllocationRequest{})
		return err == nil && len(resp.GetNodes()) == 1, fmt.Sprint(resp, err)
	})
	before, err := cl.GetAllocation(ctx, &gamesav1.GetAllocationRequest{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		code codes.Code
		why  string
	}{
		{"budget below the floors", func() error {
			_, err := cl.SetPowerBudget(ctx, &gamesav1.SetPowerBudgetRequest{BudgetWatts: 10})
			return err
		}, codes.FailedPrecondition, "below the sum of the floors"},
		{"negative budget", func() error {
			_, err := cl.SetPowerBudget(ctx, &gamesav1.SetPowerBudgetRequest{BudgetWatts: -5})
			return err
		}, codes.InvalidArgument, "budget_watts"},
		{"job bigger than any node", func() error {
			_, err := cl.SubmitJob(ctx, &gamesav1.SubmitJobRequest{Spec: &gamesav1.JobSpec{Id: "huge", Cores: 4096, Command: []string{"true"}}})
			return err
		}, codes.FailedPrecondition, "4096 cores (most: 8 on test-node)"},
		{"unknown label", func() error {
			_, err := cl.SubmitJob(ctx, &gamesav1.SubmitJobRequest{Spec: &gamesav1.JobSpec{Id: "typo", Command: []string{"true"},
				Constraints: []*gamesav1.Label{{Key: "zone", Value: "b"}}}})
			return err
		}, codes.InvalidArgument, "zone=b, which no node"},
		{"empty command", func() error {
			_, err := cl.SubmitJob(ctx, &gamesav1.SubmitJobRequest{Spec: &gamesav1.JobSpec{Id: "nothing"}})
			return err
		}, codes.InvalidArgument, "command is empty"},
		{"constraint twice", func() error {
			_, err := cl.SubmitJob(ctx, &gamesav1.SubmitJobRequest{Spec: &gamesav1.JobSpec{Id: "twice", Command: []string{"true"},
				Constraints: []*gamesav1.Label{{Key: "zone", Value: "a"}, {Key: "zone", Value: "b"}}}})
			return err
		}, codes.InvalidArgument, "constrained twice"},
		{"stop an unknown job", func() error {
			_, err := cl.StopJob(ctx, &gamesav1.StopJobRequest{JobId: "ghost"})
			return err
		}, codes.NotFound, "no job named ghost"},
		{"bad job name", func() error {
			_, err := cl.GetJob(ctx, &gamesav1.GetJobRequest{JobId: "Not A Name"})
			return err
		}, codes.InvalidArgument, "not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if status.Code(err) != tt.code || !strings.Contains(status.Convert(err).Message(), tt.why) {
				t.Errorf("%s = %v; want %v containing %q", tt.name, err, tt.code, tt.why)
			}
		})
	}
	after, err := cl.GetAllocation(ctx, &gamesav1.GetAllocationRequest{})
	if err != nil {
		t.Fatal(err)
	}
	list, err := cl.ListJobs(ctx, &gamesav1.ListJobsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if after.GetBudget() != nil || len(list.GetJobs()) != 0 || after.GetAllocation().GetEpoch() < before.GetAllocation().GetEpoch() {
		t.Errorf("after bad input: budget %v, %d jobs; want no budget and no jobs", after.GetBudget(), len(list.GetJobs()))
	}
	// A budget above the floors is taken, and the node gets a cap.
	if _, err := cl.SetPowerBudget(ctx, &gamesav1.SetPowerBudgetRequest{BudgetWatts: 30}); err != nil {
		t.Fatalf("SetPowerBudget(30) = %v", err)
	}
	waitFor(t, "a cap within the budget", 10*time.Second, func() (bool, string) {
		resp, err := cl.GetAllocation(ctx, &gamesav1.GetAllocationRequest{})
		if err != nil {
			return false, err.Error()
		}
		caps := resp.GetAllocation().GetCaps()
		return len(caps) == 1 && caps[0].GetCapMilliwatts() >= 20000 && caps[0].GetCapMilliwatts() <= 30000, fmt.Sprint(caps)
	})
}

func pgidOf(pid int) (int, error) { return syscall.Getpgid(pid) }

// processGone waits until pid no longer exists.
func processGone(pid int) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("process %d still exists", pid)
}
