package coord

import (
	"fmt"
	"math"
	"slices"
)

// split is a division of the machine's CPUs between a favoured app (the
// game) and the rest, in whole physical cores.
type split struct {
	first, rest []int
	// why says how the line was drawn, for the reasons.
	why string
}

// splitCores divides the topology's physical cores: first gets share of
// them, and the rest at least one, in whole cores so that no physical
// core is shared between the two sides. Where the machine has several
// last-level caches, first gets one cache domain whole (the strongest)
// and share is ignored; where it has faster and slower cores (hybrid
// parts), first gets the faster ones. It reports false when the machine
// has fewer than two physical cores: any split would then put both sides
// on SMT siblings of one core, and priorities alone must do.
func splitCores(t Topology, share float64) (split, bool) {
	cores := t.Cores()
	if len(cores) < 2 {
		return split{}, false
	}
	firstSet := make([]bool, len(cores))
	var why string
	domains := cacheDomains(cores)
	switch {
	case len(domains) >= 2:
		best := domains[0]
		for _, d := range domains[1:] {
			if d.capacity > best.capacity || (d.capacity == best.capacity && len(d.cores) > len(best.cores)) {
				best = d
			}
		}
		for _, i := range best.cores {
			firstSet[i] = true
		}
		why = fmt.Sprintf("one of %d L3 caches whole", len(domains))
	case hybrid(cores):
		top := int64(0)
		for _, c := range cores {
			top = max(top, c.Capacity)
		}
		for i, c := range cores {
			firstSet[i] = c.Capacity == top
		}
		why = "the fastest cores"
	default:
		n := len(cores)
		rest := int(math.Round(float64(n) * (1 - share)))
		rest = min(max(rest, 1), n-1)
		// The rest take the lowest-numbered cores: CPU 0 handles more of
		// the machine's housekeeping (timers, interrupts on many boards).
		for i := rest; i < n; i++ {
			firstSet[i] = true
		}
	}
	s := split{why: why}
	nFirst := 0
	for i, c := range cores {
		if firstSet[i] {
			s.first = append(s.first, c.CPUs...)
			nFirst++
		} else {
			s.rest = append(s.rest, c.CPUs...)
		}
	}
	slices.Sort(s.first)
	slices.Sort(s.rest)
	smt := len(s.first) > nFirst
	kind := "cores"
	if smt {
		kind = "cores with their SMT siblings"
	}
	if nFirst == 1 {
		kind = "core"
		if smt {
			kind = "core with its SMT sibling"
		}
	}
	if s.why == "" {
		s.why = fmt.Sprintf("%d whole %s", nFirst, kind)
	} else {
		s.why = fmt.Sprintf("%d whole %s, %s", nFirst, kind, s.why)
	}
	return s, true
}

type cacheDomain struct {
	key      int
	cores    []int
	capacity int64
}

// cacheDomains groups core indices by last-level cache, ordered by key.
// A domain's capacity sums its cores' (counting unknown capacity as 1).
func cacheDomains(cores []Core) []cacheDomain {
	var ds []cacheDomain
	for i, c := range cores {
		j := slices.IndexFunc(ds, func(d cacheDomain) bool { return d.key == c.Cache })
		if j < 0 {
			ds = append(ds, cacheDomain{key: c.Cache})
			j = len(ds) - 1
		}
		ds[j].cores = append(ds[j].cores, i)
		ds[j].capacity += max(c.Capacity, 1)
	}
	slices.SortFunc(ds, func(a, b cacheDomain) int { return a.key - b.key })
	return ds
}

// hybrid reports whether the cores differ in capacity.
func hybrid(cores []Core) bool {
	for _, c := range cores[1:] {
		if c.Capacity != cores[0].Capacity {
			return true
		}
	}
	return false
}
