package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Job runner timing.
const (
	// jobPoll is how often the runner compares what runs with what the
	// node's share says should.
	jobPoll = 250 * time.Millisecond
	// checkpointTimeout bounds a job's checkpoint command before a move.
	checkpointTimeout = 30 * time.Second
	// reportTimeout bounds one attempt to report a run's state; a report
	// that fails is retried until it is applied or refused.
	reportTimeout = 3 * time.Second
)

// jobRunner runs the jobs the allocation places on this node as real
// processes, and reports what becomes of them through the leader. The
// rules that keep a job from running twice:
//
//   - It starts a run only while the run is the job's current one on this
//     node, no earlier run of the job drains, and the node's share is
//     confirmed within the lease (a fresh replica said so).
//   - It stops a run as soon as the share says it is no longer current,
//     and kills every run once the lease runs out (the node may be cut
//     off, and the leader then moves its jobs after the fence).
//   - A run that ended here is never started again: the job gets a new
//     run id when it is placed again.
//
// Each job runs in its own process group (stopped with SIGTERM to the
// group, SIGKILL after jobs.stop_grace), with SIGKILL as its parent-death
// signal, so it dies with the agent; its output goes to
// <data_dir>/jobs/<job>/run-<run>.log. run owns the runner's goroutines.
//
// Limits of "never twice at once", which rests on the lease and on the
// leader's fence (it moves a failed node's jobs only once the lease and a
// second have passed since gossip declared the node failed):
//
//   - Clocks must run at about the same rate, and the agent must not be
//     paused (SIGSTOP, a frozen VM) longer than the fence: a paused agent
//     does not kill its jobs when its lease runs out.
//   - A node that gossip declares failed but that still hears a fresh
//     replica (a one-way partition) stops its run when its share shows
//     the job placed elsewhere: up to one follow interval (0.5 s) after
//     the new node may start it.
//   - What a job starts outside its process group (setsid, a daemon)
//     escapes the group kill, and only the job's own process gets the
//     parent-death signal when the agent dies.
//   - A process stuck in the kernel (uninterruptible sleep) outlives
//     SIGKILL until it wakes.
type jobRunner struct {
	a     *allocator
	node  string
	dir   string
	log   *slog.Logger
	lease time.Duration
	grace time.Duration

	mu    sync.Mutex
	procs map[string]*jobProc // by job; guarded by mu (JobLogs and metrics read it)

	// Owned by run.
	finished map[string]uint64 // job -> the run that ended here
	reports  chan *gamesav1.ReportJobState
	refused  chan runRef // a RUNNING report the state refused: stop that run
	spawns   chan spawn  // to the spawner, which starts every process

	warnedToken bool // owned by report
}

// spawn asks the spawner to start cmd.
type spawn struct {
	cmd  *exec.Cmd
	done chan error
}

// runRef names one run of a job.
type runRef struct {
	job string
	run uint64
}

// jobProc is one running job process.
type jobProc struct {
	job     string
	run     uint64
	spec    *gamesav1.JobSpec
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has been waited for

	// Set by the runner while stopping.
	stopping   bool
	why        string
	checkpoint chan struct{} // closed when the checkpoint command is done; nil when none
	termAt     time.Time     // when SIGTERM went to the group; zero before
	killSent   bool
}

func newJobRunner(a *allocator, dataDir string) *jobRunner {
	return &jobRunner{
		a: a, node: a.n.cfg.NodeID, dir: jobsDirOf(dataDir),
		log: a.log.With("component", "jobs"), lease: a.n.cfg.Jobs.Lease, grace: a.n.cfg.Jobs.StopGrace,
		procs: map[string]*jobProc{}, finished: map[string]uint64{},
		reports: make(chan *gamesav1.ReportJobState, 256), refused: make(chan runRef, 16),
		spawns: make(chan spawn),
	}
}

// running counts the job processes alive.
func (r *jobRunner) running() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.procs)
}

// logOf returns the log file of a run of job on this node, and whether
// that run still runs here.
func (r *jobRunner) logOf(job string, run uint64) (path string, live bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.procs[job]; ok && p.run == run {
		return p.logPath, true
	}
	return r.logPath(job, run), false
}

func (r *jobRunner) logPath(job string, run uint64) string {
	return filepath.Join(r.dir, job, "run-"+strconv.FormatUint(run, 10)+".log")
}

// run compares and acts every jobPoll until ctx is done; then it stops
// every job (SIGTERM, SIGKILL after the grace) and reports them killed,
// as far as the cluster answers within a few seconds.
func (r *jobRunner) run(ctx context.Context) {
	if err := os.MkdirAll(r.dir, 0o750); err != nil {
		r.log.Error("jobs directory; this node runs no jobs", "dir", r.dir, "err", err)
		return
	}
	go r.spawner()
	rctx, cancelReports := context.WithCancel(context.Background())
	reported := make(chan struct{})
	go func() { defer close(reported); r.report(rctx) }()
	defer func() {
		// After the jobs stopped, the reporter gets a moment to tell the
		// cluster, so a clean stop moves them at once; a cluster that does
		// not answer fences them instead.
		select {
		case <-reported:
		case <-time.After(reportTimeout):
		}
		cancelReports()
		<-reported
	}()
	t := time.NewTicker(jobPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.shutdown()
			close(r.reports)
			close(r.spawns)
			return
		case ref := <-r.refused:
			if p := r.procs[ref.job]; p != nil && p.run == ref.run {
				r.stop(p, "the cluster refused its start", false)
			}
		case <-t.C:
			r.step(time.Now())
		}
	}
}

// step brings what runs here in line with the node's share.
func (r *jobRunner) step(now time.Time) {
	sh := r.a.share.Load()
	confirmed := sh != nil && !sh.confirmed.IsZero() && now.Sub(sh.confirmed) <= r.lease
	keep := map[string]uint64{}             // job -> the run this node may run
	startable := map[string]*gamesav1.Job{} // current here, nothing drains
	elsewhere := map[string]string{}        // job -> the node it moved to
	if sh != nil {
		for _, j := range sh.jobs {
			id, c := j.GetSpec().GetId(), j.GetCurrent()
			switch {
			case c.GetNodeId() == r.node && !j.GetStopRequested():
				keep[id] = c.GetRunId()
				if j.GetDraining() == nil {
					startable[id] = j
				}
			case c != nil && c.GetNodeId() != r.node:
				elsewhere[id] = c.GetNodeId()
			}
		}
	}

	for id, p := range r.procs {
		select {
		case <-p.done:
			r.reap(p)
			continue
		default:
		}
		switch {
		case !confirmed:
			r.fence(p)
		case keep[id] != p.run:
			// A job that goes on elsewhere (or later) may save its
			// progress first; one stopped on request just stops.
			why, ckpt := "no longer placed here", len(p.spec.GetCheckpointCommand()) > 0
			switch to, moved := elsewhere[id]; {
			case stopRequested(sh, id):
				why, ckpt = "stopped on request", false
			case moved:
				why = "moved to " + to
			}
			r.stop(p, why, ckpt)
		}
		r.escalate(p, now)
	}

	for id, run := range r.finished {
		if keep[id] != run {
			delete(r.finished, id) // the state has moved on from it
		}
	}
	if !confirmed {
		return
	}
	ids := make([]string, 0, len(startable))
	for id := range startable {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		j := startable[id]
		if _, busy := r.procs[id]; busy || r.finished[id] == j.GetCurrent().GetRunId() {
			continue
		}
		r.start(j)
	}
}

func stopRequested(sh *share, job string) bool {
	if sh == nil {
		return false
	}
	for _, j := range sh.jobs {
		if j.GetSpec().GetId() == job {
			return j.GetStopRequested()
		}
	}
	return false
}

// start runs one job's current run and reports it running (or failed to
// start).
func (r *jobRunner) start(j *gamesav1.Job) {
	spec, run := j.GetSpec(), j.GetCurrent().GetRunId()
	p := &jobProc{job: spec.GetId(), run: run, spec: spec, logPath: r.logPath(spec.GetId(), run), done: make(chan struct{})}
	cmd, err := r.command(p, spec.GetCommand(), false)
	if err == nil {
		err = r.startProcess(cmd)
		closeFiles(cmd)
	}
	if err != nil {
		r.finished[p.job] = run
		r.log.Warn("job could not start", "job", p.job, "run", run, "err", err)
		r.queue(&gamesav1.ReportJobState{JobId: p.job, NodeId: r.node, RunId: run,
			State: gamesav1.RunState_RUN_STATE_START_FAILED, ExitCode: 127, Reason: clip(err.Error(), 256)})
		return
	}
	p.cmd = cmd
	go func() {
		_ = cmd.Wait() // the exit status is read from ProcessState
		close(p.done)
	}()
	r.mu.Lock()
	r.procs[p.job] = p
	r.mu.Unlock()
	r.log.Info("job started", "job", p.job, "run", run, "pid", cmd.Process.Pid, "log", p.logPath)
	r.queue(&gamesav1.ReportJobState{JobId: p.job, NodeId: r.node, RunId: run,
		State: gamesav1.RunState_RUN_STATE_RUNNING, Pid: uint32(cmd.Process.Pid)})
}

// command prepares a job's (or its checkpoint's) process: its own process
// group, output appended to the run's log, and the job's identity in its
// environment.
func (r *jobRunner) command(p *jobProc, argv []string, checkpoint bool) (*exec.Cmd, error) {
	attr, err := jobProcAttr()
	if err != nil {
		return nil, err
	}
	if err = os.MkdirAll(filepath.Dir(p.logPath), 0o750); err != nil {
		return nil, fmt.Errorf("job directory: %w", err)
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("job log: %w", err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = filepath.Dir(p.logPath)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(),
		"GAMESA_JOB="+p.job, "GAMESA_RUN_ID="+strconv.FormatUint(p.run, 10), "GAMESA_NODE="+r.node)
	if checkpoint {
		cmd.Env = append(cmd.Env, "GAMESA_CHECKPOINT=1")
	}
	cmd.SysProcAttr = attr
	return cmd, nil
}

// spawner starts every job process from one OS thread that lives as long
// as the runner: the kernel sends the parent-death signal when the thread
// that forked a child ends, not the process, and an unlocked goroutine
// forks on whichever thread the scheduler gave it (one that ends when
// some other goroutine locked to it exits). Locked here, the thread ends
// only when this goroutine returns, after the runner has stopped every
// job. It returns when spawns is closed.
func (r *jobRunner) spawner() {
	runtime.LockOSThread()
	// No UnlockOSThread: the thread must die with this goroutine, not go
	// back to the runtime's pool.
	for s := range r.spawns {
		s.done <- s.cmd.Start()
	}
}

// startProcess starts cmd on the spawner's thread.
func (r *jobRunner) startProcess(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	r.spawns <- spawn{cmd: cmd, done: done}
	return <-done
}

// closeFiles closes the parent's copy of a started command's log file.
func closeFiles(cmd *exec.Cmd) {
	if f, ok := cmd.Stdout.(*os.File); ok {
		_ = f.Close() // the child holds its own descriptor
	}
}

// stop begins ending a run: its checkpoint command first when it moves
// and has one, then SIGTERM to its process group.
func (r *jobRunner) stop(p *jobProc, why string, checkpoint bool) {
	if p.stopping {
		return
	}
	p.stopping, p.why = true, why
	r.log.Info("stopping job", "job", p.job, "run", p.run, "why", why)
	if checkpoint {
		cmd, err := r.command(p, p.spec.GetCheckpointCommand(), true)
		if err == nil {
			err = r.startProcess(cmd)
			closeFiles(cmd)
		}
		if err == nil {
			done := make(chan struct{})
			p.checkpoint = done
			go func() {
				timer := time.AfterFunc(checkpointTimeout, func() { killGroup(cmd.Process.Pid) })
				_ = cmd.Wait() // its status does not matter: the job moves either way
				timer.Stop()
				close(done)
			}()
			return
		}
		r.log.Warn("checkpoint command could not start; stopping the job without it", "job", p.job, "err", err)
	}
	r.terminate(p)
}

// fence kills a run at once: the node's lease ran out, so the leader may
// move the job after its fence (the lease and a second), and a grace
// period would outlast that.
func (r *jobRunner) fence(p *jobProc) {
	if p.killSent {
		return
	}
	if !p.stopping {
		r.log.Warn("killing job: its lease ran out (no fresh word from the cluster)", "job", p.job, "run", p.run, "lease", r.lease)
	}
	p.stopping, p.why = true, fmt.Sprintf("its lease ran out: no fresh word from the cluster for %v", r.lease)
	if p.termAt.IsZero() {
		p.termAt = time.Now()
	}
	p.killSent = true
	if err := signalGroup(p.cmd.Process.Pid, true); err != nil {
		r.log.Debug("SIGKILL to job", "job", p.job, "err", err)
	}
}

func (r *jobRunner) terminate(p *jobProc) {
	p.termAt = time.Now()
	if err := signalGroup(p.cmd.Process.Pid, false); err != nil {
		r.log.Debug("SIGTERM to job", "job", p.job, "err", err)
	}
}

// escalate moves a stopping run on: SIGTERM once its checkpoint is done,
// SIGKILL once the grace is over.
func (r *jobRunner) escalate(p *jobProc, now time.Time) {
	if !p.stopping {
		return
	}
	if p.termAt.IsZero() {
		select {
		case <-p.checkpoint:
			r.terminate(p)
		default:
		}
		return
	}
	if !p.killSent && now.Sub(p.termAt) >= r.grace {
		p.killSent = true
		if err := signalGroup(p.cmd.Process.Pid, true); err != nil {
			r.log.Debug("SIGKILL to job", "job", p.job, "err", err)
		}
	}
}

// reap reports a run whose process has ended.
func (r *jobRunner) reap(p *jobProc) {
	r.mu.Lock()
	delete(r.procs, p.job)
	r.mu.Unlock()
	r.finished[p.job] = p.run
	code := exitCode(p.cmd.ProcessState)
	rep := &gamesav1.ReportJobState{JobId: p.job, NodeId: r.node, RunId: p.run, ExitCode: code}
	if p.stopping && !p.termAt.IsZero() {
		rep.State, rep.Reason = gamesav1.RunState_RUN_STATE_KILLED, p.why
	} else {
		rep.State = gamesav1.RunState_RUN_STATE_EXITED
	}
	r.log.Info("job ended", "job", p.job, "run", p.run, "state", rep.State, "exit_code", code, "why", p.why)
	r.queue(rep)
}

// shutdown stops every job and waits for them, SIGKILL after the grace.
func (r *jobRunner) shutdown() {
	for _, p := range r.procs {
		if !p.stopping || p.termAt.IsZero() {
			p.stopping, p.why = true, "the agent is stopping"
			r.terminate(p)
		}
	}
	deadline := time.Now().Add(r.grace)
	for _, p := range r.procs {
		select {
		case <-p.done:
		case <-time.After(time.Until(deadline)):
			_ = signalGroup(p.cmd.Process.Pid, true) // ESRCH when it just ended
			<-p.done
		}
		r.reap(p)
	}
}

func (r *jobRunner) queue(rep *gamesav1.ReportJobState) {
	select {
	case r.reports <- rep:
	default:
		// 256 reports waiting means no leader for long: the state will
		// fence these runs, so dropping a report loses no safety.
		r.log.Warn("report queue full; dropping a report", "job", rep.GetJobId(), "run", rep.GetRunId())
	}
}

// report sends queued reports through the leader, in order, retrying one
// that fails every second until it is applied or refused. It returns when
// the queue is closed and empty, or ctx ends.
func (r *jobRunner) report(ctx context.Context) {
	var pending []*gamesav1.ReportJobState
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	in := r.reports
	for in != nil || len(pending) > 0 {
		for len(pending) > 0 && r.send(ctx, pending[0]) == nil {
			pending = pending[1:]
		}
		var tick <-chan time.Time
		if len(pending) > 0 {
			tick = retry.C
		}
		select {
		case <-ctx.Done():
			return
		case rep, ok := <-in:
			if !ok {
				in = nil
				continue
			}
			pending = append(pending, rep)
		case <-tick:
		}
	}
}

// send reports one run's state; nil when the state took it or refused it
// for good (a refused start stops the run).
func (r *jobRunner) send(ctx context.Context, rep *gamesav1.ReportJobState) error {
	cctx, cancel := context.WithTimeout(ctx, reportTimeout)
	defer cancel()
	id := requestIDFor("rpt", fmt.Sprint(rep.GetJobId(), "/", rep.GetRunId(), "/", rep.GetState()))
	_, err := r.a.writeAlloc(cctx, &gamesav1.Command{RequestId: id, Op: &gamesav1.Command_ReportJobState{ReportJobState: rep}},
		func(ctx context.Context, cl gamesav1.AllocationServiceClient) error {
			_, err := cl.ReportJobState(ctx, &gamesav1.ReportJobStateRequest{Report: rep, RequestId: id})
			return err
		})
	switch status.Code(err) {
	case codes.OK:
		return nil
	case codes.FailedPrecondition, codes.NotFound, codes.InvalidArgument:
		r.log.Info("report refused", "job", rep.GetJobId(), "run", rep.GetRunId(), "state", rep.GetState(), "why", status.Convert(err).Message())
		if rep.GetState() == gamesav1.RunState_RUN_STATE_RUNNING {
			select {
			case r.refused <- runRef{rep.GetJobId(), rep.GetRunId()}:
			default:
			}
		}
		return nil
	case codes.PermissionDenied, codes.Unauthenticated:
		// Retried like any failure, but said loudly: without a token of
		// its own a node in a cluster that checks tokens cannot report.
		if !r.warnedToken {
			r.warnedToken = true
			r.log.Warn("report refused for want of a token: give this node an admin token (auth.token_file)", "job", rep.GetJobId(), "err", err)
		}
		return err
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err()
	}
	r.log.Debug("report not delivered; retrying", "job", rep.GetJobId(), "run", rep.GetRunId(), "err", err)
	return err
}
