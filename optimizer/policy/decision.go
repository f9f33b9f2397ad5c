package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/krystalstack/gamesa/optimizer/coord"
	"github.com/krystalstack/gamesa/optimizer/power"
	"github.com/krystalstack/gamesa/optimizer/rules"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Key names one setting: a knob on a target, as plan.proto spells them
// ("process.nice" "pid:1234", "cpufreq.governor" "cpu3").
type Key struct {
	Knob, Target string
}

// String returns "knob target", or the knob alone for a global one.
func (k Key) String() string {
	if k.Target == "" {
		return k.Knob
	}
	return k.Knob + " " + k.Target
}

// Source is a part of the pipeline that asks for settings. Where two ask
// for one knob and target, the higher Source wins: the cap controller,
// then rules, then the app coordinator, then the power mode.
type Source uint8

// The sources, lowest precedence first.
const (
	SourceNone Source = iota
	// SourceMode is the power mode's plan (power.ModeConfig.PlanFor).
	SourceMode
	// SourceCoordinator is the app coordinator's scenario plan.
	SourceCoordinator
	// SourceRule is a rule's action.
	SourceRule
	// SourceCap is the cap controller's power limits. On a limit knob
	// (RAPL, NVML, cpufreq.max_khz) a cap is a ceiling: a lower value
	// another part asks for stands.
	SourceCap
)

// String names the source as reasons and the API spell it.
func (s Source) String() string {
	switch s {
	case SourceMode:
		return "mode"
	case SourceCoordinator:
		return "coordinator"
	case SourceRule:
		return "rule"
	case SourceCap:
		return "power cap"
	}
	return "none"
}

// Decision is what the pipeline decided at one tick. The node applies
// Plan (the actuators skip what already holds) and restores each knob in
// Release; the rest explains. Keep a Decision as long as needed, but
// treat it as read-only: a plan action that did not change since the
// previous tick is the same *Action in both decisions (and a plan whose
// actions all stayed shares the previous plan's list of them), Held,
// Overruled, Notes, Fired and the coordinator's Apps are the previous
// decision's while they read the same, and reasons slices are shared with
// the parts that wrote them. The apps' CPUPercent and RSSBytes are the
// one exception to keeping: they hold until the next Decide, which
// writes its sums in the same apps while the apps stay the same (the
// processes, their grouping and classes); read them, or copy the apps
// (Proto does), before deciding again.
type Decision struct {
	Time time.Time
	// Plan is every setting in force after hysteresis, with its reasons,
	// in the order to apply them: the mode's knobs (the firmware profile
	// first), the cap's limits, the coordinator's groups and processes,
	// the rules' own knobs, then settings that linger. Plan.Mode is the
	// mode in force.
	Plan *gamesav1.Plan
	// Mode is the power mode in force and ModeReason why.
	Mode       power.Mode
	ModeReason string
	// Scenario, Apps, Foreground (an index into Apps, or -1) and
	// ForegroundBy are the coordinator's view of this tick (the apps'
	// sums until the next Decide).
	Scenario     string
	Apps         []coord.App
	Foreground   int
	ForegroundBy string
	// Cap is the power cap of this tick.
	Cap Cap
	// Fired are the rules that fired, in resolution order; each says why
	// with Reason.
	Fired []rules.Fired
	// Overruled are the requests that lost a conflict.
	Overruled []Overruled
	// Held are the changes hysteresis holds back.
	Held []Held
	// Release are the settings to give back: restore their original
	// values.
	Release []Released
	// Notes say what was left undone and why.
	Notes []string
}

// ForegroundApp returns the foreground app, or nil.
func (d *Decision) ForegroundApp() *coord.App {
	if d.Foreground < 0 || d.Foreground >= len(d.Apps) {
		return nil
	}
	return &d.Apps[d.Foreground]
}

// Cap is the node's power cap at one tick.
type Cap struct {
	// ClusterWatts is the node's share of the cluster's budget (input),
	// RuleWatts a rule's cap_power and Rule its name; 0 and "" for none.
	ClusterWatts, RuleWatts float64
	Rule                    string
	// Watts is the lower of the two that are set, 0 when neither is: what
	// the cap controller steers to.
	Watts float64
	// State is the cap controller's report of its step.
	State power.CapState
}

// Overruled is a request that lost its knob and target to another part.
type Overruled struct {
	Key
	// Source asked for Value, for Reasons.
	Source  Source
	Value   string
	Reasons []string
	// By is the part whose value, ByValue, won.
	By      Source
	ByValue string
}

// HoldKind says why a change waits.
type HoldKind uint8

// The reasons a change waits.
const (
	// HoldConfirm: the value has not been asked for ConfirmTicks ticks in
	// a row yet.
	HoldConfirm HoldKind = iota + 1
	// HoldDwell: the value in force took force less than MinDwell ago.
	HoldDwell
	// HoldLinger: nothing asks for the setting any more; it stays until
	// Linger has passed since it was last asked for.
	HoldLinger
)

// Held is a change that hysteresis does not make yet.
type Held struct {
	Key
	// Value is in force ("" when GAMESA has not set the knob); Wanted is
	// asked for by Source ("" for HoldLinger).
	Value, Wanted string
	Source        Source
	Kind          HoldKind
	// Count of Need ticks asked for (HoldConfirm); Until is when the
	// dwell or the linger ends (HoldDwell, HoldLinger).
	Count, Need int
	Until       time.Time
}

// Why says in words why the change waits, relative to now (the
// decision's time).
func (h Held) Why(now time.Time) string {
	switch h.Kind {
	case HoldConfirm:
		return fmt.Sprintf("asked for %d of %d ticks in a row", h.Count, h.Need)
	case HoldDwell:
		return fmt.Sprintf("%s took force recently; holds %v more", h.Value, h.Until.Sub(now).Round(time.Millisecond))
	case HoldLinger:
		return fmt.Sprintf("no longer asked for; released in %v unless asked again", h.Until.Sub(now).Round(time.Millisecond))
	}
	return "held"
}

// Released is a setting GAMESA gives back.
type Released struct {
	Key
	// Value was in force; Original is what the knob held before GAMESA
	// first set it, "" when the inputs did not show it.
	Value, Original string
	// LastAsked is the last tick that asked for the setting.
	LastAsked time.Time
}

// Why says why the setting is given back, relative to now.
func (r Released) Why(now time.Time) string {
	return fmt.Sprintf("not asked for since %v ago", now.Sub(r.LastAsked).Round(time.Millisecond))
}

// Proto converts the decision for the API (ExplainDecision, the decision
// history). The plan's actions are shared, not copied, unless one holds
// text that is not UTF-8 (a process name from /proc is any bytes): the
// message then carries a copy with the bad bytes replaced, so that it
// always marshals.
func (d *Decision) Proto() *gamesav1.Decision {
	out := &gamesav1.Decision{
		Time:         timestamppb.New(d.Time),
		Mode:         d.Mode.String(),
		ModeReason:   valid(d.ModeReason),
		Scenario:     valid(d.Scenario),
		ForegroundBy: valid(d.ForegroundBy),
		Actions:      validActions(d.Plan.GetActions()),
		Notes:        validAll(d.Notes),
		Cap: &gamesav1.DecisionCap{
			ClusterWatts: d.Cap.ClusterWatts, RuleWatts: d.Cap.RuleWatts, Rule: d.Cap.Rule, Watts: d.Cap.Watts,
			MeasuredWatts: d.Cap.State.MeasuredWatts, Engaged: d.Cap.State.Engaged, Infeasible: d.Cap.State.Infeasible,
		},
	}
	out.Apps = make([]*gamesav1.DecisionApp, len(d.Apps))
	for i := range d.Apps {
		out.Apps[i] = appProto(&d.Apps[i])
	}
	if fg := d.ForegroundApp(); fg != nil {
		out.Foreground = out.Apps[d.Foreground]
	}
	for _, f := range d.Fired {
		out.Fired = append(out.Fired, &gamesav1.FiredRule{Name: f.Rule.Name, Priority: int32(f.Rule.Priority), Reason: valid(f.Reason())})
	}
	for _, o := range d.Overruled {
		out.Overruled = append(out.Overruled, &gamesav1.OverruledAction{Knob: valid(o.Knob), Target: valid(o.Target), Value: valid(o.Value),
			Source: o.Source.String(), Reasons: validAll(o.Reasons), By: o.By.String(), ByValue: valid(o.ByValue)})
	}
	for _, h := range d.Held {
		out.Held = append(out.Held, &gamesav1.HeldChange{Knob: valid(h.Knob), Target: valid(h.Target), Value: valid(h.Value),
			Wanted: valid(h.Wanted), Source: h.Source.String(), Why: valid(h.Why(d.Time))})
	}
	for _, r := range d.Release {
		out.Released = append(out.Released, &gamesav1.ReleasedSetting{Knob: valid(r.Knob), Target: valid(r.Target), Value: valid(r.Value),
			Original: valid(r.Original), Why: r.Why(d.Time)})
	}
	return out
}

func appProto(a *coord.App) *gamesav1.DecisionApp {
	return &gamesav1.DecisionApp{Class: a.Class.String(), Name: valid(a.Name), Root: a.Root, Pids: a.PIDs, CpuPercent: a.CPUPercent,
		RssBytes: a.RSSBytes, Rule: valid(a.Rule), Registered: a.Registered, Priority: a.Priority}
}

// valid returns s with every byte sequence that is not UTF-8 replaced.
func valid(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// validAll returns ss, or a copy with its bad strings made valid.
func validAll(ss []string) []string {
	i := slices.IndexFunc(ss, func(s string) bool { return !utf8.ValidString(s) })
	if i < 0 {
		return ss
	}
	out := slices.Clone(ss)
	for ; i < len(out); i++ {
		out[i] = valid(out[i])
	}
	return out
}

// validActions returns acts, or a copy with each action that holds bad
// text replaced by a valid copy.
func validActions(acts []*gamesav1.Action) []*gamesav1.Action {
	var out []*gamesav1.Action
	for i, a := range acts {
		ok := utf8.ValidString(a.GetKnob()) && utf8.ValidString(a.GetTarget()) && utf8.ValidString(a.GetValue())
		for _, r := range a.GetReasons() {
			ok = ok && utf8.ValidString(r)
		}
		if ok {
			continue
		}
		if out == nil {
			out = slices.Clone(acts)
		}
		out[i] = &gamesav1.Action{Knob: valid(a.GetKnob()), Target: valid(a.GetTarget()), Value: valid(a.GetValue()), Reasons: validAll(a.GetReasons())}
	}
	if out == nil {
		return acts
	}
	return out
}
