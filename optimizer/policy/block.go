package policy

import (
	"time"

	"github.com/krystalstack/gamesa/optimizer/coord"
)

// coordPlan is the coordinator's plan as the pipeline last filed it: the
// plan's serial (see coord.Coordinator.PlanShared) and the entry each of
// its settings went to.
//
// A steady machine's coordinator hands out the same plan tick after
// tick, hundreds of settings (a few per process), while CPU use moves
// no decision. Such a plan is filed as one block: each setting goes to
// the entry it went to the tick before, with no lookup, and the block
// takes one slot of the board rather than a slot, and a copy of its ask,
// per setting; settle then takes the settings in the block's place, in
// order. A setting of the block that another part asks for too gets a
// slot of its own there and then (unblock), where the asks are resolved
// as any others.
type coordPlan struct {
	serial uint64
	// entries are the settings' entries, nil for a setting dropped
	// (one of no value).
	entries []*entry
	// block is this tick's block slot, -1 when the plan was filed
	// setting by setting.
	block int32
}

// askCoordinator files the coordinator's settings, the plan of the given
// serial: as one block when it is the plan filed on the last tick, else
// each on its own.
func (p *Pipeline) askCoordinator(settings []coord.Setting, serial uint64) {
	cp := &p.plan
	cp.block = -1
	if serial == cp.serial && len(cp.entries) == len(settings) && p.blockable() {
		p.fileBlock()
		return
	}
	cp.serial = serial
	cp.entries = grow(cp.entries, len(settings))
	for i := range settings {
		st := &settings[i]
		cp.entries[i] = p.ask(Key{st.Knob, st.Target}, p.coordAsk(st))
	}
}

// blockable reports whether the last plan's entries can take the plan
// again as a block: each is still in the pipeline, and no part asked for
// one of them earlier this tick (the mode and the cap ask first), which
// fixed its place in the plan.
func (p *Pipeline) blockable() bool {
	if p.board.plain {
		return false
	}
	for _, e := range p.plan.entries {
		if e == nil || e.gone || e.tick == p.tick {
			return false
		}
	}
	return true
}

// fileBlock files the settings as one block, to the entries they went to
// the tick before.
func (p *Pipeline) fileBlock() {
	cp := &p.plan
	b := &p.board
	n := len(b.slots)
	if n < cap(b.slots) {
		b.slots = b.slots[:n+1]
	} else {
		b.slots = append(b.slots, slot{})
	}
	s := &b.slots[n]
	s.e, s.win, s.first, s.last, s.block, s.placed = nil, ask{}, -1, -1, true, false
	cp.block = int32(n)
	for i, e := range cp.entries {
		if e.tick == p.tick {
			// The plan names the setting twice: the second ask joins
			// the first, as ask would have it.
			st := &p.settings[i]
			p.ask(Key{st.Knob, st.Target}, p.coordAsk(st))
			continue
		}
		e.tick, e.slot, e.blockIdx = p.tick, cp.block, int32(i)
		// Resume the search for the next ask's entry after this one's
		// place in the last tick's sequence, as entryFor does.
		if e.pos >= 0 {
			p.cursor = int(e.pos) + 1
		} else {
			p.cursor++
		}
		p.sequence(e)
	}
}

// unblock gives e, a setting of the block that another ask joins, a slot
// of its own with the coordinator's ask, which settle takes in the
// block's place.
func (p *Pipeline) unblock(e *entry) *slot {
	b := &p.board
	b.slots = append(b.slots, slot{e: e, win: p.coordAsk(&p.settings[e.blockIdx]), first: -1, last: -1, placed: true})
	e.slot = int32(len(b.slots) - 1)
	return &b.slots[e.slot]
}

// settleBlock settles the block's settings in order, as settleSlot would
// settle a slot of each, and appends those in force to order.
func (p *Pipeline) settleBlock(d *Decision, in *Input, now time.Time, order []*entry) []*entry {
	cp := &p.plan
	for i, e := range cp.entries {
		switch {
		case e.blockIdx != int32(i):
			continue // named again: settled with its first
		case e.slot != cp.block:
			order = p.settleSlot(d, &p.board.slots[e.slot], in, now, order)
			continue
		}
		st := &p.settings[i]
		if steady(e, st.Value, st.Reasons) {
			e.lastAsked, e.source = now, SourceCoordinator
			order = append(order, e)
			continue
		}
		p.step(d, e, st.Value, st.Reasons, SourceCoordinator, p.registeredTarget(st.Target), now, in)
		if e.value != "" {
			order = append(order, e)
		}
	}
	return order
}
