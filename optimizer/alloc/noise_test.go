package alloc

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// noisyCluster is a steady cluster whose telemetry jitters: true thermal
// headroom per node is fixed, true load follows the cores reserved, and
// every reading carries noise.
type noisyCluster struct {
	noise         float64 // 1 for the noise below, 0 for none
	truthHeadroom []float64
	nodes         []NodeState
	jobs          []JobSpec
}

func newNoisyCluster(r *rand.Rand, n, jobs int, noise float64) *noisyCluster {
	c := &noisyCluster{noise: noise, truthHeadroom: make([]float64, n), nodes: make([]NodeState, n)}
	for i := range c.nodes {
		c.nodes[i] = node(fmt.Sprintf("n%02d", i), 16, 64, 0)
		c.nodes[i].CapWatts = 300
		c.truthHeadroom[i] = 10 + r.Float64()*25
	}
	// One node runs close to its thermal limit (5 °C): noise pushes it
	// over now and then.
	c.truthHeadroom[0] = 6
	for i := range jobs {
		c.jobs = append(c.jobs, job(fmt.Sprintf("j%03d", i), 1+r.IntN(4), uint64(1+r.IntN(8)), 0))
	}
	return c
}

// observe returns the nodes' telemetry for the given placements: truth
// plus uniform noise of ±3 °C headroom, ±0.05 load and ±15 W power (times
// c.noise).
func (c *noisyCluster) observe(r *rand.Rand, cur []Placement) []NodeState {
	cores := map[string]int{}
	for _, p := range cur {
		cores[p.Node] += jobByID(c.jobs, p.Job).Cores
	}
	out := make([]NodeState, len(c.nodes))
	for i, n := range c.nodes {
		load := 0.9 * float64(cores[n.ID]) / float64(n.Cores)
		n.Load = clamp01(load + (r.Float64()*2-1)*0.05*c.noise)
		n.PowerWatts = 80 + 200*load + (r.Float64()*2-1)*15*c.noise
		n.ThermalHeadroomC = c.truthHeadroom[i] + (r.Float64()*2-1)*3*c.noise
		out[i] = n
	}
	return out
}

// flapRun places the cluster's jobs and runs rounds minutes apart,
// returning the moves for improvement after the warm-up rounds, the most
// of them any one job made, the thermal moves, and how many times a job
// went back to a node it had left.
func flapRun(t *testing.T, p Policy, rounds, warmup int, seed uint64, noise float64) (improve, perJob, thermal, returns int) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	c := newNoisyCluster(r, 40, 200, noise)
	late := map[string]int{}
	rng := rand.New(rand.NewPCG(seed, 2))
	var cur []Placement
	left := map[string]map[string]bool{} // job -> nodes it has left
	now := t0
	for round := range rounds {
		nodes := c.observe(r, cur)
		plan := mustPlace(t, nodes, c.jobs, cur, now, p, rng)
		checkPlan(t, nodes, c.jobs, cur, now, p, plan)
		perRound := 0
		for _, m := range plan.Moves {
			if left[m.Job][m.To] {
				returns++
			}
			if left[m.Job] == nil {
				left[m.Job] = map[string]bool{}
			}
			left[m.Job][m.From] = true
			switch m.Kind {
			case MoveImprove:
				if round >= warmup {
					improve++
					late[m.Job]++
					perJob = max(perJob, late[m.Job])
				}
				perRound++
			case MoveThermal:
				thermal++
				perRound++
				if m.From != "n00" {
					t.Fatalf("round %d: thermal move %+v off a node never near its limit", round, m)
				}
			default:
				t.Fatalf("round %d: move %+v in a cluster where nothing fails", round, m)
			}
			if m.To == "n00" {
				t.Fatalf("round %d: move %+v onto the node at its thermal limit", round, m)
			}
		}
		if perRound > p.MaxMovesPerRound {
			t.Fatalf("round %d: %d moves; want at most %d", round, perRound, p.MaxMovesPerRound)
		}
		if len(plan.Unplaced) > 0 {
			t.Fatalf("round %d: unplaced %+v", round, plan.Unplaced)
		}
		cur = plan.Placements
		now = now.Add(time.Minute)
	}
	return improve, perJob, thermal, returns
}

// TestPlaceNoFlapUnderNoise: a steady cluster read through noisy
// telemetry never moves a job back to a node it left; after a half-hour
// warm-up, moves for improvement are rare and one-way (a placement whose
// true gain sits just under the threshold that noise lifts over it), and
// with the noise switched off there are none. The same run with dwell and
// threshold switched off moves jobs back and forth, which shows the noise
// is strong enough for the guards to matter.
func TestPlaceNoFlapUnderNoise(t *testing.T) {
	const rounds, warmup = 240, 30 // 4 hours at one round a minute
	for _, strategy := range []Strategy{Spread, BinPack} {
		for seed := range uint64(3) {
			p := DefaultPolicy()
			p.Strategy = strategy
			improve, perJob, thermal, returns := flapRun(t, p, rounds, warmup, seed, 1)
			t.Logf("%v seed %d: %d improvement moves after warm-up (at most %d per job), %d thermal moves, %d returns", strategy, seed, improve, perJob, thermal, returns)
			if returns != 0 || perJob > 1 || improve > 5 {
				t.Errorf("%v seed %d: %d returns, %d improvement moves after %d rounds of warm-up, up to %d per job; want no returns, at most 5 moves, one per job",
					strategy, seed, returns, improve, warmup, perJob)
			}
			if improve, _, _, returns := flapRun(t, p, 120, warmup, seed, 0); improve != 0 || returns != 0 {
				t.Errorf("%v seed %d without noise: %d improvement moves after warm-up, %d returns; want none", strategy, seed, improve, returns)
			}
		}
	}

	unguarded := DefaultPolicy()
	unguarded.MinDwell, unguarded.ImproveThreshold = 0, 0
	improve, _, _, returns := flapRun(t, unguarded, 60, warmup, 0, 1)
	t.Logf("unguarded: %d improvement moves after warm-up, %d returns", improve, returns)
	if improve < 30 || returns == 0 {
		t.Errorf("unguarded: %d improvement moves, %d returns; want the noise to move jobs back and forth without dwell and threshold", improve, returns)
	}
}
