package alloc

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkSplitBudget1000 splits a budget short of demand among 1,000
// nodes of mixed priorities (the figure: ≤ 1 ms).
func BenchmarkSplitBudget1000(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	in := randomBudgetInput(r, 1000)
	cfg := DefaultSplitConfig()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SplitBudget(in, cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCluster is 1,000 nodes (16, 32 or 64 cores; a tenth with GPUs; two
// zones) and 10,000 jobs (1..4 cores, 1..8 GiB; one in twenty wants a GPU,
// one in five a zone) that together reserve about two thirds of the
// cores.
func benchCluster() ([]NodeState, []JobSpec) {
	r := rand.New(rand.NewPCG(2, 2))
	nodes := make([]NodeState, 1000)
	for i := range nodes {
		gpus := 0
		if i%10 == 0 {
			gpus = 4
		}
		n := node(fmt.Sprintf("n%04d", i), []int{16, 32, 64}[r.IntN(3)], 256, gpus, "zone="+[]string{"eu", "us"}[r.IntN(2)])
		n.ThermalHeadroomC = 10 + r.Float64()*30
		n.Load = r.Float64() * 0.3
		n.PowerWatts = 80 + r.Float64()*100
		n.CapWatts = 300
		nodes[i] = n
	}
	jobs := make([]JobSpec, 10000)
	for i := range jobs {
		j := job(fmt.Sprintf("j%05d", i), 1+r.IntN(4), uint64(1+r.IntN(8)), 0)
		if r.IntN(20) == 0 {
			j.GPUs = 1
		}
		if r.IntN(5) == 0 {
			j.Constraints = map[string]string{"zone": []string{"eu", "us"}[r.IntN(2)]}
		}
		jobs[i] = j
	}
	return nodes, jobs
}

// BenchmarkPlace10kOn1k places 10,000 new jobs on 1,000 nodes (the
// issue's figure: ≤ 100 ms), sampling candidates as DefaultPolicy does
// and scoring every node.
func BenchmarkPlace10kOn1k(b *testing.B) {
	nodes, jobs := benchCluster()
	for _, bc := range []struct {
		name       string
		candidates int
	}{{"sample16", 16}, {"all", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			p := DefaultPolicy()
			p.Candidates = bc.candidates
			b.ReportAllocs()
			unplaced := 0
			for b.Loop() {
				plan, err := Place(nodes, jobs, nil, t0, p, rand.New(rand.NewPCG(1, 2)))
				if err != nil {
					b.Fatal(err)
				}
				unplaced = len(plan.Unplaced)
			}
			b.ReportMetric(float64(unplaced), "unplaced")
		})
	}
}

// BenchmarkPlaceSteady10kOn1k is a later round: the 10,000 jobs are
// placed, dwell is met, 10 nodes have failed and 3 run hot; Place keeps
// or moves every job, and with the move budget left after the hot nodes
// reconsiders every job for improvement.
func BenchmarkPlaceSteady10kOn1k(b *testing.B) {
	nodes, jobs := benchCluster()
	p := DefaultPolicy()
	first, err := Place(nodes, jobs, nil, t0, p, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10 {
		nodes[i*37].Alive = false
		if i < 3 {
			nodes[i*37+1].ThermalHeadroomC = 2
		}
	}
	later := t0.Add(time.Hour)
	for _, bc := range []struct {
		name       string
		candidates int
	}{{"sample16", 16}, {"all", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			p.Candidates = bc.candidates
			b.ReportAllocs()
			moves := 0
			for b.Loop() {
				plan, err := Place(nodes, jobs, first.Placements, later, p, rand.New(rand.NewPCG(1, 3)))
				if err != nil {
					b.Fatal(err)
				}
				moves = len(plan.Moves)
			}
			b.ReportMetric(float64(moves), "moves")
		})
	}
}
