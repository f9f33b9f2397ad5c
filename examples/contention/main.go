// Command contention measures what the agent's enforce mode does for a
// game on a contended machine. A frame loop (the "game": fixed CPU work
// per frame against a 60 fps vsync) runs beside background CPU hogs that
// outnumber the cores, once under an agent in observe mode (which changes
// nothing) and once under one in enforce mode (which gives the game its
// own core and moves the hogs aside), in alternating order, -reps times.
// It reports the game's average fps, p99 frame time and share of missed
// deadlines, and the hogs' throughput, as medians over the repetitions
// with their range.
//
//	make contention                       # builds bin/gamesa and the programs, then runs this
//	bin/contention -reps 5 -duration 20s   # after make contention built it
//
// It builds nothing: -gamesa, -frameloop and -hog name the binaries
// (`make contention` builds them into bin/). Run as root, it runs the game
// and the hogs as uid 1000 (-uid), since the agent only ever changes a
// person's processes; as a normal user, it runs them as that user. Each
// run gets a fresh agent with its own data directory and loopback ports.
// The game starts through `gamesa run`, which registers it with the
// agent, or directly where this gamesa lacks the command (-launch).
// Everything the runs wrote (agent logs, plans, frame and hog logs) stays
// in -out.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// framePeriod is the game's frame budget at 60 fps.
const framePeriod = time.Second / 60

func main() {
	cfg := defaultConfig()
	flag.IntVar(&cfg.reps, "reps", cfg.reps, "repetitions; each runs observe and enforce once")
	flag.DurationVar(&cfg.duration, "duration", cfg.duration, "length of each run")
	flag.DurationVar(&cfg.warmup, "warmup", cfg.warmup, "first part of each run left out of the figures (the agent plans once a second and confirms a change over 3 ticks)")
	flag.IntVar(&cfg.hogs, "hogs", cfg.hogs, "background CPU hogs; must outnumber the CPUs")
	flag.Float64Var(&cfg.work, "work", cfg.work, "share of the 16.67 ms frame budget the game's work takes on the idle machine")
	flag.StringVar(&cfg.gamesa, "gamesa", cfg.gamesa, "the gamesa binary")
	flag.StringVar(&cfg.frameloop, "frameloop", cfg.frameloop, "the frameloop binary")
	flag.StringVar(&cfg.hog, "hog", cfg.hog, "the hog binary")
	flag.StringVar(&cfg.out, "out", cfg.out, "directory for the raw results (default: a new one under $TMPDIR)")
	flag.IntVar(&cfg.uid, "uid", cfg.uid, "uid to run the game and hogs as (default: 1000 as root, else your own)")
	flag.StringVar(&cfg.launch, "launch", cfg.launch, "how to start the game: run (gamesa run), direct, or auto (run where available)")
	flag.Parse()
	if code, waited := detach(); waited {
		os.Exit(code)
	}
	os.Exit(runMain(cfg, orphanReport()))
}

// runMain runs the benchmark and returns the exit status, which it also
// writes to report (detach's pipe) when there is one.
func runMain(cfg config, report *os.File) (code int) {
	if report != nil {
		defer func() { fmt.Fprintf(report, "exit %d\n", code); report.Close() }()
	}
	// Ctrl-C stops the run in progress; the deferred stops end every
	// process the harness started, and the agent reverts its changes.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "contention:", err)
		return 1
	}
	return 0
}

// config is the harness's flags.
type config struct {
	reps                   int
	duration, warmup       time.Duration
	hogs                   int
	work                   float64
	gamesa, frameloop, hog string
	out                    string
	uid                    int
	launch                 string
}

func defaultConfig() config {
	return config{reps: 5, duration: 20 * time.Second, warmup: 5 * time.Second, hogs: 2 * runtime.NumCPU(),
		work: 0.5, gamesa: "bin/gamesa", frameloop: "bin/frameloop", hog: "bin/hog", uid: -1, launch: "auto"}
}

// Launch choices.
const (
	launchAuto   = "auto"
	launchRun    = "run"
	launchDirect = "direct"
)

func (c config) validate() error {
	var errs []error
	if c.reps < 1 {
		errs = append(errs, fmt.Errorf("-reps %d: want at least 1", c.reps))
	}
	if c.warmup < 0 || c.duration <= c.warmup {
		errs = append(errs, fmt.Errorf("-duration %s must be longer than -warmup %s", c.duration, c.warmup))
	}
	if cpus := runtime.NumCPU(); c.hogs <= cpus {
		errs = append(errs, fmt.Errorf("-hogs %d must outnumber the %d CPUs", c.hogs, cpus))
	}
	if c.work <= 0 || c.work >= 1 {
		errs = append(errs, fmt.Errorf("-work %v: want a share of the frame budget in (0, 1)", c.work))
	}
	if !slices.Contains([]string{launchAuto, launchRun, launchDirect}, c.launch) {
		errs = append(errs, fmt.Errorf("-launch %q: want auto, run or direct", c.launch))
	}
	for _, bin := range []string{c.gamesa, c.frameloop, c.hog} {
		if _, err := os.Stat(bin); err != nil {
			errs = append(errs, fmt.Errorf("%w (`make contention` builds the binaries)", err))
		}
	}
	return errors.Join(errs...)
}

// run is the whole benchmark: calibrate, run every repetition, report.
func run(ctx context.Context, cfg config, w io.Writer) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	b, cleanup, err := newBench(ctx, cfg)
	if err != nil {
		return err
	}
	defer cleanup()
	out := cfg.out
	if out == "" {
		if out, err = os.MkdirTemp("", "gamesa-contention-results-"); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	how := "directly: this gamesa has no `run` command, so nothing tells the agent which process is the game"
	if b.viaRun {
		how = "with `gamesa run` (registered with the agent)"
	}
	fmt.Fprintf(w, "contention: %d reps of %s (first %s left out), %d hogs on %d CPUs, uid %d\n",
		cfg.reps, cfg.duration, cfg.warmup, cfg.hogs, runtime.NumCPU(), b.id.uid)
	fmt.Fprintf(w, "game: %d iterations a frame (%.0f%% of %.2f ms on the idle machine), started %s\n",
		b.iters, 100*cfg.work, float64(framePeriod)/float64(time.Millisecond), how)

	var results []runResult
	for rep := 1; rep <= cfg.reps; rep++ {
		order := slices.Clone(modes)
		if rep%2 == 0 {
			slices.Reverse(order)
		}
		for _, mode := range order {
			r, err := b.runOnce(ctx, cfg, rep, mode, filepath.Join(out, fmt.Sprintf("rep%d-%s", rep, mode)))
			if err != nil {
				return fmt.Errorf("rep %d, %s: %w", rep, mode, err)
			}
			fmt.Fprintln(w, r.line())
			results = append(results, r)
		}
	}
	fillHogShares(results)
	sums := summarize(results)
	fmt.Fprintln(w)
	if err := printTable(w, sums); err != nil {
		return err
	}
	if g, ok := gain(sums); ok {
		fmt.Fprintf(w, "enforce vs observe: %+.0f%% fps (medians)\n", 100*g)
	}
	fmt.Fprintln(w, "raw results:", out)
	return writeJSON(filepath.Join(out, "results.json"), map[string]any{
		"reps": cfg.reps, "duration": cfg.duration.String(), "warmup": cfg.warmup.String(), "hogs": cfg.hogs,
		"cpus": runtime.NumCPU(), "work_share": cfg.work, "iters": b.iters, "via_gamesa_run": b.viaRun,
		"runs": results, "summary": sums,
	})
}

// newBench prepares what the runs share: a scratch directory, the
// binaries where the game's user can run them, the launch method and the
// calibrated work. cleanup removes the scratch directory.
func newBench(ctx context.Context, cfg config) (b *bench, cleanup func(), err error) {
	id, err := chooseIdentity(cfg.uid)
	if err != nil {
		return nil, nil, err
	}
	scratch, err := os.MkdirTemp("", "gamesa-contention-")
	if err != nil {
		return nil, nil, err
	}
	cleanup = func() { os.RemoveAll(scratch) }
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	// The game's user must reach its files and binaries in here.
	if err := os.Chmod(scratch, 0o755); err != nil {
		return nil, nil, err
	}
	b = &bench{id: id, hogs: cfg.hogs, scratch: scratch}
	if b.gamesa, b.frameloop, b.hog, err = installBinaries(id, scratch, cfg.gamesa, cfg.frameloop, cfg.hog); err != nil {
		return nil, nil, err
	}
	switch cfg.launch {
	case launchRun:
		b.viaRun = true
	case launchAuto:
		b.viaRun = hasCommand(ctx, b.gamesa, "run")
	}
	b.explain = hasCommand(ctx, b.gamesa, "explain")
	if b.iters, err = calibrate(ctx, b.frameloop, time.Duration(cfg.work*float64(framePeriod))); err != nil {
		return nil, nil, err
	}
	return b, cleanup, nil
}

// installBinaries returns paths of the binaries the identity can run:
// as given when it is the harness's own user, else copies in dir (the
// originals may sit in a directory only root can enter).
func installBinaries(id identity, dir string, bins ...string) (string, string, string, error) {
	out := make([]string, len(bins))
	if id.switched {
		dir = filepath.Join(dir, "bin")
		if err := os.Mkdir(dir, 0o755); err != nil {
			return "", "", "", err
		}
	}
	for i, bin := range bins {
		abs, err := filepath.Abs(bin)
		if err != nil {
			return "", "", "", err
		}
		out[i] = abs
		if !id.switched {
			continue
		}
		b, err := os.ReadFile(abs)
		if err != nil {
			return "", "", "", fmt.Errorf("copying a binary for uid %d: %w", id.uid, err)
		}
		// Same base names: the game's is what the agent sees as its name.
		out[i] = filepath.Join(dir, filepath.Base(bin))
		if slices.Contains(out[:i], out[i]) {
			return "", "", "", fmt.Errorf("two binaries named %s", filepath.Base(bin))
		}
		if err := os.WriteFile(out[i], b, 0o755); err != nil {
			return "", "", "", fmt.Errorf("copying a binary for uid %d: %w", id.uid, err)
		}
	}
	return out[0], out[1], out[2], nil
}

// hasCommand reports whether the gamesa binary has a subcommand.
func hasCommand(ctx context.Context, gamesa, name string) bool {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, gamesa, name, "--help").Run() == nil
}

// calibrate asks the frame loop for the iteration count of a frame's work,
// three times before any hog starts, and takes the largest: the least
// disturbed by whatever else the machine runs.
func calibrate(ctx context.Context, frameloop string, work time.Duration) (int64, error) {
	var counts []int64
	for range 3 {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		out, err := exec.CommandContext(ctx, frameloop, "-calibrate", "-work", work.String()).Output()
		cancel()
		if err != nil {
			return 0, fmt.Errorf("calibrating the game: %w", err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("calibrating the game: it printed %q", out)
		}
		counts = append(counts, n)
	}
	return slices.Max(counts), nil
}

// runOnce is one run: a fresh agent in mode, the hogs and the game for the
// run's duration; then a record of what the agent planned and applied,
// and the figures after the warm-up.
func (b *bench) runOnce(ctx context.Context, cfg config, rep int, mode, out string) (runResult, error) {
	res := runResult{Rep: rep, Mode: mode}
	s, err := b.startSession(ctx, mode, fmt.Sprintf("rep%d-%s", rep, mode), out)
	if err != nil {
		return res, err
	}
	defer s.stop()
	if err := sleep(ctx, cfg.warmup); err != nil {
		return res, err
	}
	before, err := s.cpuSample()
	if err != nil {
		return res, err
	}
	if err := sleep(ctx, cfg.duration-cfg.warmup); err != nil {
		return res, err
	}
	end := time.Now()
	after, err := s.cpuSample()
	if err != nil {
		return res, err
	}
	res.OtherCPUs = otherCPUs(before, after, runtime.NumCPU())
	// What the agent did, recorded after the window so that it costs the
	// measured part nothing.
	if res.Game, res.Hogs, err = s.states(); err != nil {
		return res, fmt.Errorf("reading the game's and hogs' state: %w", err)
	}
	res.Applied = s.countApplied()
	if err := s.snapshot(ctx); err != nil {
		return res, err
	}
	if err := s.stop(); err != nil {
		return res, err
	}
	frames, hogs, err := s.readLogs()
	if err != nil {
		return res, err
	}
	from := frames.Origin.Add(cfg.warmup)
	res.Frames = frames.Summarize(from, end)
	if res.Frames.Frames == 0 {
		return res, fmt.Errorf("no frame in the window after the warm-up (see %s)", out)
	}
	for i, h := range hogs {
		r, err := h.Rate(from, end)
		if err != nil {
			return res, fmt.Errorf("hog %d: %w", i+1, err)
		}
		res.HogRate += r
	}
	return res, writeJSON(filepath.Join(out, "result.json"), res)
}

// sleep waits for d, or less when ctx ends (with its error).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// countApplied counts the distinct actions on the game and the hogs the
// agent reported applied.
func (s *session) countApplied() int {
	targets := map[string]bool{s.gameTarget(): true}
	for i := range s.hogs {
		targets[s.hogTarget(i)] = true
	}
	n := 0
	for _, r := range s.watch.results("") {
		if targets[r.Target] && r.Status == statusApplied {
			n++
		}
	}
	return n
}

// snapshot saves what the agent planned, and why, with its own client:
// `gamesa plan -o json`, `gamesa explain -o json` where it exists, and
// every distinct action outcome the plan watch saw.
func (s *session) snapshot(ctx context.Context) error {
	plan, err := s.agent.cli(ctx, s.b.gamesa, "plan", "-o", "json")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.out, "plan.json"), plan, 0o644); err != nil {
		return err
	}
	if s.b.explain {
		explain, err := s.agent.cli(ctx, s.b.gamesa, "explain", "-o", "json")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(s.out, "explain.json"), explain, 0o644); err != nil {
			return err
		}
	}
	return writeJSON(filepath.Join(s.out, "applied.json"), s.watch.results(""))
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	return nil
}
