package federated_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/optimizer/federated"
	"github.com/krystalstack/gamesa/optimizer/neural/thermal"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry/ohm"
	"github.com/krystalstack/gamesa/telemetry/sim"
)

// realDataDir is ../shared/data/thermal from the project root.
var realDataDir = filepath.Join("..", "..", "..", "shared", "data", "thermal")

// expNode is one node of the experiment: the data it trains on (fit), its
// newest training data that it validates on (val), and its held-out data
// (test), which chooses nothing.
type expNode struct {
	name           string
	little         bool
	fit, val, test []thermal.Series
}

// budget sizes the experiment: the short form runs in go test, the long
// one with GAMESA_FED_LONG=1.
type budget struct {
	hidden int
	// total is central training's Adam steps (each on a batch of every
	// node's windows) and each node's local-only steps; a federated run
	// takes as many local steps per node, rounds × steps per round.
	total               int
	bigRows, littleRows int
	testRows            int
	// personal is the fine-tuning steps of personalisation.
	personal int
	// seed starts every model's LSTM (and central's window draws).
	seed uint64
}

func longForm() bool { return os.Getenv("GAMESA_FED_LONG") != "" }

func expBudget(t *testing.T) budget {
	if longForm() {
		return budget{hidden: 32, total: 600, bigRows: 12000, littleRows: 500, testRows: 6000, personal: 100, seed: 7}
	}
	if testing.Short() {
		t.Skip("the federated experiment is skipped in -short mode")
	}
	return budget{hidden: 12, total: 200, bigRows: 2500, littleRows: 400, testRows: 1200, personal: 50, seed: 7}
}

// simSeries records a simulated machine through phases of (scenario,
// seconds), as thermal points.
func simSeries(t testing.TB, name string, cfg sim.Config, start time.Time, phases ...any) thermal.Series {
	t.Helper()
	m, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := thermal.Series{Name: name}
	now := start
	for i := 0; i < len(phases); i += 2 {
		if err := m.SetScenario(phases[i].(string)); err != nil {
			t.Fatal(err)
		}
		for range phases[i+1].(int) {
			now = now.Add(time.Second)
			smp, err := m.Sample(context.Background(), now)
			if err != nil {
				t.Fatal(err)
			}
			p, err := thermal.PointFromSample(smp)
			if err != nil {
				t.Fatal(err)
			}
			s.Points = append(s.Points, p)
		}
	}
	return s
}

func cut(s thermal.Series, from, n int) thermal.Series {
	from = min(from, len(s.Points))
	return thermal.Series{Name: s.Name, Points: s.Points[from:min(from+n, len(s.Points))]}
}

// minVal is the fewest rows of a validation part: 150 rows score 88
// points (each needs 30 rows before and 32 after it).
const minVal = 150

// newNode splits a node's training data into fit and its newest fifth
// (at least minVal rows), val.
func newNode(name string, little bool, train, test thermal.Series) expNode {
	v := max(len(train.Points)/5, minVal)
	f := len(train.Points) - v
	return expNode{name: name, little: little,
		fit: []thermal.Series{cut(train, 0, f)}, val: []thermal.Series{cut(train, f, v)}, test: []thermal.Series{test}}
}

// expNodes builds three simulated machines with different thermal
// constants and workloads and three nodes fed from different days of the
// laptop's logs; one of each kind has little data. Each node's held-out
// data is a later stretch of its own machine.
func expNodes(t *testing.T, b budget) []expNode {
	t.Helper()
	var nodes []expNode
	base := time.Unix(1_700_000_000, 0)
	type simSpec struct {
		name   string
		little bool
		tweak  func(*sim.Config)
		phases []any
	}
	for i, sp := range []simSpec{
		{"sim-laptop", false, func(c *sim.Config) {}, []any{sim.ScenarioCycle, 0}},
		{"sim-hot-desk", false, func(c *sim.Config) {
			c.AmbientC, c.ThermalResistanceCPerW, c.TDPWatts, c.Cores = 32, 1.2, 65, 12
		}, []any{sim.ScenarioGame, 600, sim.ScenarioIdle, 300, sim.ScenarioRender, 600, sim.ScenarioBrowser, 0}},
		{"sim-slow-nuc", true, func(c *sim.Config) {
			c.ThermalCapacitanceJPerC, c.ThermalResistanceCPerW, c.AmbientC = 45, 2.0, 35
		}, []any{sim.ScenarioCompile, 200, sim.ScenarioIdle, 200, sim.ScenarioCycle, 0}},
	} {
		cfg := sim.DefaultConfig()
		cfg.Seed, cfg.NodeID, cfg.CycleStep = uint64(11+i), sp.name, 45*time.Second
		sp.tweak(&cfg)
		rows := b.bigRows
		if sp.little {
			rows = b.littleRows
		}
		total := rows + b.testRows
		ph := append([]any(nil), sp.phases...)
		used := 0
		for j := 1; j < len(ph); j += 2 {
			used += ph[j].(int)
		}
		ph[len(ph)-1] = max(total-used, 0)
		whole := simSeries(t, sp.name, cfg, base.Add(time.Duration(i)*48*time.Hour), ph...)
		// A gap between training and held-out data keeps the held-out
		// stream's state its own.
		nodes = append(nodes, newNode(sp.name, sp.little, cut(whole, 0, rows), cut(whole, rows+60, b.testRows)))
	}
	days := loadDays(t)
	if len(days) < 3 {
		t.Logf("only %d days of laptop logs: the experiment runs on the simulated nodes only", len(days))
	}
	for i, d := range days[:min(3, len(days))] {
		rows := b.bigRows
		little := i == 2
		if little {
			rows = b.littleRows
		}
		// Train on the start of the day, hold out its second half.
		half := len(d.Points) / 2
		nodes = append(nodes, newNode("laptop-"+strings.TrimSuffix(d.Name, ".csv.gz"), little,
			cut(d, 0, min(rows, half)), cut(d, half, b.testRows)))
	}
	return nodes
}

// loadDays reads the laptop's logs, one series per day in name order,
// or none (with a log line) when the data is absent.
func loadDays(t *testing.T) []thermal.Series {
	t.Helper()
	if _, err := os.Stat(realDataDir); err != nil {
		t.Logf("real thermal logs not found at %s (%v): laptop nodes skipped", realDataDir, err)
		return nil
	}
	logs, _, err := ohm.ReadDir(realDataDir, ohm.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var days []thermal.Series
	for _, l := range logs {
		s := thermal.Series{Name: l.Name}
		for _, seg := range l.Segments {
			for i := range seg.Time {
				s.Points = append(s.Points, thermal.Point{Time: seg.Time[i], PackageC: seg.PackageC[i],
					LoadPercent: seg.LoadPercent[i], ClockMHz: seg.ClockMHz[i], PowerW: seg.PackageW[i]})
			}
		}
		if len(s.Points) >= 2*800 {
			days = append(days, s)
		}
	}
	return days
}

// rmse is a model's error on series: the RMSE of its forecast against the
// raw temperature over all their points pooled, averaged over the
// horizons.
func rmse(t *testing.T, m *thermal.Model, series []thermal.Series) float64 {
	t.Helper()
	r := thermal.Evaluate(m, series)
	if r.Points < 50 {
		t.Fatalf("%d points scored; want 50+", r.Points)
	}
	var s float64
	for _, v := range r.Raw.LSTM.RMSE {
		s += v
	}
	return s / thermal.NumHorizons
}

func load(t *testing.T, data []byte, cfg thermal.Config) *thermal.Model {
	t.Helper()
	m, err := thermal.Load(data, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func expConfig(b budget) thermal.Config {
	cfg := thermal.DefaultConfig()
	cfg.Hidden = b.hidden
	cfg.Seed = b.seed
	return cfg
}

func fits(nodes []expNode) []thermal.Series {
	var out []thermal.Series
	for _, n := range nodes {
		out = append(out, n.fit...)
	}
	return out
}

// trainLocal trains a node's local-only model: budget.total steps on its
// own data.
func trainLocal(t *testing.T, n expNode, b budget) *thermal.Model {
	t.Helper()
	c := expConfig(b)
	c.TrainSteps = b.total
	m, _, err := thermal.Train(n.fit, c)
	if err != nil {
		t.Fatalf("%s local: %v", n.name, err)
	}
	return m
}

// centralSettings are central training's settings.
type centralSettings struct {
	// lr is Adam's learning rate.
	lr float32
	// inSample turns off thermal's cross-fitting (Config.CrossFit): its
	// contiguous chunks of the pooled data are the nodes, so by default
	// the LSTM learns how a linear part fitted on the other machines errs.
	inSample bool
}

func (c centralSettings) String() string {
	if c.inSample {
		return fmt.Sprintf("lr %.0e, in-sample", c.lr)
	}
	return fmt.Sprintf("lr %.0e, cross-fitted", c.lr)
}

// trainCentral trains on every node's data pooled, with the federation's
// compute: as many steps as a node's federated ones, each on a batch as
// large as all nodes' together.
func trainCentral(t *testing.T, nodes []expNode, b budget, s centralSettings) *thermal.Model {
	t.Helper()
	c := expConfig(b)
	c.TrainSteps, c.Batch, c.LR = b.total, c.Batch*len(nodes), s.lr
	if s.inSample {
		c.CrossFit = 0
	}
	m, _, err := thermal.Train(fits(nodes), c)
	if err != nil {
		t.Fatalf("central: %v", err)
	}
	return m
}

// poison is what the attacker sends: the global weights plus Gaussian
// garbage with a standard deviation of 2 on every weight.
func poison(g *gamesav1.Model, rng *rand.Rand) []*gamesav1.Tensor {
	out := make([]*gamesav1.Tensor, len(g.Tensors))
	for i, t := range g.Tensors {
		d := make([]float32, len(t.Data))
		for j, w := range t.Data {
			d[j] = w + float32(2*rng.NormFloat64())
		}
		out[i] = &gamesav1.Tensor{Name: t.Name, Shape: t.Shape, Data: d}
	}
	return out
}

// fedSettings are the federated algorithm's settings.
type fedSettings struct {
	// steps is each node's Adam steps per round; rounds are budget.total
	// / steps, so a run costs what central training does.
	steps int
	// lr is the nodes' Adam learning rate (0: the config's), multiplied
	// by decay each round (0: no decay).
	lr    float32
	decay float64
	// server is the leader's optimizer.
	server federated.Server
	// uniform weighs every node's update alike instead of by its rows.
	uniform bool
	// rule merges the updates; unset: FedAvg.
	rule namedRule
}

// merge is s's merge rule.
func (s fedSettings) merge() federated.Rule {
	if s.rule.rule == nil {
		return federated.FedAvg{}
	}
	return s.rule.rule
}

// ruleName names s's merge rule.
func (s fedSettings) ruleName() string {
	if s.rule.rule == nil {
		return fedAvg.name
	}
	return s.rule.name
}

// with returns s merging with r.
func (s fedSettings) with(r namedRule) fedSettings {
	s.rule = r
	return s
}

func (s fedSettings) String() string {
	v := fmt.Sprintf("%3d steps/round", s.steps)
	if s.lr != 0 {
		v += fmt.Sprintf(", node lr %.0e", s.lr)
	}
	if s.decay != 0 {
		v += fmt.Sprintf(", lr ×%.2f/round", s.decay)
	}
	switch sv := s.server; {
	case sv.Adam:
		v += fmt.Sprintf(", FedAdam lr %.0e β₁ %.1f", sv.LR, sv.Momentum)
	case sv.Momentum != 0:
		v += fmt.Sprintf(", FedAvgM lr %.2g β %.2f", sv.LR, sv.Momentum)
	case sv.LR != 0:
		v += fmt.Sprintf(", server lr %.2g", sv.LR)
	}
	if s.uniform {
		v += ", uniform"
	}
	if s.rule.rule != nil {
		v += ", " + s.rule.name
	}
	return v
}

// adversary is a node that sends poison instead of its update from
// round 1 on (round 0, the linear fits, has no robust rule).
type adversary struct {
	node string
}

// runFederated runs round 0 and the rounds of s on every node's fit
// data, with adv (if set) misbehaving. It returns the last global model
// file.
func runFederated(t *testing.T, nodes []expNode, b budget, s fedSettings, adv adversary) []byte {
	t.Helper()
	tr := federated.ThermalTrainer{Config: expConfig(b), Steps: s.steps}
	var fs []federated.ThermalFit
	for _, n := range nodes {
		data, err := tr.Fit(n.fit)
		if err != nil {
			t.Fatalf("%s: Fit: %v", n.name, err)
		}
		fs = append(fs, federated.ThermalFit{Node: n.name, Model: data, Rows: federated.Rows(n.fit)})
	}
	gm, gdata, err := federated.MergeThermalFits(fs)
	if err != nil {
		t.Fatal(err)
	}
	cfg := federated.DefaultConfig()
	srv := s.server
	rng := rand.New(rand.NewPCG(3, 4))
	rounds := b.total / s.steps
	for round := uint64(1); round <= uint64(rounds); round++ {
		tr.Config.LR = expConfig(b).LR
		if s.lr != 0 {
			tr.Config.LR = s.lr
		}
		if s.decay != 0 {
			tr.Config.LR *= float32(math.Pow(s.decay, float64(round-1)))
		}
		g := federated.NewGlobal(round, gm)
		var us []*federated.Update
		for _, n := range nodes {
			env := federated.Envelope{Node: n.name, Round: round, BaseHash: gm.ContentHash, Samples: federated.Rows(n.fit)}
			if s.uniform {
				env.Samples = 1
			}
			if n.name == adv.node {
				us = append(us, &federated.Update{Node: n.name, Round: round, BaseHash: gm.ContentHash, Samples: env.Samples, Tensors: poison(gm, rng)})
				continue
			}
			data, err := tr.Train(gdata, n.fit, round)
			if err != nil {
				t.Fatalf("%s round %d: %v", n.name, round, err)
			}
			u, err := cfg.DecodeUpdate(data, gm, env)
			if err != nil {
				t.Fatalf("%s round %d: %v", n.name, round, err)
			}
			us = append(us, u)
		}
		res, err := cfg.Merge(g, us, s.merge())
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if len(res.Refused) > 0 {
			t.Fatalf("round %d: refused %v", round, res.Refused)
		}
		if err := srv.Apply(g, res); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if gm, gdata, err = federated.Seal(gm, res); err != nil {
			t.Fatal(err)
		}
	}
	return gdata
}

func meanOf(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// vals is the nodes' validation data.
func vals(nodes []expNode) []thermal.Series {
	var out []thermal.Series
	for _, n := range nodes {
		out = append(out, n.val...)
	}
	return out
}

// expSeeds start every model (the LSTM's initialisation and the window
// draws): each figure is a mean over them. The pooled held-out RMSE of
// one seed differs from another's by up to a quarter: the held-out
// stretches hold regimes (more load, hotter) that a node's training data
// lacks, where the LSTM's correction depends on its start.
var expSeeds = []uint64{7, 8, 9}

// namedRule is a merge rule with the name the tables print.
type namedRule struct {
	name string
	rule federated.Rule
}

var robustRules = []namedRule{
	{"median", federated.Median{}},
	{"trimmed-mean 1/6", federated.TrimmedMean{Trim: 1.0 / 6}},
	{"multi-krum f=1 m=3", federated.Krum{F: 1, M: 3}},
}

// choice is what TestFederatedTune chose on the validation data, for
// one form of the experiment.
type choice struct {
	// fed are the federated settings with the best validation RMSE.
	fed fedSettings
	// central are central training's settings with the best.
	central centralSettings
	// robust is the robust rule with the best validation RMSE on the
	// honest nodes while one node sends garbage, with fed's settings.
	robust namedRule
}

// chosenShort and chosenLong are TestFederatedTune's choices at each
// form's budget (GAMESA_FED_TUNE=1 [GAMESA_FED_LONG=1] go test -run
// TestFederatedTune ./optimizer/federated prints the tables).
var (
	chosenShort = choice{
		fed:     fedSettings{steps: 5, lr: 1e-2},
		central: centralSettings{lr: 1e-2, inSample: true},
		robust:  robustRules[2],
	}
	chosenLong = choice{
		fed:     fedSettings{steps: 10, server: federated.Server{LR: 1, Momentum: 0.8}},
		central: centralSettings{lr: 3e-3, inSample: true},
		robust:  robustRules[0],
	}
)

func chosen() choice {
	if longForm() {
		return chosenLong
	}
	return chosenShort
}

// centralGrid is the central settings TestFederatedTune compares: in the
// short form, Adam's learning rate with and without cross-fitting; in
// the long form, the short form's two best and thermal's default.
func centralGrid() []centralSettings {
	if longForm() {
		return []centralSettings{{lr: 3e-3}, {lr: 3e-3, inSample: true}, {lr: 1e-2, inSample: true}}
	}
	var g []centralSettings
	for _, inSample := range []bool{false, true} {
		for _, lr := range []float32{1e-3, 3e-3, 1e-2} {
			g = append(g, centralSettings{lr: lr, inSample: inSample})
		}
	}
	return g
}

// fedGrid is what TestFederatedTune compares. In the short form: the
// local steps a round (at least 5: a round costs a network round trip
// and a replay of the node's data) against the server optimizer, then,
// at 5 steps a round, the nodes' learning rate and its decay, the
// weighting and the rule. The long form, ten times the compute, compares
// the short form's six best and its former setting (40 steps a round).
func fedGrid() []fedSettings {
	m8 := federated.Server{LR: 1, Momentum: 0.8}
	if longForm() {
		return []fedSettings{
			{steps: 40},
			{steps: 5, lr: 1e-2},
			{steps: 5, server: m8, rule: robustRules[0]},
			{steps: 5, lr: 1e-2, server: m8},
			{steps: 5, lr: 1e-2, decay: 0.98, server: m8},
			{steps: 10, server: m8},
			{steps: 5, uniform: true, server: m8},
		}
	}
	var g []fedSettings
	for _, steps := range []int{25, 10, 5} {
		for _, srv := range []federated.Server{
			{},
			{LR: 1, Momentum: 0.5},
			m8,
			{LR: 1, Momentum: 0.9},
			{LR: 1e-2, Momentum: 0.9, Adam: true},
			{LR: 3e-2, Momentum: 0.9, Adam: true},
		} {
			g = append(g, fedSettings{steps: steps, server: srv})
		}
	}
	return append(g,
		fedSettings{steps: 5, lr: 1e-2},
		fedSettings{steps: 5, lr: 1e-2, server: m8},
		fedSettings{steps: 5, lr: 1e-2, decay: 0.98, server: m8},
		fedSettings{steps: 5, uniform: true},
		fedSettings{steps: 5, uniform: true, server: m8},
		fedSettings{steps: 5, server: m8, rule: robustRules[0]},
		fedSettings{steps: 5, server: m8, rule: robustRules[1]},
	)
}

// TestFederatedTune chooses the experiment's settings (GAMESA_FED_TUNE=1;
// with GAMESA_FED_LONG=1 at the long form's budget) on the validation
// data alone: every model trains on the nodes' fit data and is scored on
// their validation data pooled, averaged over expSeeds. It compares
// centralGrid's and fedGrid's settings, and,
// with the best of those, the robust rules while the first node sends
// garbage (scored on the other nodes' validation data). The held-out
// data is not read.
func TestFederatedTune(t *testing.T) {
	if os.Getenv("GAMESA_FED_TUNE") == "" {
		t.Skip("set GAMESA_FED_TUNE=1 to compare the experiment's settings on the validation data")
	}
	b := expBudget(t)
	nodes := expNodes(t, b)
	honestVal := vals(nodes[1:])
	run := func(val []thermal.Series, train func(b budget) *thermal.Model) (float64, []float64) {
		var vs []float64
		for _, sd := range expSeeds {
			bs := b
			bs.seed = sd
			vs = append(vs, rmse(t, train(bs), val))
		}
		return meanOf(vs), vs
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "validation RMSE (°C, pooled, mean over 5/10/30 s and seeds %v), LSTM(%d), %d Adam steps a node:\n", expSeeds, b.hidden, b.total)
	fmt.Fprintf(&sb, "%-70s %7s  %s\n", "central", "RMSE", "per seed")
	bestCentral, cen := centralSettings{}, math.Inf(1)
	for _, cs := range centralGrid() {
		v, vs := run(vals(nodes), func(b budget) *thermal.Model { return trainCentral(t, nodes, b, cs) })
		fmt.Fprintf(&sb, "%-70s %7.3f  %.3f\n", cs, v, vs)
		if v < cen {
			bestCentral, cen = cs, v
		}
	}
	fmt.Fprintf(&sb, "%-70s %7s %8s  %s\n", "federated", "RMSE", "/central", "per seed")
	best, bestV := fedSettings{}, math.Inf(1)
	for _, s := range fedGrid() {
		v, vs := run(vals(nodes), func(b budget) *thermal.Model {
			return load(t, runFederated(t, nodes, b, s, adversary{}), expConfig(b))
		})
		fmt.Fprintf(&sb, "%-70s %7.3f %8.3f  %.3f\n", s, v, v/cen, vs)
		if v < bestV {
			best, bestV = s, v
		}
	}
	fmt.Fprintf(&sb, "robust rules with %s; %s sends garbage; the other nodes' data:\n", best, nodes[0].name)
	fmt.Fprintf(&sb, "%-70s %7s %8s  %s\n", "rule", "RMSE", "clean", "per seed")
	bestRule, bestR := "", math.Inf(1)
	for _, r := range robustRules {
		c, _ := run(honestVal, func(b budget) *thermal.Model {
			return load(t, runFederated(t, nodes, b, best.with(r), adversary{}), expConfig(b))
		})
		v, vs := run(honestVal, func(b budget) *thermal.Model {
			return load(t, runFederated(t, nodes, b, best.with(r), adversary{node: nodes[0].name}), expConfig(b))
		})
		fmt.Fprintf(&sb, "%-70s %7.3f %8.3f  %.3f\n", r.name, v, c, vs)
		if v < bestR {
			bestRule, bestR = r.name, v
		}
	}
	t.Logf("\n%sbest: central %s; federated %s; robust rule %s", sb.String(), bestCentral, best, bestRule)
}

// scores is a model's error on each node's held-out data: the RMSE per
// horizon and the points scored, in node order.
type scores struct {
	rmse   [][thermal.NumHorizons]float64
	points []int
}

func (s *scores) add(t *testing.T, m *thermal.Model, n expNode) {
	t.Helper()
	r := thermal.Evaluate(m, n.test)
	if r.Points < 100 {
		t.Fatalf("%s: %d held-out points scored; want 100+", n.name, r.Points)
	}
	s.rmse = append(s.rmse, r.Raw.LSTM.RMSE)
	s.points = append(s.points, r.Points)
}

// node is node i's RMSE, averaged over the horizons.
func (s *scores) node(i int) float64 { return meanOf(s.rmse[i][:]) }

// pooled is the RMSE over the held-out points of the nodes from the
// from-th on, together, averaged over the horizons.
func (s *scores) pooled(from int) float64 {
	var out float64
	for h := range thermal.NumHorizons {
		var sq float64
		var n int
		for i := from; i < len(s.rmse); i++ {
			sq += float64(s.points[i]) * s.rmse[i][h] * s.rmse[i][h]
			n += s.points[i]
		}
		out += math.Sqrt(sq / float64(n))
	}
	return out / thermal.NumHorizons
}

// scoreGlobal scores one model on every node's held-out data.
func scoreGlobal(t *testing.T, m *thermal.Model, nodes []expNode) *scores {
	t.Helper()
	s := &scores{}
	for _, n := range nodes {
		s.add(t, m, n)
	}
	return s
}

// comparison is one seed's run of the three ways to train.
type comparison struct {
	local, fed, personal, central *scores
	kept                          []bool // the node kept its fine-tuned copy
}

// compare trains and scores local-only, federated (with each node's
// personalised copy) and central models at seed b.seed.
func compare(t *testing.T, nodes []expNode, b budget) *comparison {
	t.Helper()
	cfg := expConfig(b)
	c := &comparison{local: &scores{}, personal: &scores{}, kept: make([]bool, len(nodes))}
	for _, n := range nodes {
		c.local.add(t, trainLocal(t, n, b), n)
	}
	c.central = scoreGlobal(t, trainCentral(t, nodes, b, chosen().central), nodes)
	gdata := runFederated(t, nodes, b, chosen().fed, adversary{})
	c.fed = scoreGlobal(t, load(t, gdata, cfg), nodes)
	tr := federated.ThermalTrainer{Config: cfg, Steps: b.personal}
	for i, n := range nodes {
		p, err := tr.Personalise(gdata, n.fit, n.val)
		if err != nil {
			t.Fatalf("%s: Personalise: %v", n.name, err)
		}
		c.kept[i] = p.Kept
		c.personal.add(t, load(t, p.Model, cfg), n)
	}
	return c
}

// meanOver averages f over the seeds' comparisons.
func meanOver(cs []*comparison, f func(*comparison) float64) float64 {
	var s float64
	for _, c := range cs {
		s += f(c)
	}
	return s / float64(len(cs))
}

// TestFederatedThermal is the proof, in a short form
// (GAMESA_FED_LONG=1 for the full one). Six nodes train the thermal
// predictor (a) each on its own data, (b) federated, each node then
// keeping a copy fine-tuned on its data when that validates better, and
// (c) centrally on all data pooled, with the settings TestFederatedTune
// chose on validation data (chosen()); every model is scored on the
// nodes' held-out data, and every figure is a mean over expSeeds. Every
// method trains on the nodes' fit data only, with the same compute: each
// node runs as many Adam steps (rounds × steps a round) as local-only and
// central training, whose batches are as large as all nodes' together.
// Then one node sends garbage every round, against FedAvg and the robust
// rules.
func TestFederatedThermal(t *testing.T) {
	b := expBudget(t)
	start := time.Now()
	nodes := expNodes(t, b)
	if len(nodes) < 6 {
		t.Skipf("%d nodes (the laptop logs are absent): the experiment needs 6", len(nodes))
	}
	var cs []*comparison
	for _, seed := range expSeeds {
		bs := b
		bs.seed = seed
		cs = append(cs, compare(t, nodes, bs))
	}
	t.Logf("\n%s", table(nodes, b, cs))

	f := meanOver(cs, func(c *comparison) float64 { return c.fed.pooled(0) })
	cen := meanOver(cs, func(c *comparison) float64 { return c.central.pooled(0) })
	t.Logf("federated / central pooled RMSE = %.3f (want ≤ 1.10)", f/cen)
	if f > 1.10*cen {
		t.Errorf("federated pooled held-out RMSE %.3f; want within 10%% of central's %.3f", f, cen)
	}
	// A node with little data does better federated than alone, with the
	// global model and with the model it keeps (the global one or its
	// fine-tuned copy).
	for i, n := range nodes {
		if !n.little {
			continue
		}
		l := meanOver(cs, func(c *comparison) float64 { return c.local.node(i) })
		g := meanOver(cs, func(c *comparison) float64 { return c.fed.node(i) })
		p := meanOver(cs, func(c *comparison) float64 { return c.personal.node(i) })
		if g >= l || p >= l {
			t.Errorf("%s (little data): federated RMSE %.3f, the node's own model's %.3f; want both below local-only %.3f", n.name, g, p, l)
		}
	}
	robustness(t, nodes, b, cs)
	t.Logf("experiment took %v", time.Since(start).Round(time.Millisecond))
}

// table prints the comparison: per node, and over all held-out data.
func table(nodes []expNode, b budget, cs []*comparison) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "held-out RMSE (°C, mean over 5/10/30 s and seeds %v); LSTM(%d); %d Adam steps a node;\n", expSeeds, b.hidden, b.total)
	ch := chosen()
	fmt.Fprintf(&sb, "federated: %d rounds of %s; central: batches of all nodes, %s\n", b.total/ch.fed.steps, ch.fed, ch.central)
	fmt.Fprintf(&sb, "%-36s %6s %8s %9s %12s %5s %8s\n", "node", "rows", "local", "federated", "personalised", "kept", "central")
	for i, n := range nodes {
		name := n.name
		if n.little {
			name += " (little)"
		}
		kept := 0
		for _, c := range cs {
			if c.kept[i] {
				kept++
			}
		}
		at := func(f func(*comparison) *scores) float64 {
			return meanOver(cs, func(c *comparison) float64 { return f(c).node(i) })
		}
		fmt.Fprintf(&sb, "%-36s %6d %8.3f %9.3f %12.3f %3d/%d %8.3f\n", name, federated.Rows(n.fit),
			at(func(c *comparison) *scores { return c.local }), at(func(c *comparison) *scores { return c.fed }),
			at(func(c *comparison) *scores { return c.personal }), kept, len(cs), at(func(c *comparison) *scores { return c.central }))
	}
	pooled := func(f func(*comparison) *scores) float64 {
		return meanOver(cs, func(c *comparison) float64 { return f(c).pooled(0) })
	}
	fmt.Fprintf(&sb, "%-36s %6s %8.3f %9.3f %12.3f %5s %8.3f\n", "all held-out data pooled", "",
		pooled(func(c *comparison) *scores { return c.local }), pooled(func(c *comparison) *scores { return c.fed }),
		pooled(func(c *comparison) *scores { return c.personal }), "", pooled(func(c *comparison) *scores { return c.central }))
	for k, c := range cs {
		fmt.Fprintf(&sb, "%-36s %6s %8.3f %9.3f %12.3f %5s %8.3f\n", fmt.Sprintf("  seed %d", expSeeds[k]), "",
			c.local.pooled(0), c.fed.pooled(0), c.personal.pooled(0), "", c.central.pooled(0))
	}
	sb.WriteString("(kept: seeds where the node kept its fine-tuned copy, which validated better than the global model)\n")
	return sb.String()
}

var fedAvg = namedRule{"fedavg", federated.FedAvg{}}

// robustness runs the federation while the first node (the one with the
// most data) sends garbage every round, with FedAvg and the robust
// rules, and scores the global model on the other nodes' held-out data
// (the broken node's data never reaches the federation, whatever the
// rule). It asserts that the chosen robust rule's error stays within 5 %
// of its clean run's, on the mean over expSeeds; the other robust rules
// run at the first seed only in the short form, and are reported.
func robustness(t *testing.T, nodes []expNode, b budget, cs []*comparison) {
	t.Helper()
	ch := chosen()
	attacker := nodes[0].name
	score := func(seed uint64, r namedRule, adv adversary) float64 {
		if adv == (adversary{}) && r.name == ch.fed.ruleName() {
			return cs[slices.Index(expSeeds, seed)].fed.pooled(1) // the comparison's run
		}
		bs := b
		bs.seed = seed
		return scoreGlobal(t, load(t, runFederated(t, nodes, bs, ch.fed.with(r), adv), expConfig(bs)), nodes).pooled(1)
	}
	fed := meanOver(cs, func(c *comparison) float64 { return c.fed.pooled(1) })
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s sends garbage every round (%s); pooled held-out RMSE of the global model on the other nodes:\n", attacker, ch.fed.with(namedRule{}))
	fmt.Fprintf(&sb, "%-20s %6s %8s %9s %10s %14s\n", "rule", "seeds", "clean", "poisoned", "vs clean", "vs federated")
	for _, r := range append([]namedRule{fedAvg}, robustRules...) {
		seeds := expSeeds
		if r.name != fedAvg.name && r.name != ch.robust.name && !longForm() {
			seeds = expSeeds[:1]
		}
		var clean, poisoned []float64
		for _, seed := range seeds {
			clean = append(clean, score(seed, r, adversary{}))
			poisoned = append(poisoned, score(seed, r, adversary{node: attacker}))
		}
		c, p := meanOf(clean), meanOf(poisoned)
		fmt.Fprintf(&sb, "%-20s %6d %8.3f %9.3f %+9.1f%% %+13.1f%%\n", r.name, len(seeds), c, p, 100*(p/c-1), 100*(p/fed-1))
		if r.name == ch.robust.name && p > 1.05*c {
			t.Errorf("%s under attack: RMSE %.3f on the honest nodes; want within 5%% of its clean run's %.3f", r.name, p, c)
		}
	}
	t.Logf("\n%s", sb.String())
}
