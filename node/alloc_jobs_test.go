package node

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// runnerUnderTest is a job runner driven step by step from a share the
// test writes, running real processes; its reports are read straight off
// its queue.
type runnerUnderTest struct {
	t *testing.T
	a *allocator
	r *jobRunner
}

func newRunnerUnderTest(t *testing.T) *runnerUnderTest {
	t.Helper()
	a := &allocator{log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	r := &jobRunner{
		a: a, node: "n1", dir: t.TempDir(), log: a.log, lease: 2 * time.Second, grace: 2 * time.Second,
		procs: map[string]*jobProc{}, finished: map[string]uint64{},
		reports: make(chan *gamesav1.ReportJobState, 256), refused: make(chan runRef, 16), spawns: make(chan spawn),
	}
	go r.spawner()
	u := &runnerUnderTest{t: t, a: a, r: r}
	t.Cleanup(func() {
		r.shutdown()
		close(r.spawns)
	})
	return u
}

// set makes jobs the node's share, confirmed at confirmed.
func (u *runnerUnderTest) set(confirmed time.Time, jobs ...*gamesav1.Job) {
	u.a.share.Store(&share{jobs: jobs, confirmed: confirmed})
}

// report steps the runner until it queues a report.
func (u *runnerUnderTest) report(what string) *gamesav1.ReportJobState {
	u.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case rep := <-u.r.reports:
			return rep
		default:
		}
		u.r.step(time.Now())
		time.Sleep(20 * time.Millisecond)
	}
	u.t.Fatalf("%s: no report within 10s", what)
	return nil
}

// quiet steps the runner a few times and expects no report.
func (u *runnerUnderTest) quiet(what string) {
	u.t.Helper()
	for range 10 {
		u.r.step(time.Now())
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case rep := <-u.r.reports:
		u.t.Fatalf("%s: unexpected report %v", what, rep)
	default:
	}
}

func runJob(id string, run uint64, node string, argv ...string) *gamesav1.Job {
	return &gamesav1.Job{
		Spec:    &gamesav1.JobSpec{Id: id, Command: argv},
		State:   gamesav1.JobState_JOB_STATE_PLACED,
		Current: &gamesav1.JobRun{RunId: run, NodeId: node},
	}
}

// TestJobRunnerFollowsItsShare drives the runner through the fences that
// keep a job from running twice, with real processes: it starts a run
// only while nothing drains, stops a run that moved (after its checkpoint
// command), kills everything at once when its lease runs out, and never
// starts a run again that ended here.
func TestJobRunnerFollowsItsShare(t *testing.T) {
	u := newRunnerUnderTest(t)
	now := time.Now

	// A run waits while an earlier run of the job drains elsewhere.
	marker := filepath.Join(t.TempDir(), "checkpointed")
	j := runJob("render", 5, "n1", "sleep", "60")
	j.Spec.CheckpointCommand = []string{"sh", "-c", `echo "checkpoint of run $GAMESA_RUN_ID" > ` + marker}
	j.Draining = &gamesav1.JobRun{RunId: 3, NodeId: "n2"}
	u.set(now(), j)
	u.quiet("a run whose predecessor drains")
	if u.r.running() != 0 {
		t.Fatal("started a run while the previous one drains")
	}
	j.Draining = nil
	u.set(now(), j)
	rep := u.report("start")
	if rep.GetState() != gamesav1.RunState_RUN_STATE_RUNNING || rep.GetRunId() != 5 || rep.GetPid() == 0 {
		t.Fatalf("start report = %v; want run 5 running with a pid", rep)
	}
	pid := int(rep.GetPid())

	// The job moves to n2: its checkpoint command runs, then the run is
	// stopped and reported killed.
	moved := runJob("render", 9, "n2", "sleep", "60")
	moved.Spec = j.Spec
	moved.Draining = &gamesav1.JobRun{RunId: 5, NodeId: "n1"}
	u.set(now(), moved)
	rep = u.report("stop after a move")
	if rep.GetState() != gamesav1.RunState_RUN_STATE_KILLED || rep.GetRunId() != 5 || !strings.Contains(rep.GetReason(), "moved to n2") {
		t.Fatalf("move report = %v; want run 5 killed, moved to n2", rep)
	}
	if b, err := os.ReadFile(marker); err != nil || string(b) != "checkpoint of run 5\n" {
		t.Errorf("checkpoint output = %q, %v; want it run for run 5 before the stop", b, err)
	}
	if err := processGone(pid); err != nil {
		t.Error(err)
	}

	// Back on n1 as run 12; then no fresh word for longer than the lease:
	// killed at once.
	back := runJob("render", 12, "n1", "sleep", "60")
	u.set(now(), back)
	rep = u.report("start of run 12")
	pid = int(rep.GetPid())
	u.set(now().Add(-3*time.Second), back)
	rep = u.report("lease ran out")
	if rep.GetState() != gamesav1.RunState_RUN_STATE_KILLED || !strings.Contains(rep.GetReason(), "lease ran out") || rep.GetExitCode() != 128+9 {
		t.Fatalf("lease report = %v; want run 12 killed by SIGKILL for the lease", rep)
	}
	if err := processGone(pid); err != nil {
		t.Error(err)
	}
	// Fresh word again, the state still showing run 12: it is not
	// started again; only a new run would be.
	u.set(now(), back)
	u.quiet("a run that ended here")
	u.set(now(), runJob("render", 15, "n1", "sh", "-c", "exit 4"))
	if rep := u.report("run 15 starts"); rep.GetState() != gamesav1.RunState_RUN_STATE_RUNNING {
		t.Fatalf("run 15 = %v; want running", rep)
	}
	if rep := u.report("run 15 exits"); rep.GetState() != gamesav1.RunState_RUN_STATE_EXITED || rep.GetExitCode() != 4 {
		t.Fatalf("run 15 = %v; want exited with status 4", rep)
	}
}
