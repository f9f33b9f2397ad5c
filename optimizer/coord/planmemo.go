package coord

import "slices"

// planMemo is the last plan with everything it was made from beyond the
// Coordinator's fixed configuration, rules and fallback: the apps (the
// very slice fill handed out, which stands for the process list, the
// registrations, the grouping and the sums: fill makes a new one
// whenever any of them differs), the previous hogs, the nice values, the
// topology and the groups with a cpuset. While all of them
// read the same, so does the plan, and it is handed out again rather
// than made: a machine whose process list, CPU use and nice values hold
// from one tick to the next plans nothing. The memo's slices are never
// written once handed out.
type planMemo struct {
	valid    bool
	apps     []App
	prevHogs []int32
	before   []PIDNice
	cpusets  []string
	cpus     []CPU
	// nice is each listed process's nice value, by position.
	nice []int32
	// d is the Decision made, Apps aside; settings its settings.
	d        Decision
	settings []Setting
}

// holds reports whether the memo's plan is the plan of these inputs.
func (m *planMemo) holds(in *Input, before []PIDNice, apps []App) bool {
	if !m.valid || !sameSlice(apps, m.apps) || len(in.Processes) != len(m.nice) ||
		!slices.Equal(in.PrevHogs, m.prevHogs) || !slices.Equal(before, m.before) ||
		!slices.Equal(in.CPUSetGroups, m.cpusets) || !slices.EqualFunc(in.Topology.CPUs, m.cpus, sameCPU) {
		return false
	}
	for i := range in.Processes {
		if in.Processes[i].Nice != m.nice[i] {
			return false
		}
	}
	return true
}

// sameSlice reports whether a and b are one slice: the same elements of
// the same array.
func sameSlice(a, b []App) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// store remembers the plan d and settings made from these inputs. d's
// slices, which the caller also gets, and settings are kept as they are;
// the inputs are copied. It returns the list of settings it held before,
// emptied, for the next plan to write in.
func (m *planMemo) store(in *Input, before []PIDNice, d Decision, settings []Setting) (spare []Setting) {
	m.valid = true
	m.apps, d.Apps = d.Apps, nil
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
