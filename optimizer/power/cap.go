package power

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// CapConfig tunes the CapController. Start from DefaultCapConfig.
type CapConfig struct {
	// DemandDecay is how fast a domain's demand estimate follows its
	// draw down (a time constant): fast attack, slow release. A domain
	// that draws less for a moment (a render pausing between tiles, a
	// package pulling its RAPL average down after its limit fell) keeps
	// its share; one that stays idle gives it to the others.
	DemandDecay time.Duration
	// HeadroomWatts and HeadroomFraction (of its draw, whichever is
	// larger) are what a domain that uses less than its share may grow
	// by before the next step: its limit sits that far above its draw.
	HeadroomWatts    float64
	HeadroomFraction float64
	// TrackingGain (per second) and MaxTracking (a fraction of the
	// share) shape each domain's integral term, which removes the steady
	// gap between a limit and what the hardware draws at it.
	TrackingGain float64
	MaxTracking  float64
	// DeadbandWatts: a new limit this close to the one in force is not
	// worth a change; the old one stays.
	DeadbandWatts float64
	// BurstRatio sets RAPL PL2 to PL1 × BurstRatio wherever rapl.pl2_uw
	// is writable: 1 holds the cap second by second (PL1 alone is an
	// average over the hardware's time window, and a package may burst
	// above it after a lull), more allows turbo bursts; 0 leaves PL2 alone.
	BurstRatio float64
	// FrequencyExponent is how steeply the frequency fallback assumes
	// power rises with the frequency limit (P ∝ f^n). Real parts lie
	// between 1.5 and 3; erring high under-corrects, which converges
	// without overshoot.
	FrequencyExponent float64
	// MaxStep bounds the time one Step accounts for: after a stall, the
	// decay and the integrators move as if MaxStep had passed.
	MaxStep time.Duration
}

// DefaultCapConfig returns the values the package documents.
func DefaultCapConfig() CapConfig {
	return CapConfig{
		DemandDecay:       10 * time.Second,
		HeadroomWatts:     1,
		HeadroomFraction:  0.05,
		TrackingGain:      0.2,
		MaxTracking:       0.2,
		DeadbandWatts:     0.25,
		BurstRatio:        1,
		FrequencyExponent: 3,
		MaxStep:           5 * time.Second,
	}
}

// Validate reports every field out of range.
func (c CapConfig) Validate() error {
	var errs []error
	bad := func(name string, v any, why string) {
		errs = append(errs, fmt.Errorf("%w: %s = %v: %s", ErrConfig, name, v, why))
	}
	nonNeg := func(name string, v float64) {
		if !(v >= 0) || math.IsInf(v, 0) {
			bad(name, v, "must be a finite number ≥ 0")
		}
	}
	if c.DemandDecay <= 0 {
		bad("DemandDecay", c.DemandDecay, "must be positive")
	}
	nonNeg("HeadroomWatts", c.HeadroomWatts)
	nonNeg("HeadroomFraction", c.HeadroomFraction)
	nonNeg("TrackingGain", c.TrackingGain)
	if !(c.MaxTracking >= 0 && c.MaxTracking < 1) {
		bad("MaxTracking", c.MaxTracking, "must be within 0..1")
	}
	nonNeg("DeadbandWatts", c.DeadbandWatts)
	if !(c.BurstRatio == 0 || c.BurstRatio >= 1) || math.IsInf(c.BurstRatio, 0) {
		bad("BurstRatio", c.BurstRatio, "must be 0 (leave PL2 alone) or a finite number ≥ 1")
	}
	if !(c.FrequencyExponent >= 1 && c.FrequencyExponent <= 10) {
		bad("FrequencyExponent", c.FrequencyExponent, "must be within 1..10")
	}
	if c.MaxStep <= 0 {
		bad("MaxStep", c.MaxStep, "must be positive")
	}
	return errors.Join(errs...)
}

// domainKind is what limits a domain.
type domainKind int

const (
	kindRAPL domainKind = iota // rapl.pl1_uw on a package, µW
	kindGPU                    // nvml.power_limit_mw on a GPU, mW
	kindFreq                   // cpufreq.max_khz on every CPU: the fallback
)

// domainKey names a domain's state: its main knob and target.
type domainKey struct{ knob, target string }

// domain is one power domain as seen at one step.
type domain struct {
	kind   domainKind
	key    domainKey      // state key
	target string         // "package-0", "gpu0"; "" for the CPUs
	knob   *gamesav1.Knob // kindRAPL, kindGPU
	pl2    *gamesav1.Knob // kindRAPL: PL2, when it is to be set
	cpus   []*gamesav1.Knob
	scale  float64 // knob units per watt
	lo, hi float64 // W; hi is the limit from before the cap, at most the knob's max
	cur    float64 // W: the limit in force
	draw   float64 // W
	known  bool    // draw is measured

	wt, lower, upper, alloc float64
	limited, bound          bool
	limit                   float64 // W, or the frequency scale for kindFreq
}

// domainState is what the controller remembers about a domain between
// steps.
type domainState struct {
	baseline    float64            // W: the limit in force when the cap took the domain
	baselinePL2 float64            // W; 0 when PL2 is left alone
	baselineKHz map[string]float64 // kindFreq: each CPU's max_khz before the cap
	demand      float64            // W: the fast-attack, slow-release demand estimate
	held        float64            // W (kindFreq: scale 0..1): the limit last asked for
	share       float64            // W: the share last step gave it
	lastDraw    float64            // W: the draw last step
	bound       bool               // the domain got less than its demand last step
	track       float64            // the integral term, a fraction of the share

	// acts are the actions the last step named for the domain, reused
	// while they read the same; texts the reasons and limit text they
	// were written from.
	acts  []*gamesav1.Action
	texts capTexts
}

// capTexts are a domain's reasons and limit text with what they were
// written from, written again only when that changes.
type capTexts struct {
	capW   float64
	bound  bool
	why    string
	burstW float64
	burst  string // why, and the burst limit
	scale  float64
	limit  string // the frequency fallback's, "93 %"
}

// DomainState reports one domain's part in the last Step.
type DomainState struct {
	// Knob and Target name the limit: rapl.pl1_uw "package-0",
	// nvml.power_limit_mw "gpu0", or cpufreq.max_khz "" for the CPUs.
	Knob, Target string
	// DrawWatts is what it drew; DemandWatts what the controller thinks it
	// wants (+Inf: all it can get); ShareWatts what the budget gives it.
	DrawWatts, DemandWatts, ShareWatts float64
	// Limit is the value set, in the knob's unit.
	Limit string
	// Bound is true when the domain gets less than it wants.
	Bound bool
}

// CapState reports the controller's last Step.
type CapState struct {
	// Engaged is true while a cap is being enforced.
	Engaged bool
	// CapWatts and MeasuredWatts are the Step's inputs; BudgetWatts is
	// what the limited domains share (the cap less what the cap covers
	// but no knob controls).
	CapWatts, MeasuredWatts, BudgetWatts float64
	// Infeasible is true when the cap is below what the domains draw at
	// their lowest limits: every domain sits at its minimum.
	Infeasible bool
	Domains    []DomainState
}

// CapController drives a node's measured power to its power cap by
// setting power limits: RAPL PL1 (and PL2) on each CPU package and the
// NVML limit on each GPU, or, where no package limit is writable, one
// cpufreq maximum across the CPUs as the last resort.
//
// Each Step is a feed-forward split of the cap over the domains, closed
// by integral terms:
//
//   - Each domain's demand is estimated from its draw: a domain drawing at
//     its limit wants as much as it may have (its limit from before the
//     cap); one drawing less wants its draw, remembered with a slow
//     release (DemandDecay).
//   - The cap, less any draw the cap covers that no domain accounts for,
//     is water-filled over the domains in proportion to their size (their
//     limit from before the cap), none above its demand or below its
//     knob's minimum. A domain that gets its whole demand is given
//     headroom above its draw, or its part of the spare budget.
//   - A domain held below its demand and drawing at its limit runs an
//     integral term that moves its limit until its draw matches its share
//     (hardware rarely draws exactly its limit). The term only integrates
//     once the limit it asked for is in force, and not past the knob's
//     bounds, so it cannot wind up while the hardware catches up, while
//     a workload pauses, or in observe mode where nothing is applied.
//   - The frequency fallback scales the CPUs' maximum by (share/draw)^(1/n)
//     each step, starting from the fastest core's frequency when cutting.
//
// Without anything to correct, measured power meets the cap one step
// after it changes, plus whatever the hardware takes to meet a lowered
// limit (RAPL PL1 is an average over its time window). Limits never leave
// their knob's bounds, never rise above what was in force before the cap,
// and go back to that when the cap is lifted.
//
// A CapController is not safe for concurrent use; the node's loop owns it.
type CapController struct {
	cfg     CapConfig
	engaged bool
	states  map[domainKey]*domainState
	last    CapState

	// Scratch reused from step to step: the domains, the sorted meter
	// names, a value's text, and the step's actions. out is the list the
	// last step returned, which its caller may keep: never written.
	doms      []domain
	ds        []*domain
	keys      []string
	text      []byte
	next, out []*gamesav1.Action
}

// NewCapController returns a controller with cfg, or cfg's validation
// error.
func NewCapController(cfg CapConfig) (*CapController, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &CapController{cfg: cfg, states: map[domainKey]*domainState{}}, nil
}

// State reports the last Step.
func (c *CapController) State() CapState { return c.StateInto(nil) }

// StateInto is State with the domains' reports appended to buf[:0]: a
// caller that reuses buf, or gives one with room enough, reads the state
// without an allocation.
func (c *CapController) StateInto(buf []DomainState) CapState {
	s := c.last
	s.Domains = append(buf[:0], s.Domains...)
	return s
}

// Step takes one tick's measurement and returns the actions that move the
// limits towards the cap. measuredWatts is what the cap covers
// (MeasuredWatts of the sample); capWatts the cap, 0 (or less, or not a
// number) for none; dt the time since the previous Step; h the host, with
// DomainWatts and Knobs from the same tick.
//
// While a cap is in force, every step names every limit it controls, even
// unchanged, so that Merge can hold it against a mode's plan. When the cap
// is lifted, one step restores each limit it changed to the value from
// before the cap; after that, Step returns nothing until the next cap.
//
// The actions are read-only: an action that reads as the last step's is
// the same *Action, and a list that holds the same actions is the last
// step's list, so that a steady cap allocates nothing. A reason states
// the rule the domain's limit follows, not the live draw it came from
// (that is in State's Domains), so that it holds while the limit does.
func (c *CapController) Step(measuredWatts, capWatts float64, dt time.Duration, h Host) []*gamesav1.Action {
	if !(capWatts > 0) || math.IsInf(capWatts, 0) {
		return c.release(h)
	}
	cfg := &c.cfg
	sec := min(max(dt.Seconds(), 0), cfg.MaxStep.Seconds())
	decay := math.Exp(-sec / cfg.DemandDecay.Seconds())
	if !(measuredWatts >= 0) || math.IsInf(measuredWatts, 0) {
		measuredWatts = math.NaN()
	}

	ds := c.discover(&h, cfg.BurstRatio > 0)
	c.keys = measure(ds, &h, measuredWatts, c.keys)
	for _, d := range ds {
		st := c.states[d.key]
		if st == nil {
			st = newState(d)
			c.states[d.key] = st
		}
		if d.kind != kindFreq {
			d.hi = max(d.lo, min(d.hi, st.baseline))
		}
	}
	for k := range c.states {
		// A domain that left the inventory, or became another tuner's,
		// is no longer this controller's to set or to restore.
		if !slices.ContainsFunc(ds, func(d *domain) bool { return d.key == k }) {
			delete(c.states, k)
		}
	}
	c.engaged = true

	// What the cap covers beyond the domains' own draw.
	budget := capWatts
	if !math.IsNaN(measuredWatts) {
		var sum float64
		for _, d := range ds {
			if d.known {
				sum += d.draw
			}
		}
		budget -= max(0, measuredWatts-sum)
	}

	for _, d := range ds {
		st := c.states[d.key]
		head := c.headroom(d.draw)
		switch d.kind {
		case kindFreq:
			// Held below its maximum, the CPUs want all that is left;
			// running free, their draw is their demand.
			d.limited = st.held < 1 || !d.known
			st.demand = max(d.draw, st.demand*decay)
			d.upper = math.Inf(1)
			if !d.limited {
				d.upper = st.demand
			}
			d.wt = max(st.demand, d.draw, 1)
		default:
			d.limited = !d.known || d.draw >= d.cur-head/2
			if d.limited {
				st.demand = d.hi
			} else {
				st.demand = min(max(d.draw, st.demand*decay), d.hi)
			}
			d.upper = st.demand
			d.wt = d.hi
		}
		d.lower = min(d.lo, d.upper)
		if d.kind == kindFreq {
			d.lower = 0
		}
	}
	infeasible := waterFill(budget, ds)

	var spare, spareWt float64
	spare = budget
	for _, d := range ds {
		spare -= d.upper
		if !d.bound {
			spareWt += d.wt
		}
	}
	spare = max(spare, 0) // Inf upper: -Inf, so 0

	out := c.next[:0]
	states := c.last.Domains[:0] // State hands out copies
	for _, d := range ds {
		st := c.states[d.key]
		switch d.kind {
		case kindFreq:
			c.stepFreq(d, st, &h)
		default:
			c.stepLimit(d, st, sec, spare, spareWt)
		}
		st.bound, st.share = d.bound, d.alloc
		acts, limit := c.actions(d, st, capWatts)
		out = append(out, acts...)
		states = append(states, DomainState{
			Knob: knobOf(d), Target: d.target, DrawWatts: d.draw, DemandWatts: d.upper,
			ShareWatts: d.alloc, Limit: limit, Bound: d.bound,
		})
	}
	c.last = CapState{Engaged: true, CapWatts: capWatts, MeasuredWatts: measuredWatts, BudgetWatts: budget,
		Infeasible: infeasible, Domains: states}
	c.next = out
	if !slices.Equal(out, c.out) {
		c.out = slices.Clone(out)
	}
	clear(out) // the scratch keeps no action alive
	return c.out
}

// headroom is how far above its draw a domain's limit sits when it has
// all it wants.
func (c *CapController) headroom(draw float64) float64 {
	return max(c.cfg.HeadroomWatts, c.cfg.HeadroomFraction*draw)
}

// stepLimit sets the limit of a RAPL or GPU domain from its share.
func (c *CapController) stepLimit(d *domain, st *domainState, sec, spare, spareWt float64) {
	cfg := &c.cfg
	if !d.bound {
		extra := c.headroom(d.draw)
		if spareWt > 0 {
			extra = max(extra, spare*d.wt/spareWt)
		}
		d.limit = min(max(d.alloc+extra, d.lo), d.hi)
		st.track = 0
	} else {
		// Integrate only on a settled measurement: the domain was held
		// last step too, the limit asked for then is the one in force,
		// and the domain draws at it, as much as the step before (a
		// package still pulling its RAPL average down is not settled).
		// The error is against last step's share, the one that limit
		// was meant to deliver.
		settled := st.bound && d.known && d.limited && math.Abs(d.cur-st.held) <= cfg.DeadbandWatts+1e-9 &&
			math.Abs(d.draw-st.lastDraw) <= 0.01*st.share
		if settled && st.share > 0 {
			err := (st.share - d.draw) / st.share
			atTop := st.held >= d.hi && err > 0
			atBottom := st.held <= d.lo && err < 0
			if !atTop && !atBottom {
				st.track = min(max(st.track+cfg.TrackingGain*sec*err, -cfg.MaxTracking), cfg.MaxTracking)
			}
		}
		d.limit = min(max(d.alloc*(1+st.track), d.lo), d.hi)
	}
	if math.Abs(d.limit-st.held) < cfg.DeadbandWatts && st.held >= d.lo && st.held <= d.hi {
		d.limit = st.held
	}
	st.held, st.lastDraw = d.limit, d.draw
}

// stepFreq sets the frequency scale of the fallback domain.
func (c *CapController) stepFreq(d *domain, st *domainState, h *Host) {
	x := st.held
	if d.known && d.draw > 0.5 && (d.bound || x < 1) {
		// Fast to cut, slower to release: a cut follows this step's
		// draw, a rise the larger of this step's and the last, so that
		// a workload pausing for a second does not lift the limit into
		// an overshoot when it resumes.
		r := d.alloc / d.draw
		if r > 1 {
			r = d.alloc / max(st.lastDraw, d.draw)
		}
		if math.Abs(r-1) > 0.01 {
			base := x
			if r < 1 && h.MaxCoreKHz > 0 {
				// A limit above where the cores run cuts nothing: start
				// from there.
				var top float64
				for _, v := range st.baselineKHz {
					top = max(top, v)
				}
				if top > 0 {
					base = min(x, h.MaxCoreKHz/top)
				}
			}
			x = base * math.Pow(min(max(r, 0.5), 1.5), 1/c.cfg.FrequencyExponent)
		}
	}
	// The lowest scale that keeps every CPU at or above its minimum.
	var floor float64
	for _, k := range d.cpus {
		lo, _, _ := bounds(k)
		if b := st.baselineKHz[k.GetTarget()]; b > 0 {
			floor = max(floor, lo/b)
		}
	}
	d.limit = min(max(x, floor, 0), 1)
	st.held = d.limit
	st.lastDraw = d.draw
}

// actions names the domain's limits, and returns its main limit as text.
// They are the domain's actions of the last step where they read the
// same (see Step).
func (c *CapController) actions(d *domain, st *domainState, capW float64) ([]*gamesav1.Action, string) {
	why := st.texts.reason(d, capW)
	n := 0
	act := func(knob, target, why string) *gamesav1.Action {
		a := st.action(n, knob, target, c.text, why)
		n++
		return a
	}
	switch d.kind {
	case kindFreq:
		for _, k := range d.cpus {
			lo, hi, _ := bounds(k)
			b := st.baselineKHz[k.GetTarget()]
			c.text = appendInt(c.text[:0], d.limit*b, lo, min(hi, max(b, lo)))
			act(knobMaxKHz, k.GetTarget(), why)
		}
		st.acts = st.acts[:n]
		return st.acts, st.texts.percent(d.limit)
	}
	kl, kh, _ := bounds(d.knob)
	c.text = appendInt(c.text[:0], d.limit*d.scale, kl, kh)
	v := act(d.knob.GetName(), d.target, why).Value
	if d.pl2 != nil && st.baselinePL2 > 0 {
		lo2, hi2, _ := bounds(d.pl2)
		w := min(max(d.limit*c.cfg.BurstRatio, d.limit), max(st.baselinePL2, d.limit))
		c.text = appendInt(c.text[:0], w*d.scale, lo2, hi2)
		act(knobPL2, d.target, st.texts.bursts(w))
	}
	st.acts = st.acts[:n]
	return st.acts, v
}

// action returns the domain's i-th action of this step, for knob and
// target, value and the reason why: the last step's i-th while it reads
// the same, else a new one that replaces it.
func (st *domainState) action(i int, knob, target string, value []byte, why string) *gamesav1.Action {
	if i < len(st.acts) {
		if a := st.acts[i]; a.Knob == knob && a.Target == target && a.Value == string(value) && a.Reasons[0] == why {
			return a
		}
	}
	a := &gamesav1.Action{Knob: knob, Target: target, Value: string(value), Reasons: []string{why}}
	if i < len(st.acts) {
		st.acts[i] = a
	} else {
		st.acts = append(st.acts, a)
	}
	return a
}

// reason says which rule the domain's limit follows under the cap: held
// to its share of it, or free within that share. The figures behind it,
// the domain's draw and share, change every step; they are in the
// controller's State rather than in the reason, which holds while the
// rule does.
func (t *capTexts) reason(d *domain, capW float64) string {
	if t.why != "" && t.capW == capW && t.bound == d.bound {
		return t.why
	}
	name, its := d.target, "its"
	if d.kind == kindFreq {
		name, its = "the CPUs", "their"
	}
	state := "within"
	if d.bound {
		state = "held to"
	}
	t.capW, t.bound, t.burst = capW, d.bound, ""
	t.why = fmt.Sprintf("power cap %.1f W: %s %s %s share of it", capW, name, state, its)
	return t.why
}

// bursts is the PL2 action's reason: the domain's, and the burst limit w.
func (t *capTexts) bursts(w float64) string {
	if t.burst == "" || t.burstW != w {
		t.burstW, t.burst = w, t.why+fmt.Sprintf("; bursts held to %.1f W", w)
	}
	return t.burst
}

// percent is the frequency fallback's limit as text, "93 %".
func (t *capTexts) percent(scale float64) string {
	if t.limit == "" || t.scale != scale {
		t.scale, t.limit = scale, fmt.Sprintf("%.0f %%", 100*scale)
	}
	return t.limit
}

// knobOf names a domain's main knob.
func knobOf(d *domain) string {
	switch d.kind {
	case kindRAPL:
		return knobPL1
	case kindGPU:
		return knobGPUPower
	}
	return knobMaxKHz
}

// release restores every limit the controller holds to its value from
// before the cap.
func (c *CapController) release(h Host) []*gamesav1.Action {
	if !c.engaged {
		return nil
	}
	var out []*gamesav1.Action
	const why = "power cap lifted: the limit from before the cap"
	restore := func(k *gamesav1.Knob, watts, scale float64) {
		lo, hi, ok := bounds(k)
		if !ok || !usable(k) || watts <= 0 {
			return
		}
		v := formatInt(watts*scale, lo, hi)
		if !sameValue(v, k.GetValue()) {
			out = append(out, &gamesav1.Action{Knob: k.GetName(), Target: k.GetTarget(), Value: v, Reasons: []string{why}})
		}
	}
	for _, k := range h.Knobs {
		switch k.GetName() {
		case knobPL1, knobGPUPower:
			if st := c.states[domainKey{k.GetName(), k.GetTarget()}]; st != nil {
				restore(k, st.baseline, scaleOf(k.GetName()))
			}
		case knobPL2:
			if st := c.states[domainKey{knobPL1, k.GetTarget()}]; st != nil {
				restore(k, st.baselinePL2, scaleOf(knobPL2))
			}
		case knobMaxKHz:
			if st := c.states[freqKey]; st != nil {
				restore(k, st.baselineKHz[k.GetTarget()], 1)
			}
		}
	}
	c.engaged = false
	clear(c.states)
	c.last, c.out = CapState{}, nil
	return out
}

// freqKey is the state key of the frequency fallback.
var freqKey = domainKey{knob: knobMaxKHz}

// scaleOf is a limit knob's units per watt.
func scaleOf(knob string) float64 {
	switch knob {
	case knobPL1, knobPL2:
		return 1e6
	case knobGPUPower:
		return 1e3
	}
	return 1
}

// discover lists the domains the host's knobs can limit: each package
// with a usable rapl.pl1_uw, each GPU with a usable nvml.power_limit_mw,
// and, when no package limit is usable, the CPUs' cpufreq.max_khz. The
// domains live in the controller's scratch, valid until the next call.
func (c *CapController) discover(h *Host, withPL2 bool) []*domain {
	// At most a domain per knob and the fallback: room enough that no
	// pointer taken below goes stale.
	if n := len(h.Knobs) + 1; cap(c.doms) < n {
		c.doms = make([]domain, 0, n)
	}
	c.doms, c.ds = c.doms[:0], c.ds[:0]
	newDomain := func(d domain) *domain {
		i := len(c.doms)
		c.doms = c.doms[:i+1]
		d.cpus = c.doms[i].cpus[:0] // the slot's buffer, reused
		c.doms[i] = d
		return &c.doms[i]
	}
	ds := c.ds
	hasPackage := false
	for _, k := range h.Knobs {
		kind := kindRAPL
		switch k.GetName() {
		case knobPL1:
			// Packages only: a DRAM subzone or psys is not a package.
			if !strings.HasPrefix(k.GetTarget(), "package-") || strings.Contains(k.GetTarget(), "/") {
				continue
			}
		case knobGPUPower:
			kind = kindGPU
		default:
			continue
		}
		key := domainKey{k.GetName(), k.GetTarget()}
		if !usable(k) || len(k.GetChoices()) > 0 || slices.ContainsFunc(ds, func(d *domain) bool { return d.key == key }) {
			continue
		}
		lo, hi, ok := bounds(k)
		cur, okCur := number(k.GetValue())
		if !ok || !okCur || cur < lo {
			// A limit below its knob's minimum (a disabled RAPL
			// constraint reads 0) says nothing of what the domain may
			// draw, so there is no limit from before the cap to keep
			// under or to restore.
			continue
		}
		scale := scaleOf(k.GetName())
		d := newDomain(domain{kind: kind, key: key, target: k.GetTarget(), knob: k, scale: scale,
			lo: lo / scale, hi: hi / scale, cur: cur / scale})
		if kind == kindRAPL {
			hasPackage = true
			if withPL2 {
				d.pl2 = pl2Of(h.Knobs, k.GetTarget())
			}
		}
		ds = append(ds, d)
	}
	c.ds = ds
	if hasPackage {
		return ds
	}
	f := newDomain(domain{kind: kindFreq, key: freqKey})
	for _, k := range h.Knobs {
		if k.GetName() != knobMaxKHz || !usable(k) || len(k.GetChoices()) > 0 {
			continue
		}
		if _, ok := cpuIndex(k.GetTarget()); !ok {
			continue
		}
		if _, _, ok := bounds(k); !ok {
			continue
		}
		if v, ok := number(k.GetValue()); !ok || v <= 0 {
			continue
		}
		f.cpus = append(f.cpus, k)
	}
	if len(f.cpus) > 0 {
		ds = append(ds, f)
	}
	c.ds = ds
	return ds
}

// pl2Of returns the package's usable numeric rapl.pl2_uw (the last
// listed, should there be two), or nil.
func pl2Of(knobs []*gamesav1.Knob, target string) *gamesav1.Knob {
	var pl2 *gamesav1.Knob
	for _, k := range knobs {
		if k.GetName() != knobPL2 || k.GetTarget() != target || !usable(k) || len(k.GetChoices()) > 0 {
			continue
		}
		if _, _, ok := bounds(k); ok {
			if _, ok := number(k.GetValue()); ok {
				pl2 = k
			}
		}
	}
	return pl2
}

// newState records a domain's limits from before the cap.
func newState(d *domain) *domainState {
	st := &domainState{demand: d.draw}
	switch d.kind {
	case kindFreq:
		st.held = 1
		st.baselineKHz = map[string]float64{}
		for _, k := range d.cpus {
			v, _ := number(k.GetValue())
			st.baselineKHz[k.GetTarget()] = v
		}
	default:
		st.baseline = d.cur
		st.held = d.cur
		if d.pl2 != nil {
			v, _ := number(d.pl2.GetValue())
			st.baselinePL2 = v / scaleOf(knobPL2)
		}
	}
	return st
}

// measure fills each domain's draw from h.DomainWatts. The CPUs of the
// frequency fallback draw what the packages' meters say, else what the
// cap covers less the other domains. keys is scratch for the meters'
// names, returned for reuse.
func measure(ds []*domain, h *Host, measured float64, keys []string) []string {
	var others float64
	for _, d := range ds {
		if d.kind == kindFreq {
			continue
		}
		d.draw, d.known = h.DomainWatts[d.target]
		if !d.known || !(d.draw >= 0) || math.IsInf(d.draw, 0) {
			// Unknown: assume it draws all it may.
			d.draw, d.known = d.cur, false
		}
		others += d.draw
	}
	for _, d := range ds {
		if d.kind != kindFreq {
			continue
		}
		keys = sortedKeysInto(keys, h.DomainWatts) // a fixed order: the same sum, bit for bit
		for _, k := range keys {
			if w := h.DomainWatts[k]; strings.HasPrefix(k, "package-") && w >= 0 && !math.IsInf(w, 0) {
				d.draw += w
				d.known = true
			}
		}
		clear(keys)
		if !d.known && !math.IsNaN(measured) {
			d.draw, d.known = max(0, measured-others), true
		}
	}
	return keys[:0]
}

// waterFill shares budget over the domains: each gets clamp(λ·wt, lower,
// upper) for the λ that spends the budget, all their upper when that fits,
// and all their lower when even that does not (reported as infeasible).
// It marks each domain bound when it gets less than its upper.
func waterFill(budget float64, ds []*domain) (infeasible bool) {
	var sumLo, sumUp float64
	for _, d := range ds {
		sumLo += d.lower
		sumUp += d.upper
	}
	fill := func(l float64) float64 {
		var s float64
		for _, d := range ds {
			s += min(max(l*d.wt, d.lower), d.upper)
		}
		return s
	}
	switch {
	case sumUp <= budget:
		for _, d := range ds {
			d.alloc = d.upper
		}
	case sumLo >= budget:
		infeasible = sumLo > budget
		for _, d := range ds {
			d.alloc = d.lower
		}
	default:
		lo, hi := 0.0, 0.0
		for _, d := range ds {
			if d.wt > 0 {
				hi = max(hi, min(d.upper, budget)/d.wt)
			}
		}
		// 64 halvings reach the float's resolution of any λ.
		for range 64 {
			mid := (lo + hi) / 2
			if fill(mid) < budget {
				lo = mid
			} else {
				hi = mid
			}
		}
		for _, d := range ds {
			d.alloc = min(max(lo*d.wt, d.lower), d.upper)
		}
	}
	for _, d := range ds {
		d.bound = d.alloc < d.upper-1e-9
	}
	return infeasible
}
