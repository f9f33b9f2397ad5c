package federated_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/krystalstack/gamesa/optimizer/federated"
	"github.com/krystalstack/gamesa/optimizer/neural"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func deltas(vs map[string][]float32, samples map[string]uint64) []federated.Delta {
	var ds []federated.Delta
	for n, v := range vs {
		s := samples[n]
		if s == 0 {
			s = 1
		}
		ds = append(ds, federated.Delta{Node: n, Samples: s, V: v})
	}
	slices.SortFunc(ds, func(a, b federated.Delta) int { return cmpStr(a.Node, b.Node) })
	return ds
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func near(a, b []float32, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i])-float64(b[i])) > tol {
			return false
		}
	}
	return true
}

// TestRulesHandComputed checks each rule on inputs small enough to work
// out by hand.
func TestRulesHandComputed(t *testing.T) {
	vs := map[string][]float32{
		"a": {1, 10}, "b": {2, 20}, "c": {3, 30}, "d": {4, 40}, "e": {100, -100},
	}
	samples := map[string]uint64{"a": 1, "b": 1, "c": 2, "d": 0, "e": 1}
	for _, tc := range []struct {
		name string
		rule federated.Rule
		want []float32
	}{
		// weights 1,1,2,1,1 (d's 0 becomes 1 in the helper): (1+2+6+4+100)/6, (10+20+60+40-100)/6
		{"fedavg", federated.FedAvg{}, []float32{113.0 / 6, 30.0 / 6}},
		{"median", federated.Median{}, []float32{3, 20}},
		// trim 0.2 of 5 = 1 each end: {2,3,4} and {10,20,30}
		{"trimmed 0.2", federated.TrimmedMean{Trim: 0.2}, []float32{3, 20}},
		{"trimmed 0", federated.TrimmedMean{Trim: 0}, []float32{22, 0}},
		// f=1: k = 5-1-2 = 2 nearest. Squared distances: a-b 101, b-c 101,
		// c-d 101, a-c 404, b-d 404; scores a 505, b 202, c 202, d 505:
		// Krum picks b (tie with c goes to the smaller id).
		{"krum f=1", federated.Krum{F: 1}, []float32{2, 20}},
		{"multi-krum f=1 m=2", federated.Krum{F: 1, M: 2}, []float32{2.5, 25}},
	} {
		got, err := tc.rule.Aggregate(deltas(vs, samples))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !near(got, tc.want, 1e-5) {
			t.Errorf("%s.Aggregate = %v; want %v", tc.name, got, tc.want)
		}
	}
}

func TestMedianEvenCount(t *testing.T) {
	got, err := federated.Median{}.Aggregate(deltas(map[string][]float32{"a": {1}, "b": {5}, "c": {2}, "d": {100}}, nil))
	if err != nil || !near(got, []float32{3.5}, 1e-6) {
		t.Errorf("Median{1,5,2,100} = %v, %v; want [3.5]", got, err)
	}
}

func TestRuleErrors(t *testing.T) {
	three := deltas(map[string][]float32{"a": {1}, "b": {2}, "c": {3}}, nil)
	for _, tc := range []struct {
		name string
		rule federated.Rule
		ds   []federated.Delta
		want error
	}{
		{"fedavg none", federated.FedAvg{}, nil, federated.ErrTooFew},
		{"median none", federated.Median{}, nil, federated.ErrTooFew},
		{"krum needs 2f+3", federated.Krum{F: 1}, three, federated.ErrTooFew},
		{"multi-krum m > n-f", federated.Krum{F: 0, M: 4}, three, federated.ErrTooFew},
		{"trim out of range", federated.TrimmedMean{Trim: 0.6}, three, federated.ErrInvalidConfig},
		{"krum negative f", federated.Krum{F: -1}, three, federated.ErrInvalidConfig},
		{"ragged", federated.FedAvg{}, deltas(map[string][]float32{"a": {1}, "b": {2, 3}}, nil), federated.ErrShape},
	} {
		if _, err := tc.rule.Aggregate(tc.ds); !errors.Is(err, tc.want) {
			t.Errorf("%s: Aggregate error = %v; want %v", tc.name, err, tc.want)
		}
	}
}

func randDeltas(rng *rand.Rand, n, dim int) []federated.Delta {
	ds := make([]federated.Delta, n)
	for i := range ds {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		ds[i] = federated.Delta{Node: fmt.Sprintf("n%03d", i), Samples: uint64(1 + rng.IntN(100)), V: v}
	}
	return ds
}

func rules() map[string]federated.Rule {
	return map[string]federated.Rule{
		"fedavg": federated.FedAvg{}, "median": federated.Median{}, "trimmed": federated.TrimmedMean{Trim: 0.2},
		"krum": federated.Krum{F: 2}, "multi-krum": federated.Krum{F: 2, M: 4},
	}
}

// TestPermutationInvariance: every rule gives the same bits whatever the
// order of its input.
func TestPermutationInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ds := randDeltas(rng, 11, 50)
	for name, r := range rules() {
		want, err := r.Aggregate(ds)
		if err != nil {
			t.Fatal(err)
		}
		for trial := range 5 {
			p := slices.Clone(ds)
			rng.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
			got, err := r.Aggregate(p)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: shuffle %d changed the result", name, trial)
			}
		}
	}
}

// TestIdenticalUpdates: any rule of identical deltas is that delta.
func TestIdenticalUpdates(t *testing.T) {
	v := []float32{0.5, -1.25, 3, 0}
	var ds []federated.Delta
	for i := range 7 {
		ds = append(ds, federated.Delta{Node: fmt.Sprint(i), Samples: uint64(i + 1), V: slices.Clone(v)})
	}
	for name, r := range rules() {
		got, err := r.Aggregate(ds)
		if err != nil || !near(got, v, 1e-6) {
			t.Errorf("%s of identical %v = %v, %v; want it back", name, v, got, err)
		}
	}
}

// TestRobustRulesIgnoreOutliers: with f huge outliers among honest
// deltas near a point, the robust rules stay within the honest deltas'
// spread; FedAvg does not.
func TestRobustRulesIgnoreOutliers(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const honest, f, dim = 9, 2, 20
	ds := randDeltas(rng, honest+f, dim)
	for i := range ds {
		for j := range ds[i].V {
			if i < f {
				ds[i].V[j] = 1e6 * float32(1+rng.Float64())
			} else {
				ds[i].V[j] = 1 + 0.01*ds[i].V[j]
			}
		}
	}
	robust := map[string]federated.Rule{
		"median": federated.Median{}, "trimmed": federated.TrimmedMean{Trim: float64(f) / float64(honest+f)},
		"krum": federated.Krum{F: f}, "multi-krum": federated.Krum{F: f, M: honest - f},
	}
	for name, r := range robust {
		got, err := r.Aggregate(ds)
		if err != nil {
			t.Fatal(err)
		}
		for j, v := range got {
			if math.Abs(float64(v)-1) > 0.05 {
				t.Errorf("%s[%d] = %v with %d outliers; want near 1", name, j, v, f)
				break
			}
		}
	}
	if got, _ := (federated.FedAvg{}).Aggregate(ds); got[0] < 1000 {
		t.Errorf("FedAvg[0] = %v; an outlier should drag it far (the test's premise)", got[0])
	}
}

// testGlobal is a two-tensor model.
func testGlobal() *federated.Global {
	return &federated.Global{Round: 3, Hash: []byte{1, 2, 3}, Tensors: []*gamesav1.Tensor{
		{Name: "w", Shape: []int32{2, 2}, Data: []float32{1, 2, 3, 4}},
		{Name: "b", Shape: []int32{2}, Data: []float32{0, 0}},
	}}
}

func updateFrom(g *federated.Global, node string, add float32) *federated.Update {
	u := &federated.Update{Node: node, Round: g.Round, BaseHash: g.Hash, Samples: 10}
	for _, t := range g.Tensors {
		d := slices.Clone(t.Data)
		for i := range d {
			d[i] += add
		}
		u.Tensors = append(u.Tensors, &gamesav1.Tensor{Name: t.Name, Shape: t.Shape, Data: d})
	}
	return u
}

func TestCheckRefusals(t *testing.T) {
	cfg := federated.DefaultConfig()
	cfg.RejectNorm = 100
	for _, tc := range []struct {
		name   string
		modify func(u *federated.Update)
		cfg    func(c *federated.Config)
		want   error
	}{
		{"wrong round", func(u *federated.Update) { u.Round = 2 }, nil, federated.ErrWrongRound},
		{"wrong base", func(u *federated.Update) { u.BaseHash = []byte{9} }, nil, federated.ErrWrongBase},
		{"no samples", func(u *federated.Update) { u.Samples = 0 }, nil, federated.ErrSamples},
		{"too many samples", func(u *federated.Update) { u.Samples = 1 << 40 }, nil, federated.ErrSamples},
		{"missing tensor", func(u *federated.Update) { u.Tensors = u.Tensors[:1] }, nil, federated.ErrShape},
		{"renamed tensor", func(u *federated.Update) { u.Tensors[1].Name = "c" }, nil, federated.ErrShape},
		{"reshaped tensor", func(u *federated.Update) { u.Tensors[0].Shape = []int32{4} }, nil, federated.ErrShape},
		{"short tensor", func(u *federated.Update) { u.Tensors[1].Data = u.Tensors[1].Data[:1] }, nil, federated.ErrShape},
		{"NaN", func(u *federated.Update) { u.Tensors[0].Data[2] = float32(math.NaN()) }, nil, federated.ErrNonFinite},
		{"Inf", func(u *federated.Update) { u.Tensors[1].Data[0] = float32(math.Inf(-1)) }, nil, federated.ErrNonFinite},
		{"far", func(u *federated.Update) { u.Tensors[0].Data[0] = 1000 }, nil, federated.ErrNormBound},
		{"overflowing delta", func(u *federated.Update) { u.Tensors[0].Data[3] = -math.MaxFloat32 }, func(c *federated.Config) { c.RejectNorm = 0 }, federated.ErrNormBound},
		{"too many params", nil, func(c *federated.Config) { c.MaxParams = 5 }, federated.ErrTooLarge},
		{"too many tensors", nil, func(c *federated.Config) { c.MaxTensors = 1 }, federated.ErrTooLarge},
	} {
		g := testGlobal()
		u := updateFrom(g, "x", 0.5)
		if tc.name == "overflowing delta" {
			g.Tensors[0].Data[3] = math.MaxFloat32
		}
		if tc.modify != nil {
			tc.modify(u)
		}
		c := cfg
		if tc.cfg != nil {
			tc.cfg(&c)
		}
		_, err := c.Check(g, u)
		var re *federated.RefusedError
		if !errors.Is(err, tc.want) || !errors.As(err, &re) || re.Node != "x" {
			t.Errorf("%s: Check = %v; want a refusal of node x wrapping %v", tc.name, err, tc.want)
		}
	}
}

func TestCheckClips(t *testing.T) {
	g := testGlobal()
	cfg := federated.DefaultConfig()
	cfg.ClipNorm = 1
	// A delta of 2 on 6 values has norm 2·√6.
	d, err := cfg.Check(g, updateFrom(g, "x", 2))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Clipped || math.Abs(d.Norm-2*math.Sqrt(6)) > 1e-5 {
		t.Errorf("Check: clipped %v norm %v; want clipped with norm %v", d.Clipped, d.Norm, 2*math.Sqrt(6))
	}
	var sq float64
	for _, v := range d.V {
		sq += float64(v) * float64(v)
	}
	if math.Abs(math.Sqrt(sq)-1) > 1e-5 {
		t.Errorf("clipped delta norm = %v; want 1", math.Sqrt(sq))
	}
}

func TestMerge(t *testing.T) {
	g := testGlobal()
	before := slices.Clone(g.Tensors[0].Data)
	cfg := federated.DefaultConfig()
	bad := updateFrom(g, "c", 1)
	bad.Round = 1
	us := []*federated.Update{updateFrom(g, "b", 1), updateFrom(g, "a", 3), bad, updateFrom(g, "a", 5)}
	us[0].Samples = 30
	res, err := cfg.Merge(g, us, federated.FedAvg{})
	if err != nil {
		t.Fatal(err)
	}
	// a (10 samples, +3) and b (30 samples, +1): +1.5.
	if want := []float32{2.5, 3.5, 4.5, 5.5}; !near(res.Tensors[0].Data, want, 1e-6) {
		t.Errorf("Merge w = %v; want %v", res.Tensors[0].Data, want)
	}
	if !slices.Equal(res.Accepted, []string{"a", "b"}) || res.Samples != 40 || len(res.Refused) != 2 {
		t.Errorf("Merge accepted %v samples %d refused %v; want [a b], 40 and two refusals", res.Accepted, res.Samples, res.Refused)
	}
	if !errors.Is(res.Refused[0], federated.ErrWrongRound) || !errors.Is(res.Refused[1], federated.ErrDuplicate) {
		t.Errorf("Merge refusals %v; want wrong round then duplicate", res.Refused)
	}
	if !slices.Equal(g.Tensors[0].Data, before) {
		t.Errorf("Merge changed the global model")
	}
	if _, err := cfg.Merge(g, []*federated.Update{bad}, federated.FedAvg{}); !errors.Is(err, federated.ErrTooFew) {
		t.Errorf("Merge of only refused updates = %v; want ErrTooFew", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := federated.DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	for _, mod := range []func(*federated.Config){
		func(c *federated.Config) { c.ClipNorm = -1 },
		func(c *federated.Config) { c.RejectNorm = math.NaN() },
		func(c *federated.Config) { c.ClipNorm, c.RejectNorm = 2, 1 },
		func(c *federated.Config) { c.MaxParams = 0 },
	} {
		c := federated.DefaultConfig()
		mod(&c)
		if err := c.Validate(); !errors.Is(err, federated.ErrInvalidConfig) {
			t.Errorf("Validate(%+v) = %v; want ErrInvalidConfig", c, err)
		}
	}
}

// TestProx: the proximal gradient is μ(w − w_global), and training with it
// ends nearer the global model than without.
func TestProx(t *testing.T) {
	p := neural.NewParam("w", 3)
	copy(p.W, []float32{1, 2, 3})
	prox, err := federated.NewProx(0.5, []*neural.Param{p})
	if err != nil {
		t.Fatal(err)
	}
	copy(p.W, []float32{2, 2, 1})
	prox.AddGrad()
	if want := []float32{0.5, 0, -1}; !near(p.G, want, 1e-7) {
		t.Errorf("AddGrad G = %v; want %v", p.G, want)
	}
	if got := prox.Penalty(); math.Abs(got-0.25*5) > 1e-9 {
		t.Errorf("Penalty = %v; want 1.25", got)
	}
	if _, err := federated.NewProx(float32(math.NaN()), nil); !errors.Is(err, federated.ErrInvalidConfig) {
		t.Errorf("NewProx(NaN) = %v; want ErrInvalidConfig", err)
	}

	// A node whose data pulls w to 10 from a global 0: with μ = 1 it
	// settles at the proximal optimum 10/(1+μ) = 5.
	train := func(mu float32) float32 {
		w := neural.NewParam("w", 1)
		pr, _ := federated.NewProx(mu, []*neural.Param{w})
		opt := &neural.SGD{LR: 0.1}
		for range 500 {
			neural.ZeroGrad([]*neural.Param{w})
			w.G[0] = w.W[0] - 10 // gradient of (w-10)²/2
			pr.AddGrad()
			opt.Step([]*neural.Param{w})
		}
		return w.W[0]
	}
	if got := train(1); math.Abs(float64(got)-5) > 1e-3 {
		t.Errorf("FedProx μ=1 training ends at %v; want 5", got)
	}
	if got := train(0); math.Abs(float64(got)-10) > 1e-3 {
		t.Errorf("μ=0 training ends at %v; want 10", got)
	}
}

// TestPrivatize: clipping to C and noise of standard deviation σC, with
// a fixed seed: the noise's mean and spread match.
func TestPrivatize(t *testing.T) {
	const n = 20000
	g := &federated.Global{Round: 1, Tensors: []*gamesav1.Tensor{{Name: "w", Shape: []int32{n}, Data: make([]float32, n)}}}
	u := &federated.Update{Node: "x", Round: 1, Samples: 1, Tensors: []*gamesav1.Tensor{{Name: "w", Shape: []int32{n}, Data: make([]float32, n)}}}
	u.Tensors[0].Data[0] = 1000 // norm 1000, clipped to C = 2 → 2
	p := federated.Privacy{Clip: 2, Sigma: 0.5}
	norm, err := p.Privatize(g, u, rand.New(rand.NewPCG(7, 8)))
	if err != nil {
		t.Fatal(err)
	}
	if norm != 1000 {
		t.Errorf("Privatize norm = %v; want 1000", norm)
	}
	var s, sq float64
	for _, v := range u.Tensors[0].Data[1:] {
		s += float64(v)
		sq += float64(v) * float64(v)
	}
	m := s / (n - 1)
	sd := math.Sqrt(sq/(n-1) - m*m)
	// σC = 1; the mean's standard error is 1/√n ≈ 0.007.
	if math.Abs(m) > 0.03 || math.Abs(sd-1) > 0.03 {
		t.Errorf("noise mean %.4f sd %.4f; want 0 and σC = 1", m, sd)
	}
	if v := u.Tensors[0].Data[0]; math.Abs(float64(v)-2) > 5 {
		t.Errorf("clipped coordinate = %v; want 2 ± noise", v)
	}
	if _, err := (federated.Privacy{Clip: 0, Sigma: 1}).Privatize(g, u, nil); !errors.Is(err, federated.ErrInvalidConfig) {
		t.Errorf("Privatize with Clip 0 = %v; want ErrInvalidConfig", err)
	}
}

func TestEpsilon(t *testing.T) {
	for _, tc := range []struct {
		sigma  float64
		rounds int
		delta  float64
	}{{1, 1, 1e-5}, {1.1, 100, 1e-5}, {4, 1000, 1e-6}} {
		eps, alpha, err := federated.Epsilon(tc.sigma, tc.rounds, tc.delta)
		if err != nil {
			t.Fatal(err)
		}
		// The closed form must be the minimum over α of the RDP bound.
		bound := func(a float64) float64 {
			return float64(tc.rounds)*a/(2*tc.sigma*tc.sigma) + math.Log(1/tc.delta)/(a-1)
		}
		best := math.Inf(1)
		for a := 1.01; a < 1000; a *= 1.001 {
			best = math.Min(best, bound(a))
		}
		if math.Abs(eps-best) > 1e-3*best || math.Abs(bound(alpha)-eps) > 1e-9*eps {
			t.Errorf("Epsilon(%v, %d, %v) = %v at α %v; a scan over α gives %v", tc.sigma, tc.rounds, tc.delta, eps, alpha, best)
		}
	}
	e1, _, _ := federated.Epsilon(1, 10, 1e-5)
	e2, _, _ := federated.Epsilon(1, 100, 1e-5)
	e3, _, _ := federated.Epsilon(2, 100, 1e-5)
	if !(e1 < e2 && e3 < e2) {
		t.Errorf("ε must grow with rounds and fall with σ: %v %v %v", e1, e2, e3)
	}
	if _, _, err := federated.Epsilon(1, 0, 1e-5); !errors.Is(err, federated.ErrInvalidConfig) {
		t.Errorf("Epsilon(rounds 0) = %v; want ErrInvalidConfig", err)
	}
}

// TestTrimmedMatchesSort: the selection-based trimmed mean equals a
// sort-based one on random data with ties.
func TestTrimmedMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, m := range []int{1, 2, 3, 7, 10, 31} {
		ds := randDeltas(rng, m, 130)
		for i := range ds {
			for j := range ds[i].V {
				ds[i].V[j] = float32(rng.IntN(5)) // many ties
			}
		}
		for _, trim := range []float64{0, 0.1, 0.25, 0.5} {
			got, err := federated.TrimmedMean{Trim: trim}.Aggregate(ds)
			if err != nil {
				t.Fatal(err)
			}
			k := int(trim * float64(m))
			if m-2*k < 1 {
				k = (m - 1) / 2
			}
			for j := range got {
				col := make([]float64, m)
				for i := range ds {
					col[i] = float64(ds[i].V[j])
				}
				slices.Sort(col)
				var s float64
				for _, v := range col[k : m-k] {
					s += v
				}
				if want := s / float64(m-2*k); math.Abs(float64(got[j])-want) > 1e-5 {
					t.Fatalf("TrimmedMean{%v} of %d, coordinate %d = %v; want %v", trim, m, j, got[j], want)
				}
			}
		}
	}
}
