package coord

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Config holds the coordinator's numbers. Start from DefaultConfig.
type Config struct {
	// MinNice is the lowest nice value a plan sets, the actuators' own
	// floor (actuators.Config.MinNice, -10 by default): a plan below it
	// would only be clamped.
	MinNice int
	// The nice values of each role. A boost (a value below 0) is not
	// planned for a process that is already at or below it, and a
	// demotion not for one already at or above it, so a user's own renice
	// stands.
	GameNice       int
	VoiceNice      int
	StreamerNice   int
	ForegroundNice int
	HogNice        int
	BackgroundNice int
	// The I/O priorities of each role, in process.ioprio's spelling:
	// "none", "idle", "be/0".."be/7". Real-time classes are not allowed
	// here: a plan never asks for them.
	GameIOPrio       string
	VoiceIOPrio      string
	StreamerIOPrio   string
	ForegroundIOPrio string
	HogIOPrio        string
	BackgroundIOPrio string
	// ForegroundWeight and BackgroundWeight are the cgroup v2 CPU weights
	// (1..10000, the kernel's default 100) of the "foreground" and
	// "background" groups.
	ForegroundWeight int
	BackgroundWeight int
	// HogCPUPercent is the CPU use (summed over an app's processes, 100 =
	// one logical CPU) from which an app beside a foreground game or app
	// is moved out of its way.
	HogCPUPercent float64
	// HogKeepCPUPercent is the CPU use down to which an app moved out of
	// the way stays there (see Input.PrevHogs): the band between it and
	// HogCPUPercent keeps a hog from bouncing in and out.
	HogKeepCPUPercent float64
	// GameCoreShare is the share of physical cores the game gets on a
	// machine with one last-level cache and uniform cores; the rest run
	// everything else. StreamGameCoreShare replaces it while an encoder
	// runs beside the game, since the encoder must keep pace too.
	GameCoreShare       float64
	StreamGameCoreShare float64
	// VoiceReserveCPUs are the logical CPUs kept free of hogs for voice
	// chat beside a game, taken from the non-game side of the split.
	VoiceReserveCPUs int
	// CmdlineScanBytes bounds how far into a command line the rules
	// look: what identifies a program sits in its first arguments, and
	// a browser's command line runs to kilobytes. 0 means all of it.
	CmdlineScanBytes int
	// FallbackMinCPUPercent is the CPU use from which an app no rule
	// matched is handed to the Fallback classifier; an idle unknown app
	// changes no policy.
	FallbackMinCPUPercent float64
}

// DefaultConfig returns the values the package documents.
func DefaultConfig() Config {
	return Config{
		MinNice:               -10,
		GameNice:              -10,
		VoiceNice:             -5,
		StreamerNice:          -5,
		ForegroundNice:        -5,
		HogNice:               10,
		BackgroundNice:        15,
		GameIOPrio:            "be/0",
		VoiceIOPrio:           "be/1",
		StreamerIOPrio:        "be/2",
		ForegroundIOPrio:      "be/2",
		HogIOPrio:             "be/6",
		BackgroundIOPrio:      "idle",
		ForegroundWeight:      1000,
		BackgroundWeight:      20,
		HogCPUPercent:         20,
		HogKeepCPUPercent:     5,
		GameCoreShare:         0.75,
		StreamGameCoreShare:   0.5,
		VoiceReserveCPUs:      1,
		CmdlineScanBytes:      512,
		FallbackMinCPUPercent: 1,
	}
}

// Validate reports every field out of range.
func (c Config) Validate() error {
	var errs []error
	bad := func(name string, v any, want string) {
		errs = append(errs, fmt.Errorf("%w: %s = %v: %s", ErrConfig, name, v, want))
	}
	if c.MinNice < -20 || c.MinNice > 19 {
		bad("MinNice", c.MinNice, "must be within -20..19")
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"GameNice", c.GameNice}, {"VoiceNice", c.VoiceNice}, {"StreamerNice", c.StreamerNice},
		{"ForegroundNice", c.ForegroundNice}, {"HogNice", c.HogNice}, {"BackgroundNice", c.BackgroundNice}} {
		if n.v < c.MinNice || n.v > 19 {
			bad(n.name, n.v, fmt.Sprintf("must be within MinNice..19 (%d..19)", c.MinNice))
		}
	}
	for _, p := range []struct{ name, v string }{{"GameIOPrio", c.GameIOPrio}, {"VoiceIOPrio", c.VoiceIOPrio},
		{"StreamerIOPrio", c.StreamerIOPrio}, {"ForegroundIOPrio", c.ForegroundIOPrio},
		{"HogIOPrio", c.HogIOPrio}, {"BackgroundIOPrio", c.BackgroundIOPrio}} {
		if !validIOPrio(p.v) {
			bad(p.name, fmt.Sprintf("%q", p.v), `must be "none", "idle" or "be/0".."be/7"`)
		}
	}
	for _, w := range []struct {
		name string
		v    int
	}{{"ForegroundWeight", c.ForegroundWeight}, {"BackgroundWeight", c.BackgroundWeight}} {
		if w.v < 1 || w.v > 10000 {
			bad(w.name, w.v, "must be within 1..10000")
		}
	}
	if !(c.HogKeepCPUPercent >= 0 && c.HogKeepCPUPercent <= c.HogCPUPercent) {
		bad("HogKeepCPUPercent", c.HogKeepCPUPercent, "must be between 0 and HogCPUPercent")
	}
	if !(c.HogCPUPercent >= 0) {
		bad("HogCPUPercent", c.HogCPUPercent, "must be ≥ 0")
	}
	if !(c.FallbackMinCPUPercent >= 0) {
		bad("FallbackMinCPUPercent", c.FallbackMinCPUPercent, "must be ≥ 0")
	}
	if !(c.GameCoreShare > 0 && c.GameCoreShare < 1) {
		bad("GameCoreShare", c.GameCoreShare, "must be within (0, 1)")
	}
	if !(c.StreamGameCoreShare > 0 && c.StreamGameCoreShare < 1) {
		bad("StreamGameCoreShare", c.StreamGameCoreShare, "must be within (0, 1)")
	}
	if c.VoiceReserveCPUs < 0 {
		bad("VoiceReserveCPUs", c.VoiceReserveCPUs, "must be ≥ 0")
	}
	if c.CmdlineScanBytes < 0 {
		bad("CmdlineScanBytes", c.CmdlineScanBytes, "must be ≥ 0 (0: all)")
	}
	return errors.Join(errs...)
}

func validIOPrio(s string) bool {
	if s == "none" || s == "idle" {
		return true
	}
	lvl, ok := strings.CutPrefix(s, "be/")
	if !ok || len(lvl) != 1 {
		return false
	}
	n, err := strconv.Atoi(lvl)
	return err == nil && n >= 0 && n <= 7
}
