package coord

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/krystalstack/gamesa/internal/strs"
)

// pidEntry is what a Coordinator remembers about one pid between ticks:
// where the pid sits in this tick's process list, and the rule match of
// the last tick, kept with the inputs it was made from. A match is a pure
// function of those inputs (the rule set and Config.CmdlineScanBytes are
// fixed for the Coordinator's life), so a process whose name, parent's
// name, scanned command line, executable and cgroup are all unchanged
// keeps its class without a rule being tested; a reused pid with other
// inputs is matched afresh.
type pidEntry struct {
	// gen is the tick that last listed the pid; pos its position then.
	gen uint64
	pos int32
	pid int32
	// target is "pid:N", made the first time a plan names the process.
	target string
	// ppid and pent remember the parent's entry, which saves a lookup
	// while the parent stays: pent is trusted only if listed this tick
	// (an evicted entry is never listed again, its pid gets a new one).
	ppid int32
	pent *pidEntry
	// The match's inputs: the caller's own strings, not copies. A
	// caller that keeps a process's strings from tick to tick (the procfs
	// collector keeps each command line, the node each ancestor it read)
	// hands the same ones again, and comparing a string with itself is
	// comparing two pointers.
	name, parent, cmd, exe, cgroup string
	// valid is set once a match has been stored.
	valid   bool
	matched bool
	class   Class
	rule    string
}

// same reports whether the stored match was made from these inputs.
func (e *pidEntry) same(name, parent, cmd, exe, cgroup string) bool {
	return e.valid && strs.Same(e.cmd, cmd) && strs.Same(e.name, name) && strs.Same(e.parent, parent) &&
		strs.Same(e.exe, exe) && strs.Same(e.cgroup, cgroup)
}

// store remembers a match and its inputs. It keeps the strings it is
// given (cmd the scanned prefix of a command line, which holds the whole
// line's memory): an entry holds one process's strings, until the pid
// leaves the cache.
func (e *pidEntry) store(name, parent, cmd, exe, cgroup string, class Class, rule string, matched bool) {
	e.name, e.parent, e.cmd, e.exe, e.cgroup = name, parent, cmd, exe, cgroup
	e.valid, e.class, e.rule, e.matched = true, class, rule, matched
}

// scratch is a Coordinator's per-tick working memory, kept between ticks
// so that a steady process list costs no allocation but the Decision's
// own. Nothing in it that it writes again is handed to the caller: the
// Decision made here is copied out, and the memos' texts and reasons
// slices, which a Decision shares, never change once made.
type scratch struct {
	tick uint64
	// pids is the match cache and this tick's pid → position index in
	// one map: one lookup per process serves both. indexed is set when
	// the last tick's list was the one before's (see Coordinator.reindex).
	pids    map[int32]*pidEntry
	indexed bool
	// Per process of this tick.
	ent    []*pidEntry
	parent []int32 // position of the parent, -1 if not listed
	dup    []bool  // a later entry of a pid already listed
	app    []int32 // the app, an index into grouping once grouped
	// Per app, in creation order.
	apps    []App
	rootPos []int32
	counts  []int32
	busiest []float64
	order   []int32
	rank    []int32
	chain   []int32
	// Per app of the grouping (see fill): the tick's sums, and each app's
	// name, its root's or a game's busiest process's.
	cpu   []float64
	rss   []uint64
	names []string
	// byPID is this tick's positions in pid order (see sortByPID),
	// which group fills and emit reads.
	byPID []int32
	// grouping is the last grouping made, sorted by root pid: the apps
	// with their members but no sums; rootAt holds each one's root's
	// position. It stands (grouped) while the list holds the same pids
	// in the same places, with the same parents, rule matches and
	// registrations (regs, sorted as Plan sorts them).
	grouping []App
	rootAt   []int32
	grouped  bool
	regs     []regKey
	// groupings counts the groupings made: the plan memo tells by it
	// whether its grouping still stands.
	groupings uint64
	// next is the tick's apps as fill makes them; handed the last apps
	// handed out, which the callers share: written again only while
	// handedShared (see fill). handedGen counts the changes of handed,
	// new apps or new sums.
	next, handed []App
	handedShared bool
	handedGen    uint64
	// The tick's grouping, Decision and hogs (Decision.Hogs), until they
	// are handed out.
	builder  appBuilder
	decision Decision
	hogs     []int32
	// The planner's; settings is the list the next plan writes in, which
	// the plan memo takes in exchange for its own.
	roles           []role
	settings        []Setting
	voice, streamer []int
	parts           []string
	texts           texts
	cpuLists        cpuLists
	split           splitMemo
	plan            planMemo
	// busy is the tick's busyApp of each app, which the plan memo
	// compares with its own.
	busy []bool
}

// evictSlack bounds the cache at twice the process list plus this many
// entries: pids seen on no recent tick are dropped once it is exceeded,
// so a churn of short-lived processes cannot grow it without end, and a
// steady list never pays for a sweep.
const evictSlack = 64

// grow returns s with length n, reusing its array when it is big enough.
// The contents are not cleared.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}

// index starts a tick: it finds or makes each pid's entry, records its
// position, and marks duplicates (a later entry of a pid already listed)
// in s.dup. It then fills the parent positions. It reports whether the
// list holds the last tick's pids in the same places, each with the same
// parent, and no duplicate.
func (s *scratch) index(procs []Process) (same bool) {
	if s.pids == nil {
		s.pids = make(map[int32]*pidEntry, len(procs))
	}
	s.tick++
	n, last := len(procs), s.ent
	same = n == len(last)
	s.ent = grow(s.ent, n)
	s.parent = grow(s.parent, n)
	s.app = grow(s.app, n)
	s.dup = grow(s.dup, n)
	for i := range procs {
		pid := procs[i].PID
		// The entry at this position last tick, while the list stays as
		// it was, spares the lookup. It is still in the map: eviction
		// keeps every entry a tick listed.
		var e *pidEntry
		if i < len(last) {
			e = last[i]
		}
		if e == nil || e.pid != pid {
			same = false
			if e = s.pids[pid]; e == nil {
				e = &pidEntry{pid: pid}
				s.pids[pid] = e
			}
		}
		s.ent[i] = e
		if e.gen == s.tick {
			// A duplicate pid keeps its first entry.
			s.dup[i] = true
			same = false
			continue
		}
		e.gen, e.pos = s.tick, int32(i)
		s.dup[i] = false
	}
	for i := range procs {
		s.parent[i] = -1
		p := &procs[i]
		if s.dup[i] {
			continue
		}
		e := s.ent[i]
		same = same && e.ppid == p.PPID
		if p.PPID == p.PID || p.PPID <= 0 {
			e.ppid, e.pent = p.PPID, nil
			continue
		}
		if e.ppid != p.PPID || e.pent == nil || e.pent.gen != s.tick {
			e.ppid, e.pent = p.PPID, s.pids[p.PPID]
		}
		if e.pent != nil && e.pent.gen == s.tick {
			s.parent[i] = e.pent.pos
		}
	}
	// A list that held, with no duplicate, is likely to hold again:
	// reindex tries it first. One that changed, as a churn of
	// short-lived processes changes it every tick, is indexed afresh.
	s.indexed = same
	if len(s.pids) > 2*n+evictSlack {
		for pid, e := range s.pids {
			if e.gen != s.tick {
				delete(s.pids, pid)
			} else if e.pent != nil && e.pent.gen != s.tick {
				e.pent = nil // let the evicted entry go
			}
		}
	}
	return same
}

// regKey is what a registration gives the grouping.
type regKey struct {
	pid      int32
	class    Class
	priority int32
}

// sameRegistrations records regs and reports whether the last tick had
// the same, in the same order.
func (s *scratch) sameRegistrations(regs []Registration) bool {
	same := len(regs) == len(s.regs)
	for i, r := range regs {
		k := regKey{r.PID, r.Class, r.Priority}
		if same && s.regs[i] == k {
			continue
		}
		same = false
		if i < len(s.regs) {
			s.regs[i] = k
		} else {
			s.regs = append(s.regs, k)
		}
	}
	s.regs = s.regs[:len(regs)]
	return same
}

// sortByPID returns this tick's positions in pid order. The last tick's
// order is kept while it still sorts the list, as it does while the list
// stays the same: a steady tick sorts nothing.
func (s *scratch) sortByPID(procs []Process) []int32 {
	o := s.byPID
	if len(o) == len(procs) && slices.IsSortedFunc(o, func(a, b int32) int { return cmp.Compare(procs[a].PID, procs[b].PID) }) {
		return o // a permutation of the positions, and in order
	}
	o = grow(o, len(procs))
	for i := range o {
		o[i] = int32(i)
	}
	slices.SortFunc(o, func(a, b int32) int { return cmp.Compare(procs[a].PID, procs[b].PID) })
	s.byPID = o
	return o
}

// targetOf returns "pid:N" for the process at position i.
func (s *scratch) targetOf(i int32) string {
	e := s.ent[i]
	if e.target == "" {
		e.target = "pid:" + strconv.FormatInt(int64(e.pid), 10)
	}
	return e.target
}

// lookup returns the position of pid in this tick's list, or -1.
func (s *scratch) lookup(pid int32) int32 {
	if e := s.pids[pid]; e != nil && e.gen == s.tick {
		return e.pos
	}
	return -1
}
