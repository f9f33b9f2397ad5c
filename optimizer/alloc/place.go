package alloc

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// MoveKind says why a job moved.
type MoveKind int

// The kinds of move, most urgent first. The zero MoveKind is none of them.
const (
	// MoveFailed: the job's node failed or left the cluster. Such moves
	// happen at once, whatever the dwell, and are not counted against
	// MaxMovesPerRound.
	MoveFailed MoveKind = iota + 1
	// MoveEvicted: the node no longer carries a label the job requires,
	// or no longer has room for it (its capacity shrank). Not counted
	// either: the job cannot stay.
	MoveEvicted
	// MoveThermal: the node is over the thermal limit and sheds a job.
	MoveThermal
	// MoveImprove: another node scores better by ImproveThreshold and the
	// job has stayed MinDwell.
	MoveImprove
)

// String names the kind.
func (k MoveKind) String() string {
	switch k {
	case MoveFailed:
		return "failed"
	case MoveEvicted:
		return "evicted"
	case MoveThermal:
		return "thermal"
	case MoveImprove:
		return "improve"
	}
	return fmt.Sprintf("MoveKind(%d)", int(k))
}

// Move is one job changing node.
type Move struct {
	Job, From, To string
	Kind          MoveKind
	// Reason says in words why ("node s3 failed", "better by 27%: ...").
	Reason string
	// FromScore and ToScore are the job's score on each node when the
	// move was decided (FromScore is 0 for a failed or evicting node).
	FromScore, ToScore float64
}

// Unplaced is a job Place could not put on any node this round.
type Unplaced struct {
	Job string
	// From is the node the job had to leave (see Reason), or "" for a
	// job that had no node.
	From   string
	Reason string
	// Err says why no node took it; it wraps ErrUnknownLabel,
	// ErrInsufficientResources or ErrNoCapacity.
	Err error
}

// Plan is Place's answer.
type Plan struct {
	// Placements is the whole assignment to commit: every placed job,
	// sorted by job ID. A job missing from it is not running.
	Placements []Placement
	// Placed lists the jobs that had no node and got one, by job ID.
	Placed []Placement
	// Moves lists the jobs that changed node, in the order decided:
	// failed and evicted first, then thermal, then improvements.
	Moves []Move
	// Unplaced lists the jobs without a node after this round, by job ID.
	Unplaced []Unplaced
}

// room is a node's unreserved capacity.
type room struct {
	cores int
	mem   uint64
	gpus  int
}

// placer is the state of one Place call.
type placer struct {
	p     Policy
	now   time.Time
	rng   *rand.Rand
	nodes []NodeState
	jobs  []JobSpec

	free   []room
	added  []int     // cores placed on the node this round, net of cores moved off
	static []float64 // the weighted thermal part of the score
	// The power part: a node's limit (cap, or ceiling) and its draw per
	// core reserved, to project the draw of jobs placed this round; 0
	// limit for a node with neither.
	powerLimit, wattsPerCore []float64
	open                     []bool // may take a new job: alive and not hot
	cool                     []bool // may take a moved job: open, with hysteresis
	perm                     []int  // the sampling order of the nodes, when sampling
	wsum                     float64

	// Label matching, memoised: jobs with the same constraints share a
	// set; matchSets[set] has one bit per node, built on first use.
	jobSet    []int // job -> set, -1 for a job without constraints
	matchSets [][]uint64

	// Per node: 1/capacity for the fit part of the score (0 for a
	// dimension the node lacks) and 1/number of such dimensions.
	invCores, invMem, invGPUs, invDims []float64

	assign []int // job -> node index, -1 if none
	since  []time.Time
	moved  []bool // the job has a new node this round
}

// Place decides where jobs run, given where they run now:
//
//  1. Jobs keep their node unless it failed or left (they move at once),
//     no longer carries a label they require or no longer has room (they
//     are evicted, oldest placements keeping their room first).
//     Placements of jobs not in jobs are dropped.
//  2. Evicted jobs, then jobs without a node, biggest first, go to the
//     best-scoring feasible node: alive, under the thermal limit,
//     carrying the required labels, with room.
//  3. Each node over the thermal limit sheds one job (the biggest that
//     can move) to a node at least ThermalHysteresisC cooler than the
//     limit, hottest node first.
//  4. A job that has stayed MinDwell moves if another node scores better
//     by ImproveThreshold, biggest gain first.
//
// Steps 3 and 4 together move at most MaxMovesPerRound jobs. now is the
// time of the decision (a value: Place reads no clock); rng drives the
// candidate sampling and may be nil when Policy.Candidates is 0 or at
// least the number of nodes. The result depends only on the values
// passed and rng's state, not on the order of the slices. The error is
// for malformed input (ErrInvalidInput); a job that cannot be placed is
// reported in Plan.Unplaced, not as an error.
func Place(nodes []NodeState, jobs []JobSpec, current []Placement, now time.Time, p Policy, rng *rand.Rand) (Plan, error) {
	pl, kept, err := newPlacer(nodes, jobs, current, now, p, rng)
	if err != nil {
		return Plan{}, err
	}
	var plan Plan
	forced := pl.admit(kept)
	pl.placeAll(forced, &plan)
	budget := p.MaxMovesPerRound
	budget = pl.shedHeat(budget, &plan)
	pl.improve(budget, &plan)

	for ji := range pl.jobs {
		if ni := pl.assign[ji]; ni >= 0 {
			plan.Placements = append(plan.Placements, Placement{Job: pl.jobs[ji].ID, Node: pl.nodes[ni].ID, Since: pl.since[ji]})
		}
	}
	slices.SortFunc(plan.Placed, func(a, b Placement) int { return strings.Compare(a.Job, b.Job) })
	slices.SortFunc(plan.Unplaced, func(a, b Unplaced) int { return strings.Compare(a.Job, b.Job) })
	return plan, nil
}

// newPlacer validates the input and sets up the round. kept is current,
// validated and sorted by (Since, Job): the order in which placements
// reclaim their room.
func newPlacer(nodes []NodeState, jobs []JobSpec, current []Placement, now time.Time, p Policy, rng *rand.Rand) (*placer, []Placement, error) {
	if err := p.Validate(); err != nil {
		return nil, nil, err
	}
	sorted, err := sortNodes(nodes)
	if err != nil {
		return nil, nil, err
	}
	for i := range sorted {
		if err := sorted[i].checkPlacement(); err != nil {
			return nil, nil, err
		}
	}
	js := slices.Clone(jobs)
	slices.SortFunc(js, func(a, b JobSpec) int { return strings.Compare(a.ID, b.ID) })
	for i := range js {
		if err := js[i].check(); err != nil {
			return nil, nil, err
		}
		if i > 0 && js[i].ID == js[i-1].ID {
			return nil, nil, fmt.Errorf("alloc: job %q listed twice: %w", js[i].ID, ErrInvalidInput)
		}
	}
	kept := slices.Clone(current)
	slices.SortFunc(kept, func(a, b Placement) int { return strings.Compare(a.Job, b.Job) })
	for i := range kept {
		if err := checkID("placement's job", kept[i].Job); err != nil {
			return nil, nil, err
		}
		if err := checkID("placement's node", kept[i].Node); err != nil {
			return nil, nil, err
		}
		if i > 0 && kept[i].Job == kept[i-1].Job {
			return nil, nil, fmt.Errorf("alloc: job %q placed twice (on %q and %q): %w", kept[i].Job, kept[i-1].Node, kept[i].Node, ErrInvalidInput)
		}
	}
	slices.SortStableFunc(kept, func(a, b Placement) int { return a.Since.Compare(b.Since) })
	if p.Candidates > 0 && p.Candidates < len(sorted) && rng == nil {
		return nil, nil, fmt.Errorf("alloc: policy samples %d of %d nodes but no rng was given: %w", p.Candidates, len(sorted), ErrInvalidInput)
	}

	n := len(sorted)
	pl := &placer{
		p: p, now: now, rng: rng, nodes: sorted, jobs: js,
		free:   make([]room, n),
		added:  make([]int, n),
		static: make([]float64, n),

		powerLimit:   make([]float64, n),
		wattsPerCore: make([]float64, n),
		open:         make([]bool, n),
		cool:         make([]bool, n),
		invCores:     make([]float64, n),
		invMem:       make([]float64, n),
		invGPUs:      make([]float64, n),
		invDims:      make([]float64, n),
		jobSet:       make([]int, len(js)),
		assign:       make([]int, len(js)),
		since:        make([]time.Time, len(js)),
		moved:        make([]bool, len(js)),
	}
	w := p.Weights
	pl.wsum = w.Fit + w.Thermal + w.Power + w.Load
	for i := range sorted {
		nd := &sorted[i]
		pl.free[i] = room{cores: nd.Cores, mem: nd.MemBytes, gpus: nd.GPUs}
		pl.open[i] = nd.Alive && !hot(nd, p)
		// NaN compares false: a node without sensors is never hot, and
		// counts as cool.
		pl.cool[i] = pl.open[i] && !(nd.ThermalHeadroomC < p.ThermalLimitC+p.ThermalHysteresisC)
		thermal := 0.5
		if !math.IsNaN(nd.ThermalHeadroomC) {
			thermal = clamp01(nd.ThermalHeadroomC / p.ThermalScaleC)
		}
		pl.static[i] = w.Thermal * thermal
		pl.powerLimit[i] = cmp.Or(nd.CapWatts, nd.CeilingWatts)
		if nd.Cores > 0 && nd.CeilingWatts > nd.FloorWatts {
			// The node's power range spread over its cores: a linear model
			// of what the jobs placed this round will add to its draw.
			// Without it, moves would chase power headroom that the moved
			// jobs themselves use up by the next reading.
			pl.wattsPerCore[i] = (nd.CeilingWatts - nd.FloorWatts) / float64(nd.Cores)
		}
	}
	for i := range pl.assign {
		pl.assign[i] = -1
	}
	for i := range sorted {
		nd := &sorted[i]
		dims := 0
		if nd.Cores > 0 {
			pl.invCores[i] = 1 / float64(nd.Cores)
			dims++
		}
		if nd.MemBytes > 0 {
			pl.invMem[i] = 1 / float64(nd.MemBytes)
			dims++
		}
		if nd.GPUs > 0 {
			pl.invGPUs[i] = 1 / float64(nd.GPUs)
			dims++
		}
		if dims > 0 {
			pl.invDims[i] = 1 / float64(dims)
		}
	}
	sets := map[string]int{}
	for ji := range js {
		pl.jobSet[ji] = -1
		if len(js[ji].Constraints) == 0 {
			continue
		}
		key := constraintText(js[ji].Constraints)
		set, ok := sets[key]
		if !ok {
			set = len(sets)
			sets[key] = set
		}
		pl.jobSet[ji] = set
	}
	pl.matchSets = make([][]uint64, len(sets))
	if p.Candidates > 0 && p.Candidates < n {
		pl.perm = rng.Perm(n)
	}
	return pl, kept, nil
}

func clamp01(v float64) float64 { return min(max(v, 0), 1) }

// forcedJob is a job that must find a node this round.
type forcedJob struct {
	job    int
	from   string
	kind   MoveKind
	reason string
}

// admit gives current placements back their room, and returns the jobs
// that must move or have no node yet.
func (pl *placer) admit(kept []Placement) []forcedJob {
	nodeAt := make(map[string]int, len(pl.nodes))
	for i := range pl.nodes {
		nodeAt[pl.nodes[i].ID] = i
	}
	var forced []forcedJob
	for _, c := range kept {
		ji, ok := slices.BinarySearchFunc(pl.jobs, c.Job, func(j JobSpec, id string) int { return strings.Compare(j.ID, id) })
		if !ok {
			continue // the job has ended
		}
		j := &pl.jobs[ji]
		ni, known := nodeAt[c.Node]
		switch {
		case !known:
			forced = append(forced, forcedJob{ji, c.Node, MoveFailed, fmt.Sprintf("node %s left the cluster", c.Node)})
		case !pl.nodes[ni].Alive:
			forced = append(forced, forcedJob{ji, c.Node, MoveFailed, fmt.Sprintf("node %s failed", c.Node)})
		case !pl.matches(ni, ji):
			forced = append(forced, forcedJob{ji, c.Node, MoveEvicted, fmt.Sprintf("node %s no longer carries %s", c.Node, constraintText(j.Constraints))})
			pl.added[ni] -= j.Cores // its load leaves the node's telemetry
		case !pl.hasRoom(ni, j):
			forced = append(forced, forcedJob{ji, c.Node, MoveEvicted, fmt.Sprintf("node %s no longer has room for it", c.Node)})
			pl.added[ni] -= j.Cores
		default:
			pl.take(ni, ji)
			pl.assign[ji] = ni
			pl.since[ji] = c.Since
		}
	}
	// Forced jobs first (they were running), then new ones; biggest first
	// within each, so the big ones find room before small ones fragment
	// it.
	pending := make([]bool, len(pl.jobs))
	for _, f := range forced {
		pending[f.job] = true
	}
	bySize := func(a, b forcedJob) int { return pl.bigger(a.job, b.job) }
	slices.SortStableFunc(forced, bySize)
	var fresh []forcedJob
	for ji := range pl.jobs {
		if pl.assign[ji] < 0 && !pending[ji] {
			fresh = append(fresh, forcedJob{job: ji})
		}
	}
	slices.SortStableFunc(fresh, bySize)
	return append(forced, fresh...)
}

// bigger orders jobs biggest first (GPUs, then cores, then memory), then
// by ID.
func (pl *placer) bigger(a, b int) int {
	ja, jb := &pl.jobs[a], &pl.jobs[b]
	if c := cmp.Compare(jb.GPUs, ja.GPUs); c != 0 {
		return c
	}
	if c := cmp.Compare(jb.Cores, ja.Cores); c != 0 {
		return c
	}
	if c := cmp.Compare(jb.MemBytes, ja.MemBytes); c != 0 {
		return c
	}
	return strings.Compare(ja.ID, jb.ID)
}

// hasRoom reports whether node i has room for job j.
func (pl *placer) hasRoom(i int, j *JobSpec) bool {
	f := pl.free[i]
	return j.Cores <= f.cores && j.MemBytes <= f.mem && j.GPUs <= f.gpus
}

// take reserves job ji's resources on node i.
func (pl *placer) take(i, ji int) {
	j := &pl.jobs[ji]
	pl.free[i].cores -= j.Cores
	pl.free[i].mem -= j.MemBytes
	pl.free[i].gpus -= j.GPUs
}

// release returns job ji's resources to node i.
func (pl *placer) release(i, ji int) {
	j := &pl.jobs[ji]
	pl.free[i].cores += j.Cores
	pl.free[i].mem += j.MemBytes
	pl.free[i].gpus += j.GPUs
}

// feasible reports whether node i may take job ji: a new job needs an
// open node, a moved one a cool node.
func (pl *placer) feasible(i, ji int, moving bool) bool {
	if moving && !pl.cool[i] || !pl.open[i] {
		return false
	}
	return pl.hasRoom(i, &pl.jobs[ji]) && pl.matches(i, ji)
}

// matches reports whether node i carries the labels job ji requires.
func (pl *placer) matches(i, ji int) bool {
	set := pl.jobSet[ji]
	if set < 0 {
		return true
	}
	bits := pl.matchSets[set]
	if bits == nil {
		bits = make([]uint64, (len(pl.nodes)+63)/64)
		for k := range pl.nodes {
			if pl.jobs[ji].matches(&pl.nodes[k]) {
				bits[k/64] |= 1 << (k % 64)
			}
		}
		pl.matchSets[set] = bits
	}
	return bits[i/64]&(1<<(i%64)) != 0
}

// score is job j's score on node i, 0..1, higher better; adding says the
// job is not yet counted on the node.
func (pl *placer) score(i int, j *JobSpec, adding bool) float64 {
	n := &pl.nodes[i]
	f := pl.free[i]
	var dc, dg int
	var dm uint64
	if adding {
		dc, dm, dg = j.Cores, j.MemBytes, j.GPUs
	}
	used := (float64(n.Cores-f.cores+dc)*pl.invCores[i] +
		float64(n.MemBytes-f.mem+dm)*pl.invMem[i] +
		float64(n.GPUs-f.gpus+dg)*pl.invGPUs[i]) * pl.invDims[i]
	fit := used
	if pl.p.Strategy == Spread {
		fit = 1 - used
	}
	load := n.Load + float64(pl.added[i]+dc)*pl.invCores[i]
	power := 0.5
	if limit := pl.powerLimit[i]; limit > 0 {
		power = clamp01((limit - n.PowerWatts - float64(pl.added[i]+dc)*pl.wattsPerCore[i]) / limit)
	}
	w := pl.p.Weights
	return (pl.static[i] + w.Fit*fit + w.Power*power + w.Load*(1-clamp01(load))) / pl.wsum
}

// best finds the best node for job ji other than exclude (-1 for none):
// among every feasible node, or, when sampling, among the first
// Candidates feasible nodes of a walk through the shuffled nodes from a
// random start. Sampling limits scoring, not the search: a job finds a
// node whenever one is feasible. Ties go to the node found first.
func (pl *placer) best(ji, exclude int, moving bool) (int, float64) {
	j := &pl.jobs[ji]
	n := len(pl.nodes)
	bestAt, bestScore := -1, math.Inf(-1)
	consider := func(i int) {
		if i == exclude || !pl.feasible(i, ji, moving) {
			return
		}
		if s := pl.score(i, j, true); s > bestScore {
			bestAt, bestScore = i, s
		}
	}
	if pl.perm == nil {
		for i := range n {
			consider(i)
		}
		return bestAt, bestScore
	}
	start := pl.rng.IntN(n)
	found := 0
	for k := 0; k < n && found < pl.p.Candidates; k++ {
		i := pl.perm[(start+k)%n]
		if i == exclude || !pl.feasible(i, ji, moving) {
			continue
		}
		found++
		if s := pl.score(i, j, true); s > bestScore {
			bestAt, bestScore = i, s
		}
	}
	return bestAt, bestScore
}

// moveTo puts job ji on node to (from its current node, if any).
func (pl *placer) moveTo(ji, to int) {
	j := &pl.jobs[ji]
	if from := pl.assign[ji]; from >= 0 {
		pl.release(from, ji)
		pl.added[from] -= j.Cores
	}
	pl.take(to, ji)
	pl.added[to] += j.Cores
	pl.assign[ji] = to
	pl.since[ji] = pl.now
	pl.moved[ji] = true
}

// shape is what decides whether a job fits: two jobs of one shape fit
// the same nodes.
type shape struct {
	cores int
	mem   uint64
	gpus  int
	set   int // the job's constraint set (jobSet)
}

// placeAll places the jobs that must find a node: forced moves first.
func (pl *placer) placeAll(todo []forcedJob, plan *Plan) {
	// Free room only shrinks here, so a shape that found no node will not
	// find one later this round: a queue of identical jobs larger than
	// the cluster costs one search, not one per job.
	failed := map[shape]error{}
	for _, f := range todo {
		j := &pl.jobs[f.job]
		key := shape{j.Cores, j.MemBytes, j.GPUs, pl.jobSet[f.job]}
		to, s := -1, 0.0
		if _, known := failed[key]; !known {
			to, s = pl.best(f.job, -1, false)
		}
		if to < 0 {
			cause, known := failed[key]
			if !known {
				cause = diagnose(pl.nodes, j, pl.p, func(i int) bool { return pl.hasRoom(i, j) })
				if cause == nil {
					cause = fmt.Errorf("needs %s: no feasible node: %w", j.needs(), ErrNoCapacity)
				}
				failed[key] = cause
			}
			err := fmt.Errorf("alloc: job %q: %w", j.ID, cause)
			plan.Unplaced = append(plan.Unplaced, Unplaced{Job: j.ID, From: f.from, Reason: f.reason, Err: err})
			continue
		}
		pl.moveTo(f.job, to)
		if f.from == "" {
			plan.Placed = append(plan.Placed, Placement{Job: j.ID, Node: pl.nodes[to].ID, Since: pl.now})
			continue
		}
		plan.Moves = append(plan.Moves, Move{Job: j.ID, From: f.from, To: pl.nodes[to].ID, Kind: f.kind, Reason: f.reason, ToScore: s})
	}
}

// shedHeat moves one job off each node over the thermal limit, hottest
// first, while budget lasts; it returns the budget left.
func (pl *placer) shedHeat(budget int, plan *Plan) int {
	var hotNodes []int
	for i := range pl.nodes {
		if n := &pl.nodes[i]; n.Alive && hot(n, pl.p) {
			hotNodes = append(hotNodes, i)
		}
	}
	if len(hotNodes) == 0 || budget == 0 {
		return budget
	}
	slices.SortStableFunc(hotNodes, func(a, b int) int {
		return cmp.Compare(pl.nodes[a].ThermalHeadroomC, pl.nodes[b].ThermalHeadroomC)
	})
	on := make([][]int, len(pl.nodes))
	for ji, ni := range pl.assign {
		if ni >= 0 && !pl.moved[ji] {
			on[ni] = append(on[ni], ji)
		}
	}
	for _, ni := range hotNodes {
		if budget == 0 {
			break
		}
		jobs := on[ni]
		slices.SortFunc(jobs, pl.bigger)
		for _, ji := range jobs {
			to, s := pl.best(ji, ni, true)
			if to < 0 {
				continue
			}
			from := pl.score(ni, &pl.jobs[ji], false)
			n := &pl.nodes[ni]
			pl.moveTo(ji, to)
			plan.Moves = append(plan.Moves, Move{
				Job: pl.jobs[ji].ID, From: n.ID, To: pl.nodes[to].ID, Kind: MoveThermal,
				Reason:    fmt.Sprintf("node %s over the thermal limit: %.1f °C headroom, under %.1f °C", n.ID, n.ThermalHeadroomC, pl.p.ThermalLimitC),
				FromScore: from, ToScore: s,
			})
			budget--
			break
		}
	}
	return budget
}

// minScore keeps the relative gain finite for a job scoring near zero.
const minScore = 0.01

// improve moves jobs that have stayed MinDwell to nodes scoring better by
// ImproveThreshold, biggest gain first, while budget lasts.
func (pl *placer) improve(budget int, plan *Plan) {
	if budget == 0 {
		return
	}
	type cand struct {
		job, to int
		gain    float64
	}
	var cands []cand
	for ji, ni := range pl.assign {
		if ni < 0 || pl.moved[ji] || pl.now.Sub(pl.since[ji]) < pl.p.MinDwell {
			continue
		}
		to, s := pl.best(ji, ni, true)
		if to < 0 {
			continue
		}
		cur := pl.score(ni, &pl.jobs[ji], false)
		if g := (s - cur) / max(cur, minScore); g > 0 && g >= pl.p.ImproveThreshold {
			cands = append(cands, cand{ji, to, g})
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int { return cmp.Compare(b.gain, a.gain) })
	for _, c := range cands {
		if budget == 0 {
			return
		}
		// Earlier moves this round change the scores: decide again, and
		// look again for the best node if the one found is no longer it.
		j := &pl.jobs[c.job]
		from := pl.assign[c.job]
		to := c.to
		cur := pl.score(from, j, false)
		gain := func(to int) (float64, float64) {
			if to < 0 || !pl.feasible(to, c.job, true) {
				return math.Inf(-1), 0
			}
			s := pl.score(to, j, true)
			return (s - cur) / max(cur, minScore), s
		}
		g, s := gain(to)
		if !(g > 0 && g >= pl.p.ImproveThreshold) {
			to, _ = pl.best(c.job, from, true)
			if g, s = gain(to); !(g > 0 && g >= pl.p.ImproveThreshold) {
				continue
			}
		}
		pl.moveTo(c.job, to)
		plan.Moves = append(plan.Moves, Move{
			Job: j.ID, From: pl.nodes[from].ID, To: pl.nodes[to].ID, Kind: MoveImprove,
			Reason:    fmt.Sprintf("better by %.0f%%: score %.2f on %s, %.2f on %s", 100*g, cur, pl.nodes[from].ID, s, pl.nodes[to].ID),
			FromScore: cur, ToScore: s,
		})
		budget--
	}
}
