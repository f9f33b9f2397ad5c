package federated_test

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/krystalstack/gamesa/optimizer/federated"
)

// TestServerStep checks each server optimizer over two rounds against
// values worked out by hand.
func TestServerStep(t *testing.T) {
	r1, r2 := []float32{1, -2}, []float32{1, 0}
	for _, tc := range []struct {
		name         string
		srv          federated.Server
		want1, want2 []float32
	}{
		{"zero is fedavg", federated.Server{}, r1, r2},
		{"lr", federated.Server{LR: 0.5}, []float32{0.5, -1}, []float32{0.5, 0}},
		// v = [1 -2], then 0.5·v + [1 0] = [1.5 -1]; steps 2·v.
		{"momentum", federated.Server{LR: 2, Momentum: 0.5}, []float32{2, -4}, []float32{3, -2}},
		// β₁ 0.5, β₂ 0.75, τ 0.5: m = [0.5 -1], u = [0.25 1]:
		// step m/(√u+τ) = [0.5 -2/3]; then m = [0.75 -0.5],
		// u = [0.4375 0.75].
		{"adam", federated.Server{LR: 1, Momentum: 0.5, Adam: true, Beta2: 0.75, Tau: 0.5},
			[]float32{0.5, -2.0 / 3}, []float32{float32(0.75 / (math.Sqrt(0.4375) + 0.5)), float32(-0.5 / (math.Sqrt(0.75) + 0.5))}},
	} {
		srv := tc.srv
		got1, err := srv.Step(r1)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got2, err := srv.Step(r2)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !near(got1, tc.want1, 1e-6) || !near(got2, tc.want2, 1e-6) {
			t.Errorf("%s: steps %v, %v; want %v, %v", tc.name, got1, got2, tc.want1, tc.want2)
		}
	}
}

// TestServerState checks that Reset and a new model size restart the
// momentum, and that Step leaves its input alone.
func TestServerState(t *testing.T) {
	srv := federated.Server{LR: 1, Momentum: 0.5}
	in := []float32{2, 4}
	if _, err := srv.Step(in); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(in, []float32{2, 4}) {
		t.Errorf("Step changed its input to %v", in)
	}
	srv.Reset()
	if got, _ := srv.Step([]float32{1, 1}); !near(got, []float32{1, 1}, 0) {
		t.Errorf("Step after Reset = %v; want [1 1] (no momentum)", got)
	}
	if got, _ := srv.Step([]float32{1, 1, 1}); !near(got, []float32{1, 1, 1}, 0) {
		t.Errorf("Step of a longer delta = %v; want [1 1 1] (state restarted)", got)
	}
}

func TestServerValidate(t *testing.T) {
	for _, srv := range []federated.Server{
		{LR: -1}, {LR: math.NaN()}, {LR: math.Inf(1)},
		{Momentum: 1}, {Momentum: -0.1}, {Momentum: math.NaN()},
		{Adam: true, Beta2: 1}, {Adam: true, Tau: math.Inf(1)}, {Adam: true, Tau: -1},
	} {
		if _, err := srv.Step([]float32{1}); !errors.Is(err, federated.ErrInvalidConfig) {
			t.Errorf("%+v.Step = %v; want ErrInvalidConfig", srv, err)
		}
	}
}

// TestServerApply runs Merge then a Server's Apply over two rounds: the
// result is the global model plus the server's step, and Result.Delta is
// Merge's aggregate before and the step after.
func TestServerApply(t *testing.T) {
	g := testGlobal()
	cfg := federated.DefaultConfig()
	srv := federated.Server{LR: 1, Momentum: 0.5}
	for round := range 2 {
		res, err := cfg.Merge(g, []*federated.Update{updateFrom(g, "a", 1), updateFrom(g, "b", 3)}, federated.FedAvg{})
		if err != nil {
			t.Fatal(err)
		}
		if !near(res.Delta, []float32{2, 2, 2, 2, 2, 2}, 1e-6) {
			t.Fatalf("Merge's Delta = %v; want the aggregate, 2 on each weight", res.Delta)
		}
		if err := srv.Apply(g, res); err != nil {
			t.Fatal(err)
		}
		// Round 0 steps 2, round 1 steps 0.5·2 + 2 = 3.
		want := float32(2 + round)
		for i, w := range res.Tensors[0].Data {
			if d := w - g.Tensors[0].Data[i]; math.Abs(float64(d-want)) > 1e-6 || res.Delta[i] != d {
				t.Errorf("round %d: weight %d moved %v (Delta %v); want %v", round, i, d, res.Delta[i], want)
			}
		}
	}
	res := &federated.Result{Delta: []float32{1}}
	if err := srv.Apply(g, res); !errors.Is(err, federated.ErrShape) || res.Tensors != nil {
		t.Errorf("Apply of a short delta = %v, tensors %v; want ErrShape and no change", err, res.Tensors)
	}
}
