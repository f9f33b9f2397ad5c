package actuators

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Apply makes the machine look like plan: each action is checked (knob,
// target, bounds, scope, other tuners), its original value journalled and
// fsync'd, then the change made. It returns one Result per action, in
// order; one action failing never stops the others. A process that exited
// is Skipped, a permission error Denied. While a journal from an earlier
// run is pending, every action is Rejected with ErrRecoveryPending.
//
// The records of a plan's changes are written with one fsync before the
// first of them is made, so a plan costs one fsync, not one per action.
// An action that touches a knob an earlier action of the same plan
// touched starts a new batch.
func (s *Set) Apply(ctx context.Context, plan *gamesav1.Plan) []Result {
	return s.run(ctx, plan, false)
}

// Check is Apply without changing anything: each action ends WouldApply,
// Unchanged, or as Apply would refuse it. It is what observe mode shows.
// It works while a journal is pending.
func (s *Set) Check(ctx context.Context, plan *gamesav1.Plan) []Result {
	return s.run(ctx, plan, true)
}

// change is a prepared change: its journal record is written with the
// batch's, and then the value.
type change struct {
	r    *Result
	acc  accessor
	th   threaded       // non-nil for a per-thread knob
	cur  map[int]string // a per-thread knob's threads before
	rec  journalRecord  // the record to journal before writing
	old  journalRecord  // the live record it supersedes
	had  bool           // whether there was one
	want string         // the value to write
	a    *gamesav1.Action
	tgt  string
}

// actionSlot is an action whose targets' results are filled by flush.
type actionSlot struct {
	a       *gamesav1.Action
	targets []string
	subs    []Result
	done    bool // the action's result is final already
	res     Result
}

func (s *Set) run(ctx context.Context, plan *gamesav1.Plan, dry bool) []Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	actions := plan.GetActions()
	slots := make([]actionSlot, len(actions))
	var stop error
	switch {
	case s.closed:
		stop = ErrClosed
	case s.pending && !dry:
		stop = fmt.Errorf("%s: %w", s.cfg.JournalPath, ErrRecoveryPending)
	}
	if stop == nil {
		s.scanTuners()
	}
	var batch []*change
	for i, a := range actions {
		sl := &slots[i]
		sl.a = a
		if stop == nil {
			stop = ctx.Err()
		}
		if stop != nil {
			st := Rejected
			if ctx.Err() != nil {
				st = Failed
			}
			sl.done, sl.res = true, Result{Action: a, Status: st, Err: stop}
			continue
		}
		fam, targets, err := s.resolve(a)
		if err != nil {
			sl.done, sl.res = true, fail(Result{Action: a}, err)
			continue
		}
		sl.targets = targets
		sl.subs = make([]Result, len(targets))
		for j, t := range targets {
			batch = s.prepare(batch, fam, a, t, dry, &sl.subs[j])
		}
	}
	s.flush(batch)
	out := make([]Result, len(slots))
	for i, sl := range slots {
		switch {
		case sl.done:
			out[i] = sl.res
		case len(sl.subs) == 1:
			out[i] = sl.subs[0]
		default:
			out[i] = aggregate(sl.a, sl.targets, sl.subs)
		}
	}
	s.compact()
	return out
}

// resolve finds an action's family and targets, and refuses knobs that
// another tuner owns.
func (s *Set) resolve(a *gamesav1.Action) (family, []string, error) {
	knob := a.GetKnob()
	fam, ok := s.families[knob]
	if !ok {
		return nil, nil, fmt.Errorf("%q: %w", knob, ErrUnknownKnob)
	}
	if t, ok := s.owner(knob); ok && s.cfg.RespectTuners {
		return nil, nil, fmt.Errorf("%s is managed by %s (pid %d): %w", knob, t.Name, t.PID, ErrOwned)
	}
	targets, err := fam.expand(knob, a.GetTarget())
	if err != nil {
		return nil, nil, err
	}
	return fam, targets, nil
}

// aggregate sums up the results of one action over several targets: the
// most severe failure, else Applied when any target changed.
func aggregate(a *gamesav1.Action, targets []string, subs []Result) Result {
	r := Result{Action: a, Status: Unchanged}
	var errs []error
	var prev, val, notes []string
	for i, sub := range subs {
		switch {
		case sub.Status > WouldApply:
			r.Status = max(r.Status, sub.Status)
		case sub.Status == Applied && r.Status == Unchanged:
			r.Status = Applied
		case sub.Status == WouldApply && r.Status == Unchanged:
			r.Status = WouldApply
		}
		if sub.Err != nil {
			errs = append(errs, sub.Err)
		}
		prev = append(prev, targets[i]+"="+sub.Previous)
		val = append(val, targets[i]+"="+sub.Value)
		if sub.Note != "" {
			notes = append(notes, targets[i]+": "+sub.Note)
		}
	}
	r.Previous = joinSame(subs, prev, func(r Result) string { return r.Previous })
	r.Value = joinSame(subs, val, func(r Result) string { return r.Value })
	r.Note = strings.Join(notes, "; ")
	r.Err = errors.Join(errs...)
	return r
}

// joinSame returns the one value all subs share, or else every target's.
func joinSame(subs []Result, each []string, get func(Result) string) string {
	for _, s := range subs[1:] {
		if get(s) != get(subs[0]) {
			return strings.Join(each, ",")
		}
	}
	return get(subs[0])
}

// fail fills r from err.
func fail(r Result, err error) Result {
	r.Status, r.Err = statusOf(err), err
	return r
}

// prepare checks one action on one target and reads the knob. A change to
// make is added to the batch (which is flushed first when it already holds
// the same knob, target and process); anything else is final in *r.
func (s *Set) prepare(batch []*change, fam family, a *gamesav1.Action, target string, dry bool, r *Result) []*change {
	*r = Result{Action: a}
	knob := a.GetKnob()
	acc, err := fam.open(knob, target, openOpts{})
	if err != nil {
		*r = fail(*r, err)
		return batch
	}
	want, note, err := acc.check(a.GetValue())
	r.Note = note
	if err != nil {
		*r = fail(*r, err)
		return batch
	}
	rec := s.record(knob, target, acc, "", want)
	key := rec.key()
	if slices.ContainsFunc(batch, func(c *change) bool { return c.rec.key() == key }) {
		// The earlier change must be made before this one reads.
		s.flush(batch)
		batch = batch[:0]
	}
	c := &change{r: r, acc: acc, want: want, a: a, tgt: target}
	if th, ok := acc.(threaded); ok {
		c.th = th
		if !s.prepareThreaded(c, &rec, dry) {
			return batch
		}
	} else {
		cur, err := acc.read()
		if err != nil {
			*r = fail(*r, err)
			return batch
		}
		r.Previous, r.Value = cur, cur
		if cur == want {
			r.Status = Unchanged
			return batch
		}
		if dry {
			r.Status, r.Value = WouldApply, want
			return batch
		}
		if n, ok := acc.(needing); ok {
			for _, p := range n.prerequisites(want) {
				if err := s.applyInternal(fam, p); err != nil {
					*r = fail(*r, err)
					return batch
				}
			}
			// A group created just now reads as the kernel made it.
			if cur, err = acc.read(); err != nil {
				*r = fail(*r, err)
				return batch
			}
			r.Previous, r.Value = cur, cur
			if cur == want {
				r.Status = Unchanged
				return batch
			}
		}
		if _, ok := acc.(held); ok {
			// The kernel undoes it when the request is let go: no
			// record, nothing to batch.
			if err := acc.write(want); err != nil {
				*r = fail(*r, err)
				return batch
			}
			s.logChange(a, target, cur, want)
			r.Status, r.Value = Applied, want
			return batch
		}
		rec.Original = cur
		if old, ok := s.lookup(key); ok && old.Set == cur {
			rec.Original = old.Original
		}
	}
	c.old, c.had = s.lookup(key)
	c.rec = rec
	return append(batch, c)
}

// prepareThreaded reads a per-thread knob's threads and fills rec with
// each thread's original. It reports whether there is a change to make.
func (s *Set) prepareThreaded(c *change, rec *journalRecord, dry bool) bool {
	r := c.r
	cur, err := c.th.threads()
	if err != nil {
		*r = fail(*r, err)
		return false
	}
	c.cur = cur
	leader, ok := cur[rec.PID]
	if !ok {
		leader = cur[slices.Min(slices.Collect(maps.Keys(cur)))]
	}
	r.Previous, r.Value = leader, leader
	if !slices.ContainsFunc(slices.Collect(maps.Values(cur)), func(v string) bool { return v != c.want }) {
		r.Status = Unchanged
		return false
	}
	if dry {
		r.Status, r.Value = WouldApply, c.want
		return false
	}
	rec.Original = leader
	rec.Threads = maps.Clone(cur)
	if old, ok := s.lookup(rec.key()); ok {
		// Threads still at our earlier value keep their first original.
		for tid, v := range cur {
			if v != old.Set {
				continue
			}
			if o, ok := old.Threads[tid]; ok {
				rec.Threads[tid] = o
			} else {
				rec.Threads[tid] = old.Original
			}
		}
		if o, ok := rec.Threads[rec.PID]; ok {
			rec.Original = o
		} else if leader == old.Set {
			rec.Original = old.Original
		}
	}
	return true
}

// flush journals a batch's records with one fsync, then makes the
// changes. Records for changes that failed, and for values the kernel
// settled differently, follow in one more append.
func (s *Set) flush(batch []*change) {
	if len(batch) == 0 {
		return
	}
	recs := make([]*journalRecord, len(batch))
	for i, c := range batch {
		recs[i] = &c.rec
	}
	if err := s.j.append(recs...); err != nil {
		for _, c := range batch {
			*c.r = fail(*c.r, err)
		}
		return
	}
	var after []*journalRecord
	for _, c := range batch {
		var err error
		if c.th != nil {
			err = s.writeThreads(c)
		} else {
			err = c.acc.write(c.want)
			if err == nil {
				s.setLive(c.rec)
				c.r.Status, c.r.Value = Applied, c.want
				// The kernel may settle on another value than the one
				// written (cpufreq rounds, a cgroup clamps): revert
				// must compare with what the knob really holds.
				if v, rerr := c.acc.read(); rerr == nil && v != c.want {
					settled := c.rec
					settled.Set = v
					s.setLive(settled)
					after = append(after, &settled)
					c.r.Value = v
				}
				s.logChange(c.a, c.tgt, c.r.Previous, c.r.Value)
			}
		}
		if err != nil {
			if c.r.Status != Applied {
				after = append(after, s.undoRecord(c.rec, c.old, c.had))
			}
			*c.r = fail(*c.r, err)
		}
	}
	if len(after) == 0 {
		return
	}
	// The live set already says what these records say (a failed change
	// never entered it). Should this append be lost, the batch's records
	// name values the knobs never held, so revert leaves those knobs
	// alone: safe either way, except that a settled value is then
	// compared with the value written.
	if err := s.j.append(after...); err != nil {
		s.log.Error("actuators: journal failed and settled changes", "err", err)
	}
}

// writeThreads sets every thread of a per-thread knob that does not hold
// the value yet, including threads started meanwhile (whose originals are
// then the main thread's). Threads that exit meanwhile are skipped. Some threads
// changed and some refused is still an applied change (its record stays,
// so revert fixes those threads), with the refusal as the error.
func (s *Set) writeThreads(c *change) error {
	changed := 0
	var werr error
	eachNewThread(c.th, c.cur, func(tid int, v string) {
		if v == c.want {
			return
		}
		if err := c.th.writeThread(tid, c.want); err != nil {
			if !isGone(err) {
				werr = errors.Join(werr, err)
			}
			return
		}
		changed++
	})
	if changed == 0 {
		if werr == nil {
			// Every thread it would have changed exited meanwhile.
			werr = fmt.Errorf("%s %s: %w", c.rec.Knob, c.rec.Target, ErrGone)
		}
		return werr
	}
	s.setLive(c.rec)
	c.r.Status, c.r.Value = Applied, c.want
	s.logChange(c.a, c.tgt, c.r.Previous, c.want)
	return werr
}

// applyInternal makes a prerequisite change (a cgroup directory) with a
// journal record of its own.
func (s *Set) applyInternal(fam family, p prereq) error {
	acc, err := fam.open(p.knob, p.target, openOpts{})
	if err != nil {
		return err
	}
	cur, err := acc.read()
	if err != nil || cur == p.value {
		return err
	}
	rec := s.record(p.knob, p.target, acc, cur, p.value)
	if err := s.j.append(&rec); err != nil {
		return err
	}
	if err := acc.write(p.value); err != nil {
		u := s.undoRecord(rec, journalRecord{}, false)
		if jerr := s.j.append(u); jerr != nil {
			s.log.Error("actuators: journal a change that was not made", "knob", p.knob, "target", p.target, "err", jerr)
		}
		return err
	}
	s.setLive(rec)
	s.log.Info("actuators: created", "knob", p.knob, "target", p.target)
	return nil
}

// record starts a journal record for a change of knob on target.
func (s *Set) record(knob, target string, acc accessor, cur, want string) journalRecord {
	rec := journalRecord{Op: opSet, Knob: knob, Target: target, Original: cur, Set: want, UnixNano: time.Now().UnixNano()}
	if id, ok := acc.(identified); ok {
		rec.PID, rec.Start = id.identity()
	}
	return rec
}

// undoRecord returns the record that takes back rec, a change that was
// not made: the earlier live record restated, or the key forgotten.
func (s *Set) undoRecord(rec, old journalRecord, hadOld bool) *journalRecord {
	u := old
	if !hadOld {
		u = rec
		u.Op = opForget
	}
	u.UnixNano = time.Now().UnixNano()
	return &u
}

func (s *Set) lookup(key string) (journalRecord, bool) {
	for i := len(s.live) - 1; i >= 0; i-- {
		if s.live[i].key() == key {
			return s.live[i], true
		}
	}
	return journalRecord{}, false
}

// setLive makes rec the newest live record of its key.
func (s *Set) setLive(rec journalRecord) {
	key := rec.key()
	s.live = slices.DeleteFunc(s.live, func(r journalRecord) bool { return r.key() == key })
	s.live = append(s.live, rec)
}
