package actuators

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config says where the machine's files are, which processes may be
// touched, and the bounds of the knobs. Start from DefaultConfig, set
// JournalPath, and call Validate (Open does).
type Config struct {
	// Proc, Sys, Dev and Run stand for /proc, /sys, /dev and /run, so tests
	// point them at fixture trees. Process knobs also make system calls on
	// the pids found under Proc, so those work only with the real /proc.
	Proc, Sys, Dev, Run string

	// CgroupRoot is where cgroups are mounted. cgroup v2 is used when
	// CgroupRoot/cgroup.controllers exists, with the controllers that
	// CgroupRoot/cgroup.subtree_control enables for its children;
	// otherwise the v1 controllers CgroupRoot/cpu (or cpu,cpuacct) and
	// CgroupRoot/cpuset.
	CgroupRoot string
	// CgroupName is the GAMESA-owned hierarchy below CgroupRoot (v2) or
	// below each v1 controller's mount. One path element.
	CgroupName string
	// CgroupGroups are the groups inside CgroupName that knobs may target
	// ("foreground", "background"). Each is one path element.
	CgroupGroups []string

	// JournalPath is the crash-safe journal's file, in the agent's data
	// directory. Required. A lock file JournalPath+".lock" sits beside it.
	JournalPath string
	// Salvage opens a corrupt journal instead of failing: the records
	// before the damage are loaded as pending, as after a crash, the
	// damaged file is kept as JournalPath+".corrupt", and Recover or
	// DiscardJournal then decides. Set it only when a person asked to.
	Salvage bool

	// Scope is which processes may be touched.
	Scope Scope
	// SelfPID is the agent's own pid, never touched. Defaults to
	// os.Getpid().
	SelfPID int

	// MinNice is the lowest nice value (highest priority) a plan may set;
	// lower asks are clamped to it. -10 by default.
	MinNice int
	// MinOOMScoreAdj is the lowest oom_score_adj a plan may set; lower
	// asks are clamped to it. -500 by default: a process can be shielded
	// from the OOM killer but never made immune (-1000).
	MinOOMScoreAdj int
	// AllowRealtime permits the real-time scheduling policies (fifo, rr)
	// and the real-time I/O class. Off by default: a runaway real-time
	// thread can starve the machine.
	AllowRealtime bool
	// RespectTuners leaves alone every knob that a running tuner
	// (gamemoded, tuned, power-profiles-daemon, ...) manages. On by
	// default.
	RespectTuners bool
	// TunerRescan is how often Apply looks for tuners again. 10 s by
	// default.
	TunerRescan time.Duration
	// RAPLFloorUW is the lowest RAPL power limit a plan may set, in µW;
	// lower asks are clamped to it. 5 W by default: powercap exposes no
	// minimum, and below a few watts a package stops being usable.
	RAPLFloorUW uint64

	// GPUs is the NVIDIA power-limit interface (see NewNVML); nil means
	// the host has no NVIDIA GPU. The caller owns it and closes it.
	GPUs GPUPower
	// Logger receives one line per change and per revert; nil discards.
	Logger *slog.Logger
}

// Scope selects the processes that process and cgroup membership knobs may
// change. PID 1, kernel threads and Config.SelfPID are never in scope,
// whatever Scope says.
type Scope struct {
	// MinUID and MaxUID bound the human users' UIDs: a process whose real
	// and effective UIDs both fall in [MinUID, MaxUID] is in scope.
	// MaxUID < MinUID turns the rule off. 1000 and 59999 by default, the
	// range Debian and Fedora give to people (65534 "nobody" is outside).
	MinUID, MaxUID uint32
	// UIDs, PIDs and Names opt further processes in: by real UID, by pid,
	// or by command name (/proc/<pid>/comm, exact).
	UIDs  []uint32
	PIDs  []int
	Names []string
}

// DefaultConfig returns the real machine's paths, the default bounds and
// scope, and no JournalPath: the caller sets it to a file in its data
// directory.
func DefaultConfig() Config {
	return Config{
		Proc:           "/proc",
		Sys:            "/sys",
		Dev:            "/dev",
		Run:            "/run",
		CgroupRoot:     "/sys/fs/cgroup",
		CgroupName:     "gamesa",
		CgroupGroups:   []string{"foreground", "background"},
		Scope:          Scope{MinUID: 1000, MaxUID: 59999},
		SelfPID:        os.Getpid(),
		MinNice:        -10,
		MinOOMScoreAdj: -500,
		RespectTuners:  true,
		TunerRescan:    10 * time.Second,
		RAPLFloorUW:    5_000_000,
	}
}

// Validate reports every field that is missing or out of range.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	for _, r := range []struct{ name, val string }{
		{"Proc", c.Proc}, {"Sys", c.Sys}, {"Dev", c.Dev}, {"Run", c.Run}, {"CgroupRoot", c.CgroupRoot},
	} {
		if r.val == "" {
			bad("%s is empty", r.name)
		}
	}
	if c.JournalPath == "" {
		bad("JournalPath is empty: set it to a file in the data directory")
	} else if filepath.Base(c.JournalPath) == "." || strings.HasSuffix(c.JournalPath, "/") {
		bad("JournalPath %q names a directory, not a file", c.JournalPath)
	}
	if !isPathElem(c.CgroupName) {
		bad("CgroupName %q is not one path element", c.CgroupName)
	}
	seen := map[string]bool{}
	for _, g := range c.CgroupGroups {
		if !isPathElem(g) {
			bad("CgroupGroups: %q is not one path element", g)
		}
		if seen[g] {
			bad("CgroupGroups: %q twice", g)
		}
		seen[g] = true
	}
	if c.SelfPID <= 0 {
		bad("SelfPID %d: want the agent's pid", c.SelfPID)
	}
	if c.MinNice < -20 || c.MinNice > 19 {
		bad("MinNice %d outside [-20, 19]", c.MinNice)
	}
	if c.MinOOMScoreAdj < -1000 || c.MinOOMScoreAdj > 1000 {
		bad("MinOOMScoreAdj %d outside [-1000, 1000]", c.MinOOMScoreAdj)
	}
	if c.TunerRescan <= 0 {
		bad("TunerRescan %v: want > 0", c.TunerRescan)
	}
	for _, p := range c.Scope.PIDs {
		if p <= 0 {
			bad("Scope.PIDs: %d is not a pid", p)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("actuators: invalid config: %w", errors.Join(errs...))
	}
	return nil
}

// isPathElem reports whether s is one usable directory name.
func isPathElem(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\x00")
}
