package alloc

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// JobSpec is a job to place: what it needs of a node.
type JobSpec struct {
	// ID names the job; unique within one call.
	ID string
	// Cores, MemBytes and GPUs are what the job reserves on its node.
	Cores    int
	MemBytes uint64
	GPUs     int
	// Constraints are node labels the job requires, key=value, exact.
	Constraints map[string]string
}

// Placement says which node runs a job, and since when.
type Placement struct {
	// Job and Node are IDs.
	Job  string
	Node string
	// Since is when the job arrived on the node: the now of the Place
	// call that put it there. MinDwell counts from it.
	Since time.Time
}

// check validates a job's fields.
func (j *JobSpec) check() error {
	if err := checkID("job", j.ID); err != nil {
		return err
	}
	bad := func(field string, v any, why string) error {
		return fmt.Errorf("alloc: job %q: %s = %v: %s: %w", j.ID, field, v, why, ErrInvalidInput)
	}
	switch {
	case j.Cores < 0:
		return bad("Cores", j.Cores, "must not be negative")
	case j.GPUs < 0:
		return bad("GPUs", j.GPUs, "must not be negative")
	}
	for k, v := range j.Constraints {
		if k == "" {
			return bad("Constraints", fmt.Sprintf("%q=%q", k, v), "empty key")
		}
	}
	return nil
}

// matches reports whether node n carries every label job j requires.
func (j *JobSpec) matches(n *NodeState) bool {
	for k, v := range j.Constraints {
		if got, ok := n.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// fitsEmpty reports whether the job fits node n with nothing else on it.
func (j *JobSpec) fitsEmpty(n *NodeState) bool {
	return j.Cores <= n.Cores && j.MemBytes <= n.MemBytes && j.GPUs <= n.GPUs
}

// needs describes what the job asks for, for messages.
func (j *JobSpec) needs() string {
	s := fmt.Sprintf("%d cores, %s memory", j.Cores, bytesText(j.MemBytes))
	if j.GPUs > 0 {
		s += fmt.Sprintf(", %d GPUs", j.GPUs)
	}
	return s
}

// constraintText lists constraints sorted by key, for messages.
func constraintText(c map[string]string) string {
	keys := slices.Sorted(maps.Keys(c))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + c[k]
	}
	return strings.Join(parts, ",")
}

// bytesText prints a size in binary units.
func bytesText(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	exp := int(math.Log(float64(b)) / math.Log(unit))
	exp = min(exp, 6)
	return fmt.Sprintf("%.1f %ciB", float64(b)/math.Pow(unit, float64(exp)), "KMGTPE"[exp-1])
}

// CheckJob says whether job could ever run on nodes, for a caller that
// admits jobs (a gRPC submit): nil if some alive node could take it now;
// an error wrapping ErrUnknownLabel if a constraint names a label no node
// carries, ErrInsufficientResources if it is bigger than every matching
// node even when empty (the message names the biggest), ErrNoCapacity if
// the nodes that could hold it are failed or hot, or ErrInvalidInput for
// a malformed job or node. Room already taken by other jobs is Place's
// business and not checked here. The order of nodes does not matter.
func CheckJob(nodes []NodeState, job JobSpec, p Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := job.check(); err != nil {
		return err
	}
	sorted, err := sortNodes(nodes)
	if err != nil {
		return err
	}
	for i := range sorted {
		if err := sorted[i].checkPlacement(); err != nil {
			return err
		}
	}
	// Room is not CheckJob's question: any alive, cool node big enough
	// will do.
	if err := diagnose(sorted, &job, p, func(int) bool { return true }); err != nil {
		return fmt.Errorf("alloc: job %q: %w", job.ID, err)
	}
	return nil
}

// hot reports whether n is over the thermal limit. A node without sensors
// (NaN) is never hot.
func hot(n *NodeState, p Policy) bool {
	return n.ThermalHeadroomC < p.ThermalLimitC
}

// diagnose says why job j cannot be placed on nodes (sorted by ID), or
// returns nil if one of them could take it: fits(i) says whether alive,
// cool node i has room for it now.
// It is the error a user reads, so it names the first reason in this
// order: an unknown label, a job bigger than any matching node, then no
// node with room (how many matching nodes are failed, hot or full). The
// message does not name the job: it holds for every job of the same
// shape, and the caller wraps it with the job's ID.
func diagnose(nodes []NodeState, j *JobSpec, p Policy, fits func(i int) bool) error {
	for _, k := range slices.Sorted(maps.Keys(j.Constraints)) {
		v := j.Constraints[k]
		known := false
		for i := range nodes {
			if got, ok := nodes[i].Labels[k]; ok && got == v {
				known = true
				break
			}
		}
		if !known {
			return fmt.Errorf("requires label %s=%s, which no node carries: %w", k, v, ErrUnknownLabel)
		}
	}
	var matching, big, failed, hotN, full int
	var maxCores, maxGPUs int
	var maxMem uint64
	coresAt, memAt, gpusAt := "", "", ""
	for i := range nodes {
		n := &nodes[i]
		if !j.matches(n) {
			continue
		}
		matching++
		if n.Cores > maxCores || coresAt == "" {
			maxCores, coresAt = n.Cores, n.ID
		}
		if n.MemBytes > maxMem || memAt == "" {
			maxMem, memAt = n.MemBytes, n.ID
		}
		if n.GPUs > maxGPUs || gpusAt == "" {
			maxGPUs, gpusAt = n.GPUs, n.ID
		}
		if !j.fitsEmpty(n) {
			continue
		}
		big++
		switch {
		case !n.Alive:
			failed++
		case hot(n, p):
			hotN++
		case !fits(i):
			full++
		default:
			return nil
		}
	}
	where := "any node"
	if len(j.Constraints) > 0 {
		where = fmt.Sprintf("any of the %d nodes with %s", matching, constraintText(j.Constraints))
	}
	if len(nodes) == 0 {
		return fmt.Errorf("needs %s, and the cluster has no nodes: %w", j.needs(), ErrInsufficientResources)
	}
	if matching == 0 {
		// Every label is known, but no single node carries all of them.
		return fmt.Errorf("requires %s, which no single node carries together: %w", constraintText(j.Constraints), ErrUnknownLabel)
	}
	if big == 0 {
		var short []string
		if j.Cores > maxCores {
			short = append(short, fmt.Sprintf("%d cores (most: %d on %s)", j.Cores, maxCores, coresAt))
		}
		if j.MemBytes > maxMem {
			short = append(short, fmt.Sprintf("%s memory (most: %s on %s)", bytesText(j.MemBytes), bytesText(maxMem), memAt))
		}
		if j.GPUs > maxGPUs {
			short = append(short, fmt.Sprintf("%d GPUs (most: %d on %s)", j.GPUs, maxGPUs, gpusAt))
		}
		if len(short) == 0 {
			// No one dimension is short, but no node has them all.
			short = append(short, j.needs()+" together")
		}
		return fmt.Errorf("needs more than %s has: %s: %w", where, strings.Join(short, ", "), ErrInsufficientResources)
	}
	return fmt.Errorf("needs %s: of the %d nodes big enough, %d failed, %d over the thermal limit, %d without room: %w",
		j.needs(), big, failed, hotN, full, ErrNoCapacity)
}
