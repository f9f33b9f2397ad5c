package alloc

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The replay drives 16 simulated nodes with the real CPU utilisation of
// 16 machines from the Alibaba Cluster Trace v2018 (machine_usage, first
// 100,001 rows; cite "Alibaba Cluster Trace Program, cluster-trace-v2018";
// see ../shared/data/README.md), one control interval a minute.
const tracePath = "../../../shared/data/cluster/alibaba2018-machine-usage-sample.csv.gz"

// The power model of a replayed node: it draws idle + slope × utilisation,
// and a cap holds it to what the cap allows.
const (
	replayIdleW  = 100.0
	replaySlopeW = 200.0
	// replayMaxHold is how long a machine's last reading stands for it;
	// after a longer gap (the trace's machines start and end at
	// different times) the node counts as idle.
	replayMaxHold = 600 // seconds
)

// overTolerance is how far above the budget the nodes' draw must be to
// count as over it: a microwatt, far below what any meter reads, and far
// above the rounding of summing floats.
const overTolerance = 1e-6

// trace is utilisation (0..1) per node per minute.
type trace struct {
	machines []string
	util     [][]float64 // [minute][node]
}

// loadTrace reads the trace onto a one-minute grid, skipping the test if
// the file is absent.
func loadTrace(tb testing.TB) *trace {
	tb.Helper()
	f, err := os.Open(filepath.FromSlash(tracePath))
	if errors.Is(err, fs.ErrNotExist) {
		tb.Skipf("replay: trace %s not found (it lives in the shared data folder beside the repository)", tracePath)
	}
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	type reading struct {
		t    int
		util float64
	}
	byMachine := map[string][]reading{}
	maxT := 0
	sc := bufio.NewScanner(zr)
	for line := 1; sc.Scan(); line++ {
		cols := strings.Split(sc.Text(), ",")
		if len(cols) < 3 || cols[2] == "" {
			continue
		}
		t, err1 := strconv.Atoi(cols[1])
		u, err2 := strconv.ParseFloat(cols[2], 64)
		if err1 != nil || err2 != nil || u < 0 || u > 100 {
			tb.Fatalf("replay: line %d: %q: bad time or utilisation", line, sc.Text())
		}
		byMachine[cols[0]] = append(byMachine[cols[0]], reading{t, u / 100})
		maxT = max(maxT, t)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	tr := &trace{}
	for m := range byMachine {
		tr.machines = append(tr.machines, m)
	}
	slices.Sort(tr.machines)
	minutes := maxT/60 + 1
	tr.util = make([][]float64, minutes)
	for i := range tr.util {
		tr.util[i] = make([]float64, len(tr.machines))
	}
	for n, m := range tr.machines {
		rs := byMachine[m]
		slices.SortStableFunc(rs, func(a, b reading) int { return a.t - b.t })
		k := 0
		for minute := range minutes {
			t := minute * 60
			for k+1 < len(rs) && rs[k+1].t <= t {
				k++
			}
			if rs[k].t <= t && t-rs[k].t <= replayMaxHold {
				tr.util[minute][n] = rs[k].util
			}
		}
	}
	return tr
}

// replayResult is what a replay measured.
type replayResult struct {
	minutes          int
	shortMinutes     int     // minutes the uncapped draw exceeds the budget
	overBudget       int     // minutes the nodes drew more than the budget
	overAfterFirst   int     // the same, after the first control interval
	served, demanded float64 // utilisation, summed over nodes and minutes
	// The same over the minutes when the uncapped draw exceeds the
	// budget: where the split matters.
	servedShort, demandedShort float64
	capsOverBudget             int // intervals whose caps summed above the budget
}

func (r replayResult) fraction() float64      { return r.served / r.demanded }
func (r replayResult) shortFraction() float64 { return r.servedShort / r.demandedShort }

// replay runs the trace under a budget. capsFor returns the caps for a
// minute from what the nodes drew and were capped at the minute before
// (nil caps: uncapped).
func replay(tr *trace, budget float64, capsFor func(minute int, draw, caps []float64) ([]float64, error)) (replayResult, error) {
	n := len(tr.machines)
	var res replayResult
	draw := make([]float64, n)
	var caps []float64
	for minute, util := range tr.util {
		var err error
		if caps, err = capsFor(minute, draw, caps); err != nil {
			return res, fmt.Errorf("minute %d: %w", minute, err)
		}
		if caps != nil {
			// In whole milliwatts, as SplitBudget sums them: float sums of
			// the caps in watts may round a hair either way.
			var sum int64
			for _, c := range caps {
				sum += int64(math.Round(c * 1000))
			}
			if sum > floorMW(budget) {
				res.capsOverBudget++
			}
		}
		total, uncapped := 0.0, 0.0
		var served, demanded float64
		for i, u := range util {
			want := replayIdleW + replaySlopeW*u
			draw[i] = want
			if caps != nil {
				draw[i] = min(want, caps[i])
			}
			total += draw[i]
			uncapped += want
			served += (draw[i] - replayIdleW) / replaySlopeW
			demanded += u
		}
		res.served += served
		res.demanded += demanded
		if uncapped > budget {
			res.servedShort += served
			res.demandedShort += demanded
			res.shortMinutes++
		}
		if total > budget+overTolerance {
			res.overBudget++
			if minute > 0 {
				res.overAfterFirst++
			}
		}
		res.minutes++
	}
	return res, nil
}

// replayBudget is the budget: 80 % of the most the 16 nodes ever draw
// together uncapped.
func replayBudget(tr *trace) (budget, peak float64) {
	for _, util := range tr.util {
		total := 0.0
		for _, u := range util {
			total += replayIdleW + replaySlopeW*u
		}
		peak = max(peak, total)
	}
	return 0.8 * peak, peak
}

// replayNodes is the split input for one interval.
func replayNodes(tr *trace, demand []float64) []NodeState {
	nodes := make([]NodeState, len(tr.machines))
	for i, m := range tr.machines {
		nodes[i] = NodeState{
			ID: m, Alive: true, Priority: PriorityBackground,
			FloorWatts: replayIdleW, CeilingWatts: replayIdleW + replaySlopeW,
			DemandWatts: demand[i],
		}
	}
	return nodes
}

// replayAll runs the three policies: the split driven by what the nodes
// drew the minute before (what the leader can know), an equal static
// split, and the split told each minute's true demand (an upper bound no
// controller reaches).
func replayAll(tr *trace) (dynamic, static, oracle, uncapped replayResult, budget, peak float64, err error) {
	budget, peak = replayBudget(tr)
	cfg := DefaultSplitConfig()
	n := len(tr.machines)
	split := func(demand []float64) ([]float64, error) {
		s, err := SplitBudget(BudgetInput{BudgetWatts: budget, Nodes: replayNodes(tr, demand)}, cfg)
		if err != nil {
			return nil, err
		}
		caps := make([]float64, n)
		for i, c := range s.Caps {
			caps[i] = c.Watts()
		}
		return caps, nil
	}
	dynamic, err = replay(tr, budget, func(minute int, draw, caps []float64) ([]float64, error) {
		if minute == 0 {
			return nil, nil // no telemetry yet: the first interval runs uncapped
		}
		demand := make([]float64, n)
		for i := range demand {
			c := 0.0
			if caps != nil {
				c = caps[i]
			}
			demand[i] = cfg.EstimateDemand(draw[i], c)
		}
		return split(demand)
	})
	if err != nil {
		return
	}
	equal := make([]float64, n)
	for i := range equal {
		equal[i] = budget / float64(n)
	}
	static, err = replay(tr, budget, func(int, []float64, []float64) ([]float64, error) { return equal, nil })
	if err != nil {
		return
	}
	uncapped, err = replay(tr, budget, func(int, []float64, []float64) ([]float64, error) { return nil, nil })
	if err != nil {
		return
	}
	oracle, err = replay(tr, budget, func(minute int, _, _ []float64) ([]float64, error) {
		demand := make([]float64, n)
		for i, u := range tr.util[minute] {
			demand[i] = replayIdleW + replaySlopeW*u
		}
		return split(demand)
	})
	return
}

// TestReplayAlibabaTrace: under a budget of 80 % of the uncapped peak, the
// split keeps the 16 nodes within the budget in every minute after the
// first control interval, and serves more of the demanded utilisation
// than an equal static split.
func TestReplayAlibabaTrace(t *testing.T) {
	tr := loadTrace(t)
	if len(tr.machines) != 16 {
		t.Fatalf("trace has %d machines; want 16", len(tr.machines))
	}
	dynamic, static, oracle, uncapped, budget, peak, err := replayAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d minutes, budget %.0f W (uncapped peak %.0f W); uncapped, the nodes would exceed it in %d minutes",
		dynamic.minutes, budget, peak, uncapped.overBudget)
	for _, r := range []struct {
		name string
		res  replayResult
	}{{"split", dynamic}, {"equal static", static}, {"split, true demand", oracle}} {
		t.Logf("%-19s minutes over budget %d (after the first interval %d); utilisation served %.4f overall, %.4f in the %d minutes the budget binds",
			r.name, r.res.overBudget, r.res.overAfterFirst, r.res.fraction(), r.res.shortFraction(), r.res.shortMinutes)
	}
	if uncapped.overBudget == 0 {
		t.Fatalf("uncapped nodes never exceed the budget: the replay tests nothing")
	}
	if dynamic.overAfterFirst != 0 || dynamic.capsOverBudget != 0 {
		t.Errorf("split: %d minutes over budget after the first interval, %d intervals with caps above it; want 0", dynamic.overAfterFirst, dynamic.capsOverBudget)
	}
	if !(dynamic.fraction() > static.fraction()) || !(dynamic.shortFraction() > static.shortFraction()) {
		t.Errorf("split served %.4f of demand (%.4f when short); want more than the equal static split's %.4f (%.4f)",
			dynamic.fraction(), dynamic.shortFraction(), static.fraction(), static.shortFraction())
	}
	if dynamic.fraction() > oracle.fraction()+1e-9 {
		t.Errorf("split served %.4f; more than the true-demand bound %.4f (the replay is wrong)", dynamic.fraction(), oracle.fraction())
	}
	if math.IsNaN(dynamic.fraction()) {
		t.Fatal("no demand in the trace")
	}
}

// BenchmarkReplayAlibabaTrace runs the whole replay (2 × 11,520 splits of
// 16 nodes, and the static and uncapped runs) and reports its figures:
// minutes over budget, and the utilisation served overall and in the
// minutes the budget binds ("-short").
func BenchmarkReplayAlibabaTrace(b *testing.B) {
	tr := loadTrace(b)
	var dynamic, static, oracle replayResult
	for b.Loop() {
		var err error
		if dynamic, static, oracle, _, _, _, err = replayAll(tr); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(dynamic.overBudget), "min-over-budget")
	b.ReportMetric(float64(dynamic.overAfterFirst), "min-over-after-first")
	b.ReportMetric(dynamic.fraction(), "served-split")
	b.ReportMetric(static.fraction(), "served-static")
	b.ReportMetric(oracle.fraction(), "served-oracle")
	b.ReportMetric(dynamic.shortFraction(), "served-split-short")
	b.ReportMetric(static.shortFraction(), "served-static-short")
}
