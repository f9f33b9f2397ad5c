package policy

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/krystalstack/gamesa/optimizer/coord"
	"github.com/krystalstack/gamesa/optimizer/power"
	"github.com/krystalstack/gamesa/optimizer/rules"
)

// The package's sentinel errors; returned errors wrap them.
var (
	// ErrConfig is wrapped by every Config.Validate error.
	ErrConfig = errors.New("policy: invalid config")
	// ErrParts says a part handed to New or SetRules does not fit the
	// pipeline: a rule set without the app classes the config maps to,
	// an invalid power config.
	ErrParts = errors.New("policy: unusable part")
)

// Config holds the pipeline's own numbers: its hysteresis and how the
// coordinator's app classes read in rules. Start from DefaultConfig.
type Config struct {
	// ConfirmTicks is how many consecutive ticks a new or changed value
	// must be asked for before it takes force: a heuristic that flips for
	// a tick or two changes nothing. 1 takes every change at once.
	ConfirmTicks int
	// MinDwell is the least time a value stays in force before a
	// non-urgent change replaces it.
	MinDwell time.Duration
	// Linger is how long a setting stays in force once nothing asks for
	// it; then it is listed in Decision.Release for the node to restore.
	// A setting asked for again within Linger never went away.
	Linger time.Duration
	// UrgentPriority: rules of at least this priority (the default
	// rules' safety rules: heat, battery, anomalies) act at once, as do
	// the cap controller's actions, the user's power mode and whatever a
	// registered app's processes and the foreground group of a
	// registered foreground are asked to do.
	UrgentPriority int
	// Tick is the time the cap controller's first step accounts for:
	// the node's tick period.
	Tick time.Duration
	// RuleClasses names each coordinator class as rules spell it
	// (app.running.<class>, app.foreground.class, app: targets). A class
	// left out has no rule name: its apps count in no app.running feature
	// and no app: target reaches them.
	RuleClasses map[coord.Class]string
}

// DefaultConfig returns three ticks to confirm a change, a 10 s dwell,
// a 15 s linger, urgency from priority 90, a 1 s tick, and the rules'
// default names for the coordinator's classes.
func DefaultConfig() Config {
	return Config{
		ConfirmTicks:   3,
		MinDwell:       10 * time.Second,
		Linger:         15 * time.Second,
		UrgentPriority: 90,
		Tick:           time.Second,
		RuleClasses: map[coord.Class]string{
			coord.ClassGame:       "game",
			coord.ClassVoiceChat:  "voice",
			coord.ClassBrowser:    "browser",
			coord.ClassIDE:        "ide",
			coord.ClassCompiler:   "compile",
			coord.ClassRenderer:   "render",
			coord.ClassStreamer:   "stream",
			coord.ClassBackground: "service",
		},
	}
}

// Validate reports every field out of range.
func (c Config) Validate() error {
	var errs []error
	if c.ConfirmTicks < 1 {
		errs = append(errs, fmt.Errorf("%w: ConfirmTicks = %d: must be ≥ 1", ErrConfig, c.ConfirmTicks))
	}
	if c.MinDwell < 0 {
		errs = append(errs, fmt.Errorf("%w: MinDwell = %v: must be ≥ 0", ErrConfig, c.MinDwell))
	}
	if c.Linger < 0 {
		errs = append(errs, fmt.Errorf("%w: Linger = %v: must be ≥ 0", ErrConfig, c.Linger))
	}
	if c.Tick <= 0 {
		errs = append(errs, fmt.Errorf("%w: Tick = %v: must be > 0", ErrConfig, c.Tick))
	}
	for _, cl := range slices.Sorted(maps.Keys(c.RuleClasses)) {
		name := c.RuleClasses[cl]
		if cl == coord.ClassUnknown || !cl.Valid() {
			errs = append(errs, fmt.Errorf("%w: RuleClasses: %q is not a coordinator class", ErrConfig, string(cl)))
		}
		if !isRuleIdent(name) {
			errs = append(errs, fmt.Errorf("%w: RuleClasses[%s] = %q: not a lower-case rule class name", ErrConfig, cl, name))
		}
	}
	return errors.Join(errs...)
}

// isRuleIdent reports whether s can be a rule app class: lower-case
// letters, digits and '_' ("voice", "compile").
func isRuleIdent(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

// Parts are the pieces the pipeline runs. Start from DefaultParts.
type Parts struct {
	// Rules is the compiled rule set; its Schema is the one features are
	// extracted with. Nil: rules.Default over rules.DefaultConfig.
	Rules *rules.RuleSet
	// Coordinator is the app coordinator, kept for the agent's life (it
	// caches each pid's match). Nil: coord.New(coord.DefaultConfig(),
	// nil, nil).
	Coordinator *coord.Coordinator
	// Modes, AutoSwitch and Cap configure the power mode plans, the
	// automatic mode choice and the cap controller.
	Modes      power.ModeConfig
	AutoSwitch power.AutoSwitchConfig
	Cap        power.CapConfig
}

// DefaultParts returns the power package's default configs; the rules
// and the coordinator are left nil, for New to build their defaults.
func DefaultParts() Parts {
	return Parts{
		Modes:      power.DefaultModeConfig(),
		AutoSwitch: power.DefaultAutoSwitchConfig(),
		Cap:        power.DefaultCapConfig(),
	}
}
