package alloc

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

const gib = 1 << 30

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// node is a live, cool, idle node with the given capacity and labels
// ("key=value").
func node(id string, cores int, memGiB uint64, gpus int, labels ...string) NodeState {
	n := NodeState{
		ID: id, Alive: true, Cores: cores, MemBytes: memGiB * gib, GPUs: gpus,
		ThermalHeadroomC: 30, CeilingWatts: 300, PowerWatts: 100,
	}
	if len(labels) > 0 {
		n.Labels = map[string]string{}
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			n.Labels[k] = v
		}
	}
	return n
}

// job is a job with the given needs and constraints ("key=value").
func job(id string, cores int, memGiB uint64, gpus int, constraints ...string) JobSpec {
	j := JobSpec{ID: id, Cores: cores, MemBytes: memGiB * gib, GPUs: gpus}
	if len(constraints) > 0 {
		j.Constraints = map[string]string{}
		for _, l := range constraints {
			k, v, _ := strings.Cut(l, "=")
			j.Constraints[k] = v
		}
	}
	return j
}

// allNodes is DefaultPolicy scoring every node (no rng needed).
func allNodes() Policy {
	p := DefaultPolicy()
	p.Candidates = 0
	return p
}

func placedOn(t *testing.T, plan Plan, jobID string) string {
	t.Helper()
	for _, p := range plan.Placements {
		if p.Job == jobID {
			return p.Node
		}
	}
	return ""
}

func mustPlace(t *testing.T, nodes []NodeState, jobs []JobSpec, cur []Placement, now time.Time, p Policy, r *rand.Rand) Plan {
	t.Helper()
	plan, err := Place(nodes, jobs, cur, now, p, r)
	if err != nil {
		t.Fatalf("Place() error = %v", err)
	}
	return plan
}

func TestPlaceChoosesNode(t *testing.T) {
	fitOnly := func(s Strategy) Policy {
		p := allNodes()
		p.Strategy, p.Weights = s, ScoreWeights{Fit: 1}
		return p
	}
	withScore := func(w ScoreWeights) Policy {
		p := allNodes()
		p.Weights = w
		return p
	}
	busy := node("a", 8, 16, 0)
	busy.Load = 0.5
	hotter, cooler := node("h", 8, 16, 0), node("k", 8, 16, 0)
	hotter.ThermalHeadroomC, cooler.ThermalHeadroomC = 10, 25
	drawing, spare := node("p", 8, 16, 0), node("q", 8, 16, 0)
	drawing.CapWatts, drawing.PowerWatts = 200, 190
	spare.CapWatts, spare.PowerWatts = 200, 60
	loaded, idle := node("l", 8, 16, 0), node("m", 8, 16, 0)
	loaded.Load, idle.Load = 0.9, 0.1
	existing := []JobSpec{job("old", 4, 8, 0)}
	onA := []Placement{{Job: "old", Node: "a", Since: t0.Add(-time.Minute)}}

	tests := []struct {
		name  string
		nodes []NodeState
		jobs  []JobSpec
		cur   []Placement
		p     Policy
		job   string
		want  string
	}{
		{"binpack fills the used node", []NodeState{busy, node("b", 8, 16, 0), node("c", 8, 16, 0)}, append(existing, job("new", 2, 2, 0)), onA, fitOnly(BinPack), "new", "a"},
		{"spread takes an empty node, first by id", []NodeState{busy, node("c", 8, 16, 0), node("b", 8, 16, 0)}, append(existing, job("new", 2, 2, 0)), onA, fitOnly(Spread), "new", "b"},
		{"most thermal headroom", []NodeState{hotter, cooler}, []JobSpec{job("j", 1, 1, 0)}, nil, withScore(ScoreWeights{Thermal: 1}), "j", "k"},
		{"most power headroom", []NodeState{drawing, spare}, []JobSpec{job("j", 1, 1, 0)}, nil, withScore(ScoreWeights{Power: 1}), "j", "q"},
		{"least load", []NodeState{loaded, idle}, []JobSpec{job("j", 1, 1, 0)}, nil, withScore(ScoreWeights{Load: 1}), "j", "m"},
		{"default policy weighs headroom", []NodeState{hotter, cooler}, []JobSpec{job("j", 1, 1, 0)}, nil, allNodes(), "j", "k"},
		{"GPU job to the GPU node", []NodeState{node("cpu", 64, 256, 0), node("gpu", 8, 32, 2)}, []JobSpec{job("j", 4, 8, 1)}, nil, allNodes(), "j", "gpu"},
		{"constraint picks the labelled node", []NodeState{node("a", 8, 16, 0, "zone=us"), node("b", 8, 16, 0, "zone=eu")}, []JobSpec{job("j", 1, 1, 0, "zone=eu")}, nil, allNodes(), "j", "b"},
		{"only the node with room", []NodeState{busy, node("b", 2, 16, 0)}, append(existing, job("new", 4, 2, 0)), onA, allNodes(), "new", "a"},
		{"hot node takes no new job", []NodeState{withHeadroom(node("a", 64, 64, 0), 2), node("b", 2, 2, 0)}, []JobSpec{job("j", 1, 1, 0)}, nil, fitOnly(Spread), "j", "b"},
		{"node without sensors is eligible", []NodeState{withHeadroom(node("a", 8, 8, 0), math.NaN())}, []JobSpec{job("j", 1, 1, 0)}, nil, allNodes(), "j", "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := mustPlace(t, tt.nodes, tt.jobs, tt.cur, t0, tt.p, nil)
			if got := placedOn(t, plan, tt.job); got != tt.want {
				t.Errorf("Place() put %q on %q; want %q (plan %+v)", tt.job, got, tt.want, plan)
			}
		})
	}
}

func withHeadroom(n NodeState, c float64) NodeState {
	n.ThermalHeadroomC = c
	return n
}

// withLoad sets a node's load and, consistent with it, its draw.
func withLoad(n NodeState, l float64) NodeState {
	n.Load = l
	n.PowerWatts = n.FloorWatts + l*(n.CeilingWatts-n.FloorWatts)
	return n
}

func dead(n NodeState) NodeState {
	n.Alive = false
	return n
}

func TestPlaceUnplaced(t *testing.T) {
	nodes := []NodeState{node("s1", 16, 64, 0, "zone=eu"), node("s2", 32, 32, 1, "zone=us"), dead(node("s3", 8, 8, 0, "zone=eu"))}
	full := []JobSpec{job("big", 16, 64, 0)}
	fullAt := []Placement{{Job: "big", Node: "s1", Since: t0}}
	tests := []struct {
		name     string
		nodes    []NodeState
		jobs     []JobSpec
		cur      []Placement
		job      string
		want     error
		class    error
		contains []string
	}{
		{"more cores than any node", nodes, []JobSpec{job("j", 64, 1, 0)}, nil, "j", ErrInsufficientResources, ErrInfeasible, []string{`job "j"`, "64 cores (most: 32 on s2)"}},
		{"more memory than any node", nodes, []JobSpec{job("j", 1, 128, 0)}, nil, "j", ErrInsufficientResources, ErrInfeasible, []string{"128.0 GiB memory (most: 64.0 GiB on s1)"}},
		{"more GPUs than any node", nodes, []JobSpec{job("j", 1, 1, 4)}, nil, "j", ErrInsufficientResources, ErrInfeasible, []string{"4 GPUs (most: 1 on s2)"}},
		{"bigger than every matching node", nodes, []JobSpec{job("j", 20, 1, 0, "zone=eu")}, nil, "j", ErrInsufficientResources, ErrInfeasible, []string{"any of the 2 nodes with zone=eu", "20 cores (most: 16 on s1)"}},
		{"no node has all dimensions", nodes, []JobSpec{job("j", 20, 64, 0)}, nil, "j", ErrInsufficientResources, ErrInfeasible, []string{"together"}},
		{"unknown label", nodes, []JobSpec{job("j", 1, 1, 0, "zone=mars")}, nil, "j", ErrUnknownLabel, ErrInvalidInput, []string{"zone=mars", "no node carries"}},
		{"unknown label key", nodes, []JobSpec{job("j", 1, 1, 0, "rack=7")}, nil, "j", ErrUnknownLabel, ErrInvalidInput, []string{"rack=7"}},
		{"labels never together", nodes, []JobSpec{job("j", 1, 1, 0, "zone=eu", "gpu=none")}, nil, "j", ErrUnknownLabel, ErrInvalidInput, []string{"gpu=none"}},
		{"matching nodes full or failed", nodes, append(full, job("j", 4, 4, 0, "zone=eu")), fullAt, "j", ErrNoCapacity, ErrInfeasible, []string{"of the 2 nodes big enough, 1 failed, 0 over the thermal limit, 1 without room"}},
		{"matching node hot", []NodeState{withHeadroom(node("s1", 8, 8, 0), 1)}, []JobSpec{job("j", 1, 1, 0)}, nil, "j", ErrNoCapacity, ErrInfeasible, []string{"1 over the thermal limit"}},
		{"no nodes at all", nil, []JobSpec{job("j", 1, 1, 0)}, nil, "j", ErrInsufficientResources, ErrInfeasible, []string{`job "j"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := mustPlace(t, tt.nodes, tt.jobs, tt.cur, t0, allNodes(), nil)
			var u *Unplaced
			for i := range plan.Unplaced {
				if plan.Unplaced[i].Job == tt.job {
					u = &plan.Unplaced[i]
				}
			}
			if u == nil {
				t.Fatalf("Place() placed %q on %q; want it unplaced", tt.job, placedOn(t, plan, tt.job))
			}
			if !errors.Is(u.Err, tt.want) || !errors.Is(u.Err, tt.class) {
				t.Errorf("Place() unplaced %q with %v; want %v (class %v)", tt.job, u.Err, tt.want, tt.class)
			}
			for _, c := range tt.contains {
				if !strings.Contains(u.Err.Error(), c) {
					t.Errorf("Place() unplaced error = %q; want it to say %q", u.Err, c)
				}
			}
			// CheckJob agrees on the kind of problem for a job alone,
			// except lack of room, which it does not judge.
			err := CheckJob(tt.nodes, jobByID(tt.jobs, tt.job), allNodes())
			if tt.want == ErrNoCapacity && len(tt.cur) > 0 {
				if err != nil {
					t.Errorf("CheckJob() = %v; want nil (room is Place's business)", err)
				}
			} else if !errors.Is(err, tt.want) {
				t.Errorf("CheckJob() = %v; want %v", err, tt.want)
			}
		})
	}
}

// TestPlaceQueue: more identical jobs than fit; the ones that fit are
// placed, the rest wait with the same reason, and a smaller job still
// finds the room the big ones left.
func TestPlaceQueue(t *testing.T) {
	nodes := []NodeState{node("a", 5, 64, 0), node("b", 5, 64, 0)}
	var jobs []JobSpec
	for i := range 10 {
		jobs = append(jobs, job(fmt.Sprintf("big%02d", i), 2, 1, 0))
	}
	jobs = append(jobs, job("small", 1, 1, 0))
	plan := mustPlace(t, nodes, jobs, nil, t0, allNodes(), nil)
	if len(plan.Placed) != 5 || len(plan.Unplaced) != 6 {
		t.Fatalf("Place() placed %d, left %d unplaced; want 5 and 6", len(plan.Placed), len(plan.Unplaced))
	}
	if placedOn(t, plan, "small") == "" {
		t.Errorf("Place() left the small job unplaced; want it in the room the big ones left")
	}
	for _, u := range plan.Unplaced {
		if !errors.Is(u.Err, ErrNoCapacity) || !strings.Contains(u.Err.Error(), fmt.Sprintf("job %q", u.Job)) ||
			!strings.Contains(u.Err.Error(), "2 without room") {
			t.Errorf("Place() unplaced %s: %v; want ErrNoCapacity naming the job and the 2 full nodes", u.Job, u.Err)
		}
	}
}

func TestCheckJob(t *testing.T) {
	nodes := []NodeState{node("a", 8, 8, 0, "zone=eu"), node("b", 16, 16, 1)}
	badPolicy := allNodes()
	badPolicy.ThermalScaleC = 0
	nanFloor := node("c", 8, 8, 0)
	nanFloor.FloorWatts = math.NaN()
	tests := []struct {
		name  string
		nodes []NodeState
		job   JobSpec
		p     Policy
		want  error // nil: the job can run
	}{
		{"fits", nodes, job("j", 16, 16, 1), allNodes(), nil},
		{"fits a labelled node", nodes, job("j", 8, 8, 0, "zone=eu"), allNodes(), nil},
		{"too big", nodes, job("j", 17, 1, 0), allNodes(), ErrInsufficientResources},
		{"too big for the label", nodes, job("j", 9, 1, 0, "zone=eu"), allNodes(), ErrInsufficientResources},
		{"unknown label", nodes, job("j", 1, 1, 0, "zone=us"), allNodes(), ErrUnknownLabel},
		{"only failed nodes", []NodeState{dead(nodes[0])}, job("j", 1, 1, 0), allNodes(), ErrNoCapacity},
		{"empty id", nodes, job("", 1, 1, 0), allNodes(), ErrInvalidInput},
		{"bad node", []NodeState{nanFloor}, job("j", 1, 1, 0), allNodes(), ErrInvalidInput},
		{"bad policy", nodes, job("j", 1, 1, 0), badPolicy, ErrInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckJob(tt.nodes, tt.job, tt.p)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("CheckJob(%q) = %v; want %v", tt.job.ID, err, tt.want)
			}
		})
	}
}

func jobByID(jobs []JobSpec, id string) JobSpec {
	for _, j := range jobs {
		if j.ID == id {
			return j
		}
	}
	return JobSpec{}
}

func TestPlaceInvalidInput(t *testing.T) {
	ok := []NodeState{node("a", 8, 8, 0)}
	okJobs := []JobSpec{job("j", 1, 1, 0)}
	badPolicy := allNodes()
	badPolicy.ImproveThreshold = math.NaN()
	sampling := DefaultPolicy()
	sampling.Candidates = 1
	tests := []struct {
		name     string
		nodes    []NodeState
		jobs     []JobSpec
		cur      []Placement
		p        Policy
		contains string
	}{
		{"duplicate node", []NodeState{ok[0], ok[0]}, okJobs, nil, allNodes(), `node "a" listed twice`},
		{"duplicate job", ok, []JobSpec{okJobs[0], okJobs[0]}, nil, allNodes(), `job "j" listed twice`},
		{"job placed twice", ok, okJobs, []Placement{{Job: "j", Node: "a"}, {Job: "j", Node: "b"}}, allNodes(), "placed twice"},
		{"negative cores", ok, []JobSpec{job("j", -1, 1, 0)}, nil, allNodes(), "Cores = -1"},
		{"load out of range", []NodeState{{ID: "a", Alive: true, Load: 1.5}}, okJobs, nil, allNodes(), "Load = 1.5"},
		{"infinite headroom", []NodeState{withHeadroom(ok[0], math.Inf(1))}, okJobs, nil, allNodes(), "ThermalHeadroomC"},
		{"control character in id", []NodeState{node("a\n", 1, 1, 0)}, okJobs, nil, allNodes(), "control characters"},
		{"empty constraint key", ok, []JobSpec{{ID: "j", Constraints: map[string]string{"": "x"}}}, nil, allNodes(), "empty key"},
		{"bad policy", ok, okJobs, nil, badPolicy, "ImproveThreshold"},
		{"sampling without rng", []NodeState{ok[0], node("b", 1, 1, 0)}, okJobs, nil, sampling, "no rng"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Place(tt.nodes, tt.jobs, tt.cur, t0, tt.p, nil)
			if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("Place() error = %v; want ErrInvalidInput saying %q", err, tt.contains)
			}
		})
	}
}

func TestPlaceMoves(t *testing.T) {
	p := allNodes()
	p.MaxMovesPerRound = 2
	longAgo := t0.Add(-time.Hour)
	four := []JobSpec{job("j1", 2, 1, 0), job("j2", 2, 1, 0), job("j3", 2, 1, 0), job("j4", 2, 1, 0)}
	allOn := func(n string, since time.Time) []Placement {
		var out []Placement
		for _, j := range four {
			out = append(out, Placement{Job: j.ID, Node: n, Since: since})
		}
		return out
	}
	noMoves := p
	noMoves.MaxMovesPerRound = 0
	strict := p
	strict.ImproveThreshold = 5

	tests := []struct {
		name  string
		nodes []NodeState
		jobs  []JobSpec
		cur   []Placement
		p     Policy
		want  map[MoveKind]int // moves of each kind
		from  string           // every move leaves this node
	}{
		{
			name:  "failed node moves all jobs at once, dwell and bound aside",
			nodes: []NodeState{dead(node("a", 8, 8, 0)), node("b", 8, 8, 0)},
			jobs:  four, cur: allOn("a", t0), p: noMoves,
			want: map[MoveKind]int{MoveFailed: 4}, from: "a",
		},
		{
			name:  "departed node moves all jobs",
			nodes: []NodeState{node("b", 8, 8, 0)},
			jobs:  four, cur: allOn("gone", t0), p: noMoves,
			want: map[MoveKind]int{MoveFailed: 4}, from: "gone",
		},
		{
			name:  "hot node sheds one job a round",
			nodes: []NodeState{withHeadroom(node("a", 8, 8, 0), 1), node("b", 8, 8, 0)},
			jobs:  four, cur: allOn("a", t0), p: p,
			want: map[MoveKind]int{MoveThermal: 1}, from: "a",
		},
		{
			name:  "hot nodes within the round's bound",
			nodes: []NodeState{withHeadroom(node("a", 8, 8, 0), 1), withHeadroom(node("b", 8, 8, 0), 2), withHeadroom(node("c", 8, 8, 0), 0), node("d", 32, 32, 0)},
			jobs:  append(four, job("j5", 2, 1, 0), job("j6", 2, 1, 0)),
			cur: []Placement{{Job: "j1", Node: "a", Since: t0}, {Job: "j2", Node: "b", Since: t0}, {Job: "j3", Node: "c", Since: t0},
				{Job: "j4", Node: "a", Since: t0}, {Job: "j5", Node: "b", Since: t0}, {Job: "j6", Node: "c", Since: t0}},
			p: p, want: map[MoveKind]int{MoveThermal: 2},
		},
		{
			name:  "hot node keeps jobs when no node is cool enough",
			nodes: []NodeState{withHeadroom(node("a", 8, 8, 0), 1), withHeadroom(node("b", 8, 8, 0), 7)},
			jobs:  four, cur: allOn("a", t0), p: p,
			want: map[MoveKind]int{},
		},
		{
			name:  "improvement waits for dwell",
			nodes: []NodeState{withLoad(node("a", 8, 8, 0), 1), node("b", 8, 8, 0)},
			jobs:  four, cur: allOn("a", t0.Add(-time.Minute)), p: p,
			want: map[MoveKind]int{},
		},
		{
			name:  "improvement after dwell, bounded",
			nodes: []NodeState{withLoad(node("a", 8, 8, 0), 1), node("b", 8, 8, 0), node("c", 8, 8, 0), node("d", 8, 8, 0)},
			jobs:  four, cur: allOn("a", longAgo), p: p,
			want: map[MoveKind]int{MoveImprove: 2}, from: "a",
		},
		{
			name:  "improvement below threshold stays",
			nodes: []NodeState{withLoad(node("a", 8, 8, 0), 1), node("b", 8, 8, 0)},
			jobs:  four, cur: allOn("a", longAgo), p: strict,
			want: map[MoveKind]int{},
		},
		{
			name:  "label removed evicts",
			nodes: []NodeState{node("a", 8, 8, 0), node("b", 8, 8, 0, "zone=eu")},
			jobs:  []JobSpec{job("j", 1, 1, 0, "zone=eu")}, cur: []Placement{{Job: "j", Node: "a", Since: t0}}, p: noMoves,
			want: map[MoveKind]int{MoveEvicted: 1}, from: "a",
		},
		{
			name:  "shrunk node evicts the newest",
			nodes: []NodeState{node("a", 4, 8, 0), node("b", 8, 8, 0)},
			jobs:  four, cur: []Placement{{Job: "j1", Node: "a", Since: t0.Add(-3 * time.Minute)}, {Job: "j2", Node: "a", Since: t0.Add(-2 * time.Minute)}, {Job: "j3", Node: "a", Since: t0.Add(-time.Minute)}, {Job: "j4", Node: "b", Since: t0}},
			p:    noMoves,
			want: map[MoveKind]int{MoveEvicted: 1}, from: "a",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := mustPlace(t, tt.nodes, tt.jobs, tt.cur, t0, tt.p, nil)
			got := map[MoveKind]int{}
			for _, m := range plan.Moves {
				got[m.Kind]++
				if tt.from != "" && m.From != tt.from {
					t.Errorf("Place() moved %s from %q; want from %q", m.Job, m.From, tt.from)
				}
				if m.To == m.From || m.Reason == "" {
					t.Errorf("Place() move %+v; want a new node and a reason", m)
				}
				if p := placedOn(t, plan, m.Job); p != m.To {
					t.Errorf("Place() moved %s to %q but placements say %q", m.Job, m.To, p)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Place() moves = %v; want %v (moves %+v)", got, tt.want, plan.Moves)
			}
			if len(plan.Unplaced) > 0 {
				t.Errorf("Place() unplaced %+v; want none", plan.Unplaced)
			}
		})
	}
}

func TestPlaceMoveReasons(t *testing.T) {
	p := allNodes()
	nodes := []NodeState{dead(node("s3", 8, 8, 0)), withHeadroom(node("s2", 8, 8, 0), 2), node("s1", 16, 16, 0)}
	jobs := []JobSpec{job("a", 1, 1, 0), job("b", 1, 1, 0)}
	cur := []Placement{{Job: "a", Node: "s3", Since: t0}, {Job: "b", Node: "s2", Since: t0}}
	plan := mustPlace(t, nodes, jobs, cur, t0, p, nil)
	want := []string{"node s3 failed", "node s2 over the thermal limit: 2.0 °C headroom, under 5.0 °C"}
	if len(plan.Moves) != len(want) {
		t.Fatalf("Place() moves = %+v; want %d", plan.Moves, len(want))
	}
	for i, m := range plan.Moves {
		if m.Reason != want[i] {
			t.Errorf("Place() move %d reason = %q; want %q", i, m.Reason, want[i])
		}
	}
	// An improvement names the gain.
	p.MinDwell = 0
	plan = mustPlace(t, []NodeState{node("s1", 8, 8, 0), node("s2", 8, 8, 0)}, []JobSpec{job("a", 6, 6, 0), job("b", 1, 1, 0)},
		[]Placement{{Job: "a", Node: "s1", Since: t0}, {Job: "b", Node: "s1", Since: t0}}, t0, p, nil)
	if len(plan.Moves) != 1 || !strings.HasPrefix(plan.Moves[0].Reason, "better by ") || plan.Moves[0].ToScore <= plan.Moves[0].FromScore {
		t.Fatalf("Place() moves = %+v; want one improvement that names its gain", plan.Moves)
	}
}

// randomCluster draws n nodes of a few shapes (some with GPUs, labels in
// two zones), a few failed or hot, and jobs that mostly fit.
func randomCluster(r *rand.Rand, n, jobs int) ([]NodeState, []JobSpec) {
	nodes := make([]NodeState, n)
	for i := range nodes {
		nd := node(fmt.Sprintf("n%04d", i), []int{8, 16, 32, 64}[r.IntN(4)], []uint64{16, 32, 64, 256}[r.IntN(4)], []int{0, 0, 0, 1, 4}[r.IntN(5)],
			"zone="+[]string{"eu", "us"}[r.IntN(2)])
		nd.ThermalHeadroomC = 5 + r.Float64()*40
		nd.Load = r.Float64()
		nd.PowerWatts = 50 + r.Float64()*250
		nd.CapWatts = []float64{0, 250, 300}[r.IntN(3)]
		if r.IntN(20) == 0 {
			nd.Alive = false
		}
		if r.IntN(20) == 0 {
			nd.ThermalHeadroomC = r.Float64() * 5
		}
		nodes[i] = nd
	}
	js := make([]JobSpec, jobs)
	for i := range js {
		j := job(fmt.Sprintf("j%05d", i), 1+r.IntN(8), uint64(1+r.IntN(16)), 0)
		if r.IntN(10) == 0 {
			j.GPUs = 1
		}
		if r.IntN(5) == 0 {
			j.Constraints = map[string]string{"zone": []string{"eu", "us"}[r.IntN(2)]}
		}
		js[i] = j
	}
	return nodes, js
}

func shuffled[T any](r *rand.Rand, s []T) []T {
	out := append([]T(nil), s...)
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// TestPlaceDeterministic: the same input and seed give the same plan
// whatever the order of the slices, sampling or not.
func TestPlaceDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for trial := range 20 {
		nodes, jobs := randomCluster(r, 20+r.IntN(80), 100+r.IntN(400))
		p := DefaultPolicy()
		p.Candidates = []int{0, 2, 8}[trial%3]
		p.Strategy = Strategy(trial % 2)
		first := mustPlace(t, nodes, jobs, nil, t0, p, rand.New(rand.NewPCG(uint64(trial), 1)))
		// A later round with failures and dwell met, from the first's
		// placements.
		for i := range nodes {
			if r.IntN(10) == 0 {
				nodes[i].Alive = !nodes[i].Alive
			}
		}
		later := t0.Add(time.Hour)
		a := mustPlace(t, nodes, jobs, first.Placements, later, p, rand.New(rand.NewPCG(uint64(trial), 2)))
		b := mustPlace(t, shuffled(r, nodes), shuffled(r, jobs), shuffled(r, first.Placements), later, p, rand.New(rand.NewPCG(uint64(trial), 2)))
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("trial %d: Place(shuffled input) differs from Place(input):\n%+v\n%+v", trial, a.Moves, b.Moves)
		}
	}
}

// checkPlan asserts what every plan must satisfy: each job placed or
// unplaced exactly once; no node over capacity; constraints met; placed,
// moved and kept jobs on alive nodes; new and moved jobs on nodes under
// the thermal limit (moves: with hysteresis); moves for heat and
// improvement within the bound; an improvement only after MinDwell and
// for a gain of at least ImproveThreshold.
func checkPlan(t *testing.T, nodes []NodeState, jobs []JobSpec, cur []Placement, now time.Time, p Policy, plan Plan) {
	t.Helper()
	nodeBy := map[string]NodeState{}
	for _, n := range nodes {
		nodeBy[n.ID] = n
	}
	jobBy := map[string]JobSpec{}
	for _, j := range jobs {
		jobBy[j.ID] = j
	}
	prev := map[string]Placement{}
	for _, c := range cur {
		prev[c.Job] = c
	}
	seen := map[string]bool{}
	type use struct {
		cores, gpus int
		mem         uint64
	}
	used := map[string]use{}
	for _, pl := range plan.Placements {
		if seen[pl.Job] {
			t.Fatalf("job %s placed twice", pl.Job)
		}
		seen[pl.Job] = true
		n, ok := nodeBy[pl.Node]
		j := jobBy[pl.Job]
		if !ok || !n.Alive {
			t.Fatalf("job %s on %q, which is not an alive node", pl.Job, pl.Node)
		}
		if !j.matches(&n) {
			t.Fatalf("job %s on %s, which lacks %s", pl.Job, pl.Node, constraintText(j.Constraints))
		}
		u := used[pl.Node]
		u.cores += j.Cores
		u.mem += j.MemBytes
		u.gpus += j.GPUs
		used[pl.Node] = u
		if old, ok := prev[pl.Job]; ok && old.Node == pl.Node {
			if !pl.Since.Equal(old.Since) {
				t.Fatalf("job %s stayed on %s but Since changed %v -> %v", pl.Job, pl.Node, old.Since, pl.Since)
			}
		} else {
			if !pl.Since.Equal(now) {
				t.Fatalf("job %s arrived on %s with Since %v; want now", pl.Job, pl.Node, pl.Since)
			}
			if hot(&n, p) {
				t.Fatalf("job %s arrived on hot node %s (%.1f °C headroom)", pl.Job, pl.Node, n.ThermalHeadroomC)
			}
		}
	}
	for id, u := range used {
		n := nodeBy[id]
		if u.cores > n.Cores || u.mem > n.MemBytes || u.gpus > n.GPUs {
			t.Fatalf("node %s over capacity: %+v of %d cores, %d mem, %d GPUs", id, u, n.Cores, n.MemBytes, n.GPUs)
		}
	}
	for _, u := range plan.Unplaced {
		if seen[u.Job] {
			t.Fatalf("job %s both placed and unplaced", u.Job)
		}
		seen[u.Job] = true
		if !errors.Is(u.Err, ErrInfeasible) && !errors.Is(u.Err, ErrUnknownLabel) {
			t.Fatalf("job %s unplaced with %v; want a classed error", u.Job, u.Err)
		}
	}
	if len(seen) != len(jobs) {
		t.Fatalf("%d jobs accounted for; want %d", len(seen), len(jobs))
	}
	bounded := 0
	for _, m := range plan.Moves {
		old, ok := prev[m.Job]
		if !ok || old.Node != m.From {
			t.Fatalf("move %+v does not start where the job was (%+v)", m, old)
		}
		to := nodeBy[m.To]
		switch m.Kind {
		case MoveFailed:
			if n, ok := nodeBy[m.From]; ok && n.Alive {
				t.Fatalf("move %+v off a node that is alive", m)
			}
		case MoveThermal, MoveImprove:
			bounded++
			if to.ThermalHeadroomC < p.ThermalLimitC+p.ThermalHysteresisC {
				t.Fatalf("move %+v to a node with %.1f °C headroom", m, to.ThermalHeadroomC)
			}
		}
		if m.Kind == MoveThermal && !hot(ptr(nodeBy[m.From]), p) {
			t.Fatalf("thermal move %+v off a node that is not hot", m)
		}
		if m.Kind == MoveImprove {
			if now.Sub(old.Since) < p.MinDwell {
				t.Fatalf("move %+v after %v on the node; want at least %v", m, now.Sub(old.Since), p.MinDwell)
			}
			if g := (m.ToScore - m.FromScore) / max(m.FromScore, minScore); g < p.ImproveThreshold {
				t.Fatalf("move %+v gains %.3f; want at least %.3f", m, g, p.ImproveThreshold)
			}
		}
	}
	if bounded > p.MaxMovesPerRound {
		t.Fatalf("%d moves for heat and improvement; want at most %d", bounded, p.MaxMovesPerRound)
	}
}

func ptr[T any](v T) *T { return &v }

// TestPlaceInvariants runs random clusters for several rounds with churn
// (nodes failing and returning, heating and cooling, jobs ending and
// arriving) and checks every plan.
func TestPlaceInvariants(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 12 {
		nodes, jobs := randomCluster(r, 10+r.IntN(60), 50+r.IntN(300))
		p := DefaultPolicy()
		p.Strategy = Strategy(trial % 2)
		p.Candidates = []int{0, 3, 16}[trial%3]
		p.MaxMovesPerRound = r.IntN(5)
		rng := rand.New(rand.NewPCG(uint64(trial), 9))
		var cur []Placement
		now := t0
		for round := range 30 {
			plan := mustPlace(t, nodes, jobs, cur, now, p, rng)
			checkPlan(t, nodes, jobs, cur, now, p, plan)
			cur = plan.Placements
			now = now.Add(time.Duration(1+r.IntN(5)) * time.Minute)
			for i := range nodes {
				switch r.IntN(40) {
				case 0:
					nodes[i].Alive = !nodes[i].Alive
				case 1:
					nodes[i].ThermalHeadroomC = r.Float64() * 6
				case 2:
					nodes[i].ThermalHeadroomC = 10 + r.Float64()*30
				}
			}
			if round%5 == 4 {
				// Some jobs end, new ones arrive.
				_, more := randomCluster(r, 0, 20)
				for i := range more {
					more[i].ID = fmt.Sprintf("r%02d-%s", round, more[i].ID)
				}
				jobs = append(jobs[5:], more...)
			}
		}
	}
}
