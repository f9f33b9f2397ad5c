package policy

import (
	"slices"
	"strconv"
	"time"

	"github.com/krystalstack/gamesa/optimizer/coord"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// entry is one setting's hysteresis: the value in force (if any), the
// value waiting to replace it, and when each happened.
type entry struct {
	key Key
	// value is in force since since, asked for by source with reasons;
	// "" when nothing is in force yet.
	value   string
	reasons []string
	source  Source
	since   time.Time
	// lastAsked is the last tick that asked for the setting at all;
	// tick is that tick's number, and slot its place in that tick's
	// board.
	lastAsked time.Time
	tick      uint64
	slot      int32
	// blockIdx is the entry's setting in the coordinator's block, when
	// slot is the block's (see askCoordinator).
	blockIdx int32
	// pos is the entry's place in the tick's sequence of asks (see
	// entryFor), -1 for none; gone is set once it leaves the pipeline.
	pos  int32
	gone bool
	// cand has been asked for candN ticks in a row.
	cand  string
	candN int
	// orig is the value observed before GAMESA first set the setting.
	orig    string
	hasOrig bool
	// action is the plan action made for the entry's value and reasons;
	// nil once either changes, until the next plan makes one.
	action *gamesav1.Action
	// contested is set once the setting has been contested; contest is
	// the last conflict over it from the second on (see resolve).
	contested bool
	contest   *contest
}

// step moves e one tick on, asked for want with reasons by src, and
// adds a Held record to d when the change waits. obs, when not nil, is
// the tick's input, where the value from before GAMESA is read when the
// setting first takes force.
func (p *Pipeline) step(d *Decision, e *entry, want string, reasons []string, src Source, urgent bool, now time.Time, obs *Input) {
	e.lastAsked = now
	if e.value != "" && sameValue(want, e.value) {
		if !p.sameReasons(e.reasons, reasons) {
			e.reasons, e.action = reasons, nil
		}
		e.source = src
		if e.candN != 0 {
			e.cand, e.candN = "", 0
		}
		return
	}
	if e.cand == want {
		e.candN++
	} else {
		e.cand, e.candN = want, 1
	}
	switch {
	case urgent:
	case e.candN < p.cfg.ConfirmTicks:
		d.Held = append(d.Held, Held{Key: e.key, Value: e.value, Wanted: want, Source: src,
			Kind: HoldConfirm, Count: e.candN, Need: p.cfg.ConfirmTicks})
		return
	case e.value != "" && now.Sub(e.since) < p.cfg.MinDwell:
		d.Held = append(d.Held, Held{Key: e.key, Value: e.value, Wanted: want, Source: src,
			Kind: HoldDwell, Until: e.since.Add(p.cfg.MinDwell)})
		return
	}
	if e.value == "" && obs != nil {
		p.observeOriginal(e, obs)
	}
	e.value, e.reasons, e.source, e.since, e.cand, e.candN = want, reasons, src, now, "", 0
	e.action = nil
}

// steady reports whether an ask for value with reasons is for e's value
// in force, with the very reasons slice it carries, and nothing else
// waits: step's steady case, told without a call.
func steady(e *entry, value string, reasons []string) bool {
	return e.candN == 0 && e.value != "" && e.value == value && len(e.reasons) == len(reasons) &&
		(len(e.reasons) == 0 || &e.reasons[0] == &reasons[0])
}

// sameReasons reports whether old and new hold the same strings. The
// coordinator gives all the actions of one app one reasons slice, so the
// last comparison that held is remembered: the app's other settings,
// which hold one old slice too, compare nothing.
func (p *Pipeline) sameReasons(old, new []string) bool {
	switch {
	case len(old) != len(new):
		return false
	case len(old) == 0 || &old[0] == &new[0]:
		return true
	case len(p.memoNew) == len(new) && &p.memoNew[0] == &new[0] && &p.memoOld[0] == &old[0]:
		return true
	case !slices.Equal(old, new):
		return false
	}
	p.memoOld, p.memoNew = old, new
	return true
}

// observeOriginal records what the setting held before GAMESA set it:
// a process's nice value from the process list, a knob's value from the
// inventory.
func (p *Pipeline) observeOriginal(e *entry, in *Input) {
	if e.key.Knob == coord.KnobNice {
		pid, ok := pidOf(e.key.Target)
		if !ok {
			return
		}
		for i := range in.Processes {
			if pr := &in.Processes[i]; pr.PID == pid {
				e.orig, e.hasOrig = strconv.Itoa(int(pr.Nice)), true
				p.niceOrig[pid], p.niceDirty = pr.Nice, true
				return
			}
		}
		return
	}
	for _, k := range in.Knobs {
		if k.GetName() == e.key.Knob && k.GetTarget() == e.key.Target {
			e.orig, e.hasOrig = k.GetValue(), true
			return
		}
	}
}

// forget drops e's state when it leaves the pipeline.
func (p *Pipeline) forget(e *entry) {
	e.gone = true
	delete(p.entries, e.key)
	if e.key.Knob == coord.KnobNice && e.hasOrig {
		if pid, ok := pidOf(e.key.Target); ok {
			delete(p.niceOrig, pid)
			p.niceDirty = true
		}
	}
}

// settle resolves each setting asked for, runs its hysteresis, lets the
// settings nobody asks for linger or go, and writes the plan: every
// setting in force, those asked for this tick first in the order they
// were asked, then the lingering ones in the order they first appeared.
func (p *Pipeline) settle(d *Decision, in *Input, now time.Time) {
	b := &p.board
	order := p.order[:0]
	for i := range b.slots {
		switch s := &b.slots[i]; {
		case s.block:
			order = p.settleBlock(d, in, now, order)
		case !s.placed: // a placed slot is settled in its block's place
			order = p.settleSlot(d, s, in, now, order)
		}
	}
	// Compact p.live in place; in a steady state nothing moves.
	n := 0
	for i, e := range p.live {
		if e.tick != p.tick {
			if !p.linger(e, d, now) {
				p.forget(e)
				continue
			}
			order = append(order, e)
		}
		if n != i {
			p.live[n] = e
		}
		n++
	}
	clear(p.live[n:])
	p.live = p.live[:n]
	clear(order[len(order):cap(order)])
	p.order = order
	d.Plan.Mode, d.Plan.Actions = d.Mode.String(), p.actions(order)
	p.nextSeq()
}

// settleSlot resolves the slot's asks, runs the hysteresis of its
// setting, and appends the setting to order if it is in force.
func (p *Pipeline) settleSlot(d *Decision, s *slot, in *Input, now time.Time, order []*entry) []*entry {
	e := s.e
	if s.first >= 0 { // contested
		p.board.resolve(s, d, e.reasons)
	}
	w := &s.win
	if steady(e, w.value, w.reasons) {
		// Most settings, most ticks: the value in force asked for
		// again, for the same reasons. step would only note it.
		e.lastAsked, e.source = now, w.source
		return append(order, e)
	}
	p.step(d, e, w.value, w.reasons, w.source, w.urgent, now, in)
	if e.value != "" {
		order = append(order, e)
	}
	return order
}

// actions returns the plan's actions for the entries in order. An entry
// whose value and reasons did not change since the previous tick keeps
// its action: decisions share the actions they have in common, which is
// why they are read-only. Where every action and their order are the
// previous tick's, so is the list.
func (p *Pipeline) actions(order []*entry) []*gamesav1.Action {
	fresh := 0
	same := len(order) > 0 && len(order) == len(p.acts)
	for i, e := range order {
		if e.action == nil {
			fresh++
		} else if same && p.acts[i] != e.action {
			same = false
		}
	}
	if same && fresh == 0 {
		return p.acts
	}
	acts := make([]*gamesav1.Action, len(order))
	p.acts = acts
	slab := make([]gamesav1.Action, fresh)
	for i, e := range order {
		if e.action == nil {
			a := &slab[0]
			slab = slab[1:]
			a.Knob, a.Target, a.Value, a.Reasons = e.key.Knob, e.key.Target, e.value, e.reasons
			e.action = a
		}
		acts[i] = e.action
	}
	return acts
}

// linger handles a setting nobody asked for this tick: one not in force
// is dropped; one in force stays until Linger has passed since it was
// last asked for, and is then released. It reports whether e stays.
func (p *Pipeline) linger(e *entry, d *Decision, now time.Time) bool {
	e.cand, e.candN = "", 0
	if e.value == "" {
		return false
	}
	until := e.lastAsked.Add(p.cfg.Linger)
	if !now.Before(until) {
		d.Release = append(d.Release, Released{Key: e.key, Value: e.value, Original: e.orig, LastAsked: e.lastAsked})
		return false
	}
	d.Held = append(d.Held, Held{Key: e.key, Value: e.value, Source: e.source, Kind: HoldLinger, Until: until})
	return true
}
