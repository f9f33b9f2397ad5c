package policy

import (
	"slices"
	"time"

	"github.com/krystalstack/gamesa/internal/cpulist"
	"github.com/krystalstack/gamesa/internal/strs"
	"github.com/krystalstack/gamesa/optimizer/coord"
	"github.com/krystalstack/gamesa/optimizer/power"
	"github.com/krystalstack/gamesa/optimizer/rules"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// decideMode settles the power mode: the user's override, else a rule's
// `mode:`, else AutoSwitch's choice from the power source, with the
// hysteresis of a setting.
func (p *Pipeline) decideMode(d *Decision, host power.Host, res *rules.Result, now time.Time) {
	auto := p.auto.Update(host, now)
	want, why, src, urgent := auto.Mode, auto.Reason, SourceMode, auto.Changed
	if _, user := p.auto.Override(); user {
		urgent = true
	} else if m, ok := res.Mode(); ok {
		rd := ruleAction(res, rules.KnobPowerMode)
		why, _ = p.ruleReason(rd)
		want, src = m, SourceRule
		urgent = rd.Rule.Priority >= p.cfg.UrgentPriority
	}
	// The first tick adopts a mode at once: there must be one. The
	// user's request, to set or to clear a choice, acts at once too.
	urgent = urgent || p.mode.value == "" || p.userChanged
	p.userChanged = false
	p.mode.tick = p.tick
	if len(p.modeWhy) == 0 || p.modeWhy[0] != why {
		p.modeWhy = []string{why}
	}
	p.step(d, &p.mode, want.String(), p.modeWhy, src, urgent, now, nil)
	d.Mode = modeNamed(p.mode.value)
	d.ModeReason = p.mode.reasons[0]
}

// modeNamed returns the mode whose String is name, as the pipeline
// writes the mode in force; power.ParseMode, which also reads what users
// write, allocates on every call.
func modeNamed(name string) power.Mode {
	for _, m := range power.Modes() {
		if m.String() == name {
			return m
		}
	}
	m, _ := power.ParseMode(name) // not a name the pipeline writes; the zero Mode if none
	return m
}

// ruleAction returns the winning rule action on a pseudo-knob.
func ruleAction(res *rules.Result, knob string) rules.Decision {
	for _, a := range res.Actions {
		if a.Knob == knob {
			return a
		}
	}
	return rules.Decision{}
}

// gameCores are the CPUs GAMING's per-core settings go to: the
// foreground game's side of this tick's split or, with no game in front,
// the foreground's cpuset while it lingers, so that a GAMING mode held
// after the game exits keeps its settings on the cores the game had
// rather than spreading them to every CPU. Nil means every CPU.
func (p *Pipeline) gameCores(cd *coord.Decision) []int {
	if fg := cd.ForegroundApp(); fg != nil && fg.Class == coord.ClassGame {
		return cd.FirstCPUs
	}
	if e := p.entries[Key{coord.KnobCgroupCPUSet, coord.GroupForeground}]; e != nil && e.value != "" {
		if cpus, err := cpulist.Parse(e.value); err == nil {
			return cpus
		}
	}
	return nil
}

// knobBacklight is the one knob whose mode plan depends on its value:
// MaxBattery dims it only when it is brighter.
const knobBacklight = "backlight.brightness"

// modePlan is the mode's plan of the last tick, with what it was made
// from: PlanFor runs again only when the mode, its reason, the game's
// cores or the knobs (all but their values) change, which in a steady
// state they do not.
type modePlan struct {
	valid     bool
	mode      power.Mode
	reason    string
	gameCores []int
	// view holds the knobs as PlanFor last saw them, in objects reused
	// from tick to tick; backlights are the indices of the backlights
	// among them.
	view       []*gamesav1.Knob
	backlights []int
	asks       []modeAsk
	notes      []string
}

type modeAsk struct {
	key     Key
	value   string
	reasons []string
}

// askMode asks for the mode's value of every knob it manages.
//
// PlanFor lists changes: a knob that already holds the mode's value gets
// no action. The pipeline wants the mode's whole desired state, so that
// a setting in force does not drop out of it for holding, and a mode
// change is a change of value rather than a release; so PlanFor sees the
// knobs with their values blanked. The backlight is the exception: it
// sees the value from before GAMESA dimmed it.
func (p *Pipeline) askMode(d *Decision, host power.Host, now time.Time) {
	mp := &p.modePlan
	if !p.sameModeInputs(d, host) {
		mp.valid, mp.mode, mp.reason = true, d.Mode, d.ModeReason
		mp.gameCores = append(mp.gameCores[:0], host.GameCores...)
		host.Knobs = mp.view
		plan, notes := p.modes.PlanFor(d.Mode, host, now)
		mp.notes = notes
		acts := plan.GetActions()
		mp.asks = mp.asks[:0]
		reasons := make([]string, 0, 2*len(acts))
		for _, a := range acts {
			reasons = append(reasons, a.GetReasons()[0], "power mode "+d.Mode.String()+": "+d.ModeReason)
			mp.asks = append(mp.asks, modeAsk{key: Key{a.GetKnob(), a.GetTarget()}, value: a.GetValue(),
				reasons: reasons[len(reasons)-2 : len(reasons) : len(reasons)]})
		}
	}
	d.Notes = append(d.Notes, mp.notes...)
	for i := range mp.asks {
		a := &mp.asks[i]
		p.ask(a.key, ask{value: a.value, source: SourceMode, reasons: a.reasons, urgent: true})
	}
}

// sameModeInputs reports whether the mode's plan of the last tick still
// holds, and brings the knob view up to date either way.
//
// The inventory of the last tick, the same knob objects, is read again
// for the backlights' values alone (see Input.Knobs): the node hands the
// same inventory tick after tick until it reads the machine's again.
func (p *Pipeline) sameModeInputs(d *Decision, host power.Host) bool {
	mp := &p.modePlan
	same := mp.valid && mp.mode == d.Mode && mp.reason == d.ModeReason &&
		slices.Equal(mp.gameCores, host.GameCores) && len(mp.view) == len(host.Knobs)
	if same && p.knobsSame {
		for _, i := range mp.backlights {
			if !p.viewKnob(i, host.Knobs[i]) {
				same = false
			}
		}
		return same
	}
	for len(mp.view) < len(host.Knobs) {
		mp.view = append(mp.view, &gamesav1.Knob{})
	}
	mp.view = mp.view[:len(host.Knobs)]
	mp.backlights = mp.backlights[:0]
	for i, k := range host.Knobs {
		if k.GetName() == knobBacklight {
			mp.backlights = append(mp.backlights, i)
		}
		if !p.viewKnob(i, k) {
			same = false
		}
	}
	return same
}

// viewKnob brings the view's i-th knob up to date with k, and reports
// whether it already was.
func (p *Pipeline) viewKnob(i int, k *gamesav1.Knob) bool {
	v := p.modePlan.view[i]
	value := ""
	if k.GetName() == knobBacklight {
		value = k.GetValue()
		if e := p.entries[Key{k.GetName(), k.GetTarget()}]; e != nil && e.value != "" && e.hasOrig {
			value = e.orig
		}
	}
	if strs.Same(v.Name, k.GetName()) && strs.Same(v.Target, k.GetTarget()) && strs.Same(v.Unit, k.GetUnit()) &&
		v.Min == k.GetMin() && v.Max == k.GetMax() && v.Writable == k.GetWritable() && strs.Same(v.Owner, k.GetOwner()) &&
		strs.Same(v.Value, value) && slices.EqualFunc(v.Choices, k.GetChoices(), strs.Same) {
		return true
	}
	v.Name, v.Target, v.Unit, v.Min, v.Max = k.GetName(), k.GetTarget(), k.GetUnit(), k.GetMin(), k.GetMax()
	v.Choices, v.Writable, v.Owner, v.Value = slices.Clone(k.GetChoices()), k.GetWritable(), k.GetOwner(), value
	return false
}
