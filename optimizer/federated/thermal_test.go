package federated_test

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/optimizer/federated"
	"github.com/krystalstack/gamesa/optimizer/neural"
	"github.com/krystalstack/gamesa/optimizer/neural/thermal"
	"github.com/krystalstack/gamesa/telemetry/sim"
)

// threeMachines records three simulated machines that differ in their
// thermal constants and workloads, with different amounts of data.
func threeMachines(t testing.TB) [][]thermal.Series {
	t.Helper()
	base := time.Unix(1_700_000_000, 0)
	var out [][]thermal.Series
	for i, sp := range []struct {
		tweak func(*sim.Config)
		rows  int
	}{
		{func(*sim.Config) {}, 1500},
		{func(c *sim.Config) { c.AmbientC, c.ThermalResistanceCPerW, c.TDPWatts = 32, 1.2, 65 }, 900},
		{func(c *sim.Config) { c.ThermalCapacitanceJPerC, c.ThermalResistanceCPerW, c.AmbientC = 45, 2.0, 35 }, 400},
	} {
		cfg := sim.DefaultConfig()
		cfg.Seed, cfg.CycleStep = uint64(21+i), 40*time.Second
		sp.tweak(&cfg)
		s := simSeries(t, "m", cfg, base.Add(time.Duration(i)*time.Hour), sim.ScenarioCycle, sp.rows)
		out = append(out, []thermal.Series{s})
	}
	return out
}

func smallConfig() thermal.Config {
	cfg := thermal.DefaultConfig()
	cfg.Hidden, cfg.Seed = 8, 3
	return cfg
}

// TestMergeThermalFits checks that pooling the nodes' round-0 fits gives
// the model central training fits on all their rows before its first
// step: the same input and output normalisation, and the same linear
// part (compared by its forecasts: its weights solve an ill-conditioned
// system from float32 moments).
func TestMergeThermalFits(t *testing.T) {
	cfg := smallConfig()
	nodes := threeMachines(t)
	tr := federated.ThermalTrainer{Config: cfg}
	var fs []federated.ThermalFit
	var all []thermal.Series
	for i, s := range nodes {
		data, err := tr.Fit(s)
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, federated.ThermalFit{Node: string(rune('a' + i)), Model: data, Rows: federated.Rows(s)})
		all = append(all, s...)
	}
	gm, gdata, err := federated.MergeThermalFits(fs)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg
	c.TrainSteps = 0
	central, _, err := thermal.Train(all, c)
	if err != nil {
		t.Fatal(err)
	}
	cdata, err := central.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	cm, err := neural.Decode(cdata, thermal.Kind)
	if err != nil {
		t.Fatal(err)
	}
	if gm.Version != 1 || gm.TrainingSamples != federated.Rows(all) {
		t.Errorf("merged version %d, samples %d; want 1 and %d", gm.Version, gm.TrainingSamples, federated.Rows(all))
	}
	for f := range gm.Input.Mean {
		if !close(gm.Input.Mean[f], cm.Input.Mean[f], 1e-4) || !close(gm.Input.Std[f], cm.Input.Std[f], 1e-4) {
			t.Errorf("input %d: pooled mean %v std %v; central %v %v", f, gm.Input.Mean[f], gm.Input.Std[f], cm.Input.Mean[f], cm.Input.Std[f])
		}
	}
	// The output normaliser is what the LSTM learns: the residual over
	// the pooled linear part (a node's own residual is smaller).
	for h := range gm.Output.Std {
		if !close(gm.Output.Std[h], cm.Output.Std[h], 0.02) || math.Abs(float64(gm.Output.Mean[h]-cm.Output.Mean[h])) > 0.02*float64(cm.Output.Std[h]) {
			t.Errorf("output %d: pooled mean %v std %v; central %v %v", h, gm.Output.Mean[h], gm.Output.Std[h], cm.Output.Mean[h], cm.Output.Std[h])
		}
	}
	pooled, err := thermal.Load(gdata, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rp, rc := thermal.Evaluate(pooled, all), thermal.Evaluate(central, all)
	for h := range thermal.NumHorizons {
		if p, c := rp.Raw.Linear.RMSE[h], rc.Raw.Linear.RMSE[h]; math.Abs(p-c) > 0.01*c {
			t.Errorf("horizon %d: pooled linear part's RMSE %.4f; central's %.4f", h, p, c)
		}
	}
}

func close(a, b float32, rel float64) bool {
	return math.Abs(float64(a-b)) <= rel*math.Max(math.Abs(float64(b)), 1e-3)
}

// TestPersonalise checks that a node keeps the fine-tuned copy exactly
// when it scores better on the validation data, and refuses validation
// data too short to score.
func TestPersonalise(t *testing.T) {
	cfg := smallConfig()
	nodes := threeMachines(t)
	tr := federated.ThermalTrainer{Config: cfg, Steps: 40}
	var fs []federated.ThermalFit
	for i, s := range nodes {
		data, err := tr.Fit(s)
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, federated.ThermalFit{Node: string(rune('a' + i)), Model: data, Rows: federated.Rows(s)})
	}
	_, global, err := federated.MergeThermalFits(fs)
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for i, s := range nodes {
		pts := s[0].Points
		train := []thermal.Series{{Name: "train", Points: pts[:len(pts)*3/4]}}
		val := []thermal.Series{{Name: "val", Points: pts[len(pts)*3/4:]}}
		p, err := tr.Personalise(global, train, val)
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		if p.Kept != (p.Tuned < p.Global) || p.Kept == bytes.Equal(p.Model, global) {
			t.Errorf("node %d: kept %v with global %.3f, tuned %.3f (model is the global one: %v)", i, p.Kept, p.Global, p.Tuned, bytes.Equal(p.Model, global))
		}
		got, err := tr.Score(p.Model, val)
		if err != nil {
			t.Fatal(err)
		}
		if want := math.Min(p.Global, p.Tuned); math.Abs(got-want) > 1e-9 {
			t.Errorf("node %d: the kept model scores %.4f; want %.4f", i, got, want)
		}
		if p.Kept {
			kept++
		}
		short := []thermal.Series{{Name: "short", Points: pts[:40]}}
		if _, err := tr.Personalise(global, train, short); !errors.Is(err, thermal.ErrNoData) {
			t.Errorf("node %d: Personalise with 40 validation points = %v; want ErrNoData", i, err)
		}
	}
	t.Logf("%d of %d nodes kept their fine-tuned copy", kept, len(nodes))
	if _, err := tr.Score([]byte("not a model"), nodes[0]); err == nil {
		t.Error("Score of a corrupt file succeeded")
	}
}
