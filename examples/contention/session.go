package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/krystalstack/gamesa/examples/contention/internal/measure"
)

// Limits a session keeps to.
const (
	gameStartTimeout = 60 * time.Second       // from launch to the game's first frame
	childStopGrace   = 15 * time.Second       // from SIGTERM to SIGKILL for the game and the hogs
	childOvertime    = 2 * time.Minute        // how long the children outlive a run by themselves if the harness is gone
	planPollEvery    = 250 * time.Millisecond // four polls per agent tick: no plan goes unseen
)

// bench is what every run of one benchmark shares.
type bench struct {
	// The binaries, where the identity can run them.
	gamesa, frameloop, hog string
	id                     identity
	// viaRun: start the game with `gamesa run`, which registers it with
	// the agent; otherwise start it directly.
	viaRun bool
	// explain: the gamesa binary has `explain`, whose output each run
	// keeps.
	explain bool
	// iters is the game's work per frame, from calibration.
	iters int64
	hogs  int
	// scratch is the harness's working directory: agents' data and the
	// children's files go into sub-directories.
	scratch string
}

// session is one run's processes: an agent, the hogs and the game.
type session struct {
	b    *bench
	mode string
	// dir holds what the children write (the identity's); out, what the
	// harness keeps.
	dir, out string

	agent     *agent
	watch     *planWatch
	stopWatch context.CancelFunc
	watchDone chan struct{}
	hogs      []*proc
	launcher  *proc // the game, or `gamesa run` wrapping it
	game      gameRef
	logs      []*os.File
}

// gameRef is the game's process: the launcher itself, or its child when
// `gamesa run` wraps it. fd is a pidfd, so the harness can signal the game
// even after its parent is gone without ever reaching another process.
type gameRef struct {
	pid int
	fd  int
}

// startSession starts an agent in mode, n hogs and the game, and returns
// once the game runs its first frame. name names the run's directories.
// On error, whatever it started is stopped.
func (b *bench) startSession(ctx context.Context, mode, name, out string) (s *session, err error) {
	s = &session{b: b, mode: mode, dir: filepath.Join(b.scratch, name), out: out, game: gameRef{fd: -1}}
	defer func() {
		if err != nil {
			s.stop()
			s = nil
		}
	}()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return s, fmt.Errorf("creating the results directory: %w", err)
	}
	if err := os.Mkdir(s.dir, 0o755); err != nil {
		return s, fmt.Errorf("creating the run's directory: %w", err)
	}
	if err := b.id.handOver(s.dir); err != nil {
		return s, err
	}
	s.agent, err = startAgent(ctx, b.gamesa, mode, filepath.Join(b.scratch, name+"-agent"), filepath.Join(out, "agent.log"))
	if err != nil {
		return s, err
	}
	if s.watch, err = newPlanWatch(s.agent.grpcAddr); err != nil {
		return s, err
	}
	var watchCtx context.Context
	watchCtx, s.stopWatch = context.WithCancel(context.Background())
	s.watchDone = make(chan struct{})
	go func() { defer close(s.watchDone); s.watch.run(watchCtx, planPollEvery) }()

	if err := s.startHogs(); err != nil {
		return s, err
	}
	return s, s.startGame(ctx)
}

// child makes the command for one of the identity's processes, its output
// going to a log in out.
func (s *session) child(logName, bin string, args ...string) (*exec.Cmd, error) {
	log, err := os.OpenFile(filepath.Join(s.out, logName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", logName, err)
	}
	s.logs = append(s.logs, log)
	cmd := exec.Command(bin, args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), "HOME="+s.dir)
	cmd.SysProcAttr = s.b.id.attr(syscall.SIGKILL)
	return cmd, nil
}

func (s *session) startHogs() error {
	for i := range s.b.hogs {
		cmd, err := s.child("hogs.log", s.b.hog, "-out", s.hogLog(i), "-duration", childOvertime.String())
		if err != nil {
			return err
		}
		p, err := startProc("hog "+strconv.Itoa(i+1), cmd)
		if err != nil {
			return err
		}
		s.hogs = append(s.hogs, p)
	}
	return nil
}

func (s *session) hogLog(i int) string    { return filepath.Join(s.dir, fmt.Sprintf("hog-%d.txt", i+1)) }
func (s *session) frameLog() string       { return filepath.Join(s.dir, "frames.txt") }
func (s *session) pidFile() string        { return filepath.Join(s.dir, "game.pid") }
func (s *session) gameTarget() string     { return "pid:" + strconv.Itoa(s.game.pid) }
func (s *session) hogTarget(i int) string { return "pid:" + strconv.Itoa(s.hogs[i].pid()) }

// startGame launches the frame loop, through `gamesa run` when the bench
// uses it, and waits for its first frame.
func (s *session) startGame(ctx context.Context) error {
	game := []string{s.b.frameloop, "-iters", strconv.FormatInt(s.b.iters, 10), "-out", s.frameLog(),
		"-pidfile", s.pidFile(), "-duration", childOvertime.String()}
	if s.b.viaRun {
		game = append([]string{s.b.gamesa, "run", "--addr", s.agent.grpcAddr, "--class", "game", "--"}, game...)
	}
	cmd, err := s.child("game.log", game[0], game[1:]...)
	if err != nil {
		return err
	}
	if s.launcher, err = startProc("game", cmd); err != nil {
		return err
	}
	deadline := time.Now().Add(gameStartTimeout)
	for {
		b, err := os.ReadFile(s.pidFile())
		if err == nil {
			return s.adoptGame(strings.TrimSpace(string(b)))
		}
		if !s.launcher.running() {
			return fmt.Errorf("the game exited before its first frame (see %s)", filepath.Join(s.out, "game.log"))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the game did not start in %s (see %s)", gameStartTimeout, filepath.Join(s.out, "game.log"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// adoptGame takes hold of the game's process from the pid it wrote: a
// pidfd first, then a check that the pid is the frame loop the launcher
// started, so the pidfd cannot name anything else.
func (s *session) adoptGame(pidText string) error {
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return fmt.Errorf("the game's pid file holds %q", pidText)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("opening the game's process %d: %w", pid, err)
	}
	// The kernel keeps the first 15 bytes of a command's name.
	name := filepath.Base(s.b.frameloop)
	name = name[:min(len(name), 15)]
	st, err := readStat(pid)
	if err != nil || st.comm != name || (pid != s.launcher.pid() && st.ppid != s.launcher.pid()) {
		unix.Close(fd)
		return fmt.Errorf("pid %d is not the frame loop this run started (%+v, %v)", pid, st, err)
	}
	s.game = gameRef{pid: pid, fd: fd}
	return nil
}

// states reads the game's and the hogs' affinity and nice value now.
func (s *session) states() (game procState, hogs []procState, err error) {
	game, err = readProcState(s.game.pid)
	if err != nil {
		return game, nil, err
	}
	for _, h := range s.hogs {
		st, err := readProcState(h.pid())
		if err != nil {
			return game, hogs, err
		}
		hogs = append(hogs, st)
	}
	return game, hogs, nil
}

// cpuSample is the machine's CPU time and that of the run's own
// processes (the harness, the agent, the game and its launcher, the hogs)
// at one moment, in clock ticks.
type cpuSample struct {
	machine machineTicks
	ours    uint64
}

func (s *session) cpuSample() (cpuSample, error) {
	m, err := readMachineTicks()
	if err != nil {
		return cpuSample{}, err
	}
	pids := []int{os.Getpid(), s.agent.pid(), s.launcher.pid()}
	if s.game.pid != s.launcher.pid() {
		pids = append(pids, s.game.pid)
	}
	for _, h := range s.hogs {
		pids = append(pids, h.pid())
	}
	c := cpuSample{machine: m}
	for _, pid := range pids {
		st, err := readStat(pid)
		if err != nil {
			return cpuSample{}, err
		}
		c.ours += st.cpuTicks
	}
	return c, nil
}

// otherCPUs is how many CPUs' worth of time the machine spent between a
// and b on processes outside the run: other people's work, which the
// figures of that run share the machine with.
func otherCPUs(a, b cpuSample, cpus int) float64 {
	elapsed := float64(int64(b.machine.total-a.machine.total)) / float64(cpus)
	if elapsed <= 0 {
		return 0
	}
	other := float64(int64(b.machine.busy-a.machine.busy)) - float64(int64(b.ours-a.ours))
	return max(other, 0) / elapsed
}

// stop ends the game and the hogs together, then the plan watch and the
// agent (which reverts its changes). It is safe to call more than once
// and on a session that started only in part.
func (s *session) stop() error {
	var errs []error
	children := s.hogs
	if s.launcher != nil {
		children = append([]*proc{s.launcher}, children...)
	}
	for _, p := range children {
		if p.running() {
			_ = p.cmd.Process.Signal(syscall.SIGTERM) // stop them all at once; stop waits
		}
	}
	for _, p := range children {
		errs = append(errs, p.stop(childStopGrace))
	}
	if s.game.fd >= 0 {
		// Left behind by a launcher that did not pass SIGTERM on (or
		// already gone: then this does nothing).
		_ = unix.PidfdSendSignal(s.game.fd, unix.SIGKILL, nil, 0)
		unix.Close(s.game.fd)
		s.game.fd = -1
	}
	if s.stopWatch != nil {
		s.stopWatch()
		<-s.watchDone
	}
	if s.agent != nil {
		errs = append(errs, s.agent.stop())
	}
	for _, f := range s.logs {
		f.Close()
	}
	s.logs = nil
	return errors.Join(errs...)
}

// readLogs reads the game's and the hogs' logs, after stop, and keeps a
// copy of each in out.
func (s *session) readLogs() (*measure.FrameLog, []*measure.HogLog, error) {
	b, err := keep(s.frameLog(), s.out)
	if err != nil {
		return nil, nil, err
	}
	frames, err := measure.ReadFrameLog(bytes.NewReader(b))
	if err != nil {
		return nil, nil, fmt.Errorf("the game's log: %w", err)
	}
	hogs := make([]*measure.HogLog, len(s.hogs))
	for i := range s.hogs {
		b, err := keep(s.hogLog(i), s.out)
		if err != nil {
			return nil, nil, err
		}
		if hogs[i], err = measure.ReadHogLog(bytes.NewReader(b)); err != nil {
			return nil, nil, fmt.Errorf("hog %d's log: %w", i+1, err)
		}
	}
	return frames, hogs, nil
}

// keep copies the file at path into dir and returns its content.
func keep(path, dir string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading a result: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.Base(path)), b, 0o644); err != nil {
		return nil, fmt.Errorf("keeping a result: %w", err)
	}
	return b, nil
}
