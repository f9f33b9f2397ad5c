package coord

import (
	"math"
	"slices"

	"github.com/krystalstack/gamesa/internal/strs"
)

// planMemo is the last plan with everything it was made from beyond the
// Coordinator's fixed configuration, rules and fallback: the grouping
// (which stands for the process list, the registrations and the rule
// matches), the apps' classes and names, what the plan read of their CPU
// use (cpuView), the previous hogs, the nice values, the topology and
// the groups with a cpuset. While all of them read the same, so does the
// plan, and it is handed out again rather than made: a machine whose
// process list and nice values hold from one tick to the next plans
// nothing, even as its CPU use moves, until an app crosses a hog
// threshold, another game becomes the busiest or a split would move.
// The memo's slices are never written once handed out.
type planMemo struct {
	valid bool
	// serial counts the plans made; the memo's is the last.
	serial uint64
	// groupings is the scratch's count when the plan was made: the
	// grouping it planned. handedGen is the scratch's when the plan was
	// last found to hold, or made: while it stays, so do the apps.
	groupings uint64
	handedGen uint64
	apps      []App
	view      cpuView
	prevHogs  []int32
	before    []PIDNice
	cpusets   []string
	cpus      []CPU
	// nice is each listed process's nice value, by position.
	nice []int32
	// d is the Decision made, Apps aside; settings its settings.
	d        Decision
	settings []Setting
}

// holds reports whether the memo's plan is the plan of these inputs:
// apps made from the scratch's grouping.
func (m *planMemo) holds(c *Coordinator, in *Input, before []PIDNice, apps []App) bool {
	s := &c.scratch
	if !m.valid || m.groupings != s.groupings || len(apps) != len(m.apps) || len(in.Processes) != len(m.nice) ||
		!slices.Equal(in.PrevHogs, m.prevHogs) || !slices.Equal(before, m.before) ||
		!slices.Equal(in.CPUSetGroups, m.cpusets) || !slices.EqualFunc(in.Topology.CPUs, m.cpus, sameCPU) {
		return false
	}
	for i := range in.Processes {
		if in.Processes[i].Nice != m.nice[i] {
			return false
		}
	}
	if m.handedGen == s.handedGen {
		return true // the very apps it last held for: the same sums
	}
	if !sameSlice(apps, m.apps) && !sameKinds(apps, m.apps) {
		return false
	}
	v := c.viewOf(apps, in.PrevHogs, s.busy[:0])
	s.busy = v.busy
	if !m.view.same(&v, &m.d) {
		return false
	}
	m.handedGen = s.handedGen
	return true
}

// sameKinds reports whether apps, made from the grouping last apps were
// made from, have last's classes, rules and names (the fallback's
// classes and a game's busiest process may change with CPU use), which
// is all a plan reads of them beside their CPU use.
func sameKinds(apps, last []App) bool {
	for i := range apps {
		a, l := &apps[i], &last[i]
		if !strs.Same(string(a.Class), string(l.Class)) || !strs.Same(a.Rule, l.Rule) || !strs.Same(a.Name, l.Name) {
			return false
		}
	}
	return true
}

// sameSlice reports whether a and b are one slice: the same elements of
// the same array, which apps written again in place (see fill) stay.
// Their kinds never change in place.
func sameSlice(a, b []App) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// store remembers the plan d and settings made from these inputs. d's
// slices, which the caller also gets, and settings are kept as they are;
// the inputs are copied. It returns the list of settings it held before,
// emptied, for the next plan to write in.
func (m *planMemo) store(c *Coordinator, in *Input, before []PIDNice, d Decision, settings []Setting) (spare []Setting) {
	m.valid = true
	m.serial++
	m.groupings, m.handedGen = c.scratch.groupings, c.scratch.handedGen
	m.apps, d.Apps = d.Apps, nil
	m.view = c.viewOf(m.apps, in.PrevHogs, m.view.busy[:0])
	m.prevHogs = append(m.prevHogs[:0], in.PrevHogs...)
	m.before = append(m.before[:0], before...)
	m.cpusets = append(m.cpusets[:0], in.CPUSetGroups...)
	if !slices.EqualFunc(in.Topology.CPUs, m.cpus, sameCPU) {
		m.cpus = m.cpus[:0]
		for _, c := range in.Topology.CPUs {
			c.Siblings, c.L3 = slices.Clone(c.Siblings), slices.Clone(c.L3)
			m.cpus = append(m.cpus, c)
		}
	}
	m.nice = m.nice[:0]
	for i := range in.Processes {
		m.nice = append(m.nice, in.Processes[i].Nice)
	}
	m.d = d
	spare, m.settings = m.settings, settings
	clear(spare) // keeps none of the old plan's strings
	return spare[:0]
}

// cpuView is all a plan reads of the apps' CPU use: which apps are busy
// enough to be hogs (given the previous hogs, which the memo compares
// apart), the busiest game, the encoders' reservation and the
// renderers' share of a render + compile split. Each is computed by the
// very function the planner uses.
type cpuView struct {
	// busy is each app's busyApp.
	busy []bool
	// busiestGame is the foreground without a registration, -1 for none.
	busiestGame int
	// streamerCPUs is the encoders' reservation beside a game.
	streamerCPUs int
	// renderShare is the renderers' share of the CPUs.
	renderShare float64
}

// viewOf returns apps' cpuView with the previous hogs prevHogs, its busy
// list in busy's array.
func (c *Coordinator) viewOf(apps []App, prevHogs []int32, busy []bool) cpuView {
	games, streamers, renders := false, false, false
	for i := range apps {
		a := &apps[i]
		busy = append(busy, c.busyApp(a, prevHogs))
		switch a.Class {
		case ClassGame:
			games = true
		case ClassStreamer:
			streamers = true
		case ClassRenderer, ClassCompiler:
			renders = true
		}
	}
	v := cpuView{busy: busy, busiestGame: -1, streamerCPUs: 1, renderShare: 0.5}
	// Most apps are of none of these classes: each pass is made only
	// where one is there to read.
	if games {
		v.busiestGame = busiestGame(apps)
	}
	if streamers {
		v.streamerCPUs = streamerCPUs(apps)
	}
	if renders {
		v.renderShare = renderShare(apps)
	}
	return v
}

// same reports whether a plan d made on v's apps is also the plan on w's.
// Only what d's scenario read is compared: the busiest game for a
// foreground picked by it, the reservation for an encoder beside a game,
// the share for render + compile.
func (v *cpuView) same(w *cpuView, d *Decision) bool {
	if !slices.Equal(v.busy, w.busy) {
		return false
	}
	if d.Foreground < 0 || d.ForegroundBy == byBusiestGame {
		if v.busiestGame != w.busiestGame {
			return false
		}
	}
	switch d.Scenario {
	case ScenarioStreamGame, ScenarioStreamGameVoice:
		return v.streamerCPUs == w.streamerCPUs
	case ScenarioRenderCompile:
		return v.renderShare == w.renderShare || math.IsNaN(v.renderShare) && math.IsNaN(w.renderShare)
	}
	return true
}
