package node

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/optimizer/neural"
	"github.com/krystalstack/gamesa/optimizer/neural/thermal"
	"github.com/krystalstack/gamesa/telemetry/sim"
)

func TestFederatedConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(f *FederatedConfig)
		key  string // the key the error names; empty: valid
	}{
		{"default", func(*FederatedConfig) {}, ""},
		{"manual only", func(f *FederatedConfig) { f.Interval = 0 }, ""},
		{"interval too short", func(f *FederatedConfig) { f.Interval = time.Millisecond }, "federated.interval"},
		{"no participants", func(f *FederatedConfig) { f.MinParticipants = 0 }, "federated.min_participants"},
		{"deadline too short", func(f *FederatedConfig) { f.Deadline = 10 * time.Millisecond }, "federated.deadline"},
		{"unknown rule", func(f *FederatedConfig) { f.Rule = "mean" }, "federated.rule"},
		{"budget beyond deadline", func(f *FederatedConfig) { f.TrainBudget = f.Deadline }, "federated.train_budget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := DefaultFederatedConfig()
			tt.edit(&f)
			err := f.Validate()
			var ke *KeyError
			switch {
			case tt.key == "" && err != nil:
				t.Fatalf("Validate() = %v; want nil", err)
			case tt.key != "" && (!errors.As(err, &ke) || ke.Key != tt.key):
				t.Fatalf("Validate() = %v; want an error about %s", err, tt.key)
			}
		})
	}
	// The section is part of the node's config file.
	c, err := ParseConfig([]byte("dev: true\nfederated:\n  rule: krum\n  interval: 0s\n"), DevConfig(), nil)
	if err != nil || c.Federated.Rule != "krum" || c.Federated.Interval != 0 {
		t.Fatalf("ParseConfig(federated section) = %+v, %v; want rule krum, interval 0", c.Federated, err)
	}
	if _, err := ParseConfig([]byte("dev: true\nfederated:\n  rule: mean\n"), DevConfig(), nil); err == nil || !strings.Contains(err.Error(), "federated.rule (line 3)") {
		t.Fatalf("ParseConfig(bad rule) = %v; want federated.rule named with its line", err)
	}
}

// simSeries records n one-second observations of a simulated machine.
func simSeries(t testing.TB, scenario string, seed uint64, n int) thermal.Series {
	t.Helper()
	cfg := sim.DefaultConfig()
	cfg.Seed, cfg.Scenario = seed, scenario
	m, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := thermal.Series{Name: scenario}
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		smp, err := m.Sample(context.Background(), t0.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		p, err := thermal.PointFromSample(smp)
		if err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		s.Points = append(s.Points, p)
	}
	return s
}

// TestThermalFitTrainAndJudge: the node side of a round on simulated
// data: a fit from no model, a bounded round of training from it that
// moves the weights and keeps the architecture, and a judgement of both
// on held-out data.
func TestThermalFitTrainAndJudge(t *testing.T) {
	cfg := thermal.DefaultConfig()
	s := simSeries(t, sim.ScenarioCycle, 3, 600)
	fit, err := fitThermal(cfg, s)
	if err != nil {
		t.Fatalf("fitThermal: %v", err)
	}
	if _, err := thermal.Load(fit, cfg); err != nil {
		t.Fatalf("the fit does not load: %v", err)
	}
	train, test := splitHeldOut(s)
	if len(test.Points) != 150 || len(train.Points) != 450 {
		t.Fatalf("splitHeldOut: %d + %d points; want 450 + 150", len(train.Points), len(test.Points))
	}
	trained, _, steps, err := trainThermal(context.Background(), cfg, fit, train, 2, time.Millisecond)
	if err != nil {
		t.Fatalf("trainThermal: %v", err)
	}
	if steps < trainChunk {
		t.Errorf("trainThermal ran %d steps; want at least one chunk (%d) whatever the budget", steps, trainChunk)
	}
	a, _ := neural.Decode(fit, thermal.Kind)
	b, err := neural.Decode(trained, thermal.Kind)
	if err != nil {
		t.Fatalf("trained file: %v", err)
	}
	if bytes.Equal(a.GetContentHash(), b.GetContentHash()) || len(a.GetTensors()) != len(b.GetTensors()) {
		t.Errorf("training left the weights as they were, or changed the architecture")
	}
	for _, data := range [][]byte{fit, trained} {
		if e, ok := thermalError(cfg, data, test); !ok || !(e > 0) {
			t.Errorf("thermalError on %d held-out points = %v, %v; want a positive error", len(test.Points), e, ok)
		}
	}
	short := thermal.Series{Points: s.Points[:minThermalRows(cfg)-1]}
	if _, _, _, err := trainThermal(context.Background(), cfg, fit, short, 2, time.Second); err == nil {
		t.Error("trainThermal on less than one window succeeded; want an error")
	}
}

// TestModelStore: files are kept by content hash, checked when read (a
// damaged one is dropped), and pruned to the versions still remembered.
func TestModelStore(t *testing.T) {
	cfg := thermal.DefaultConfig()
	s := simSeries(t, sim.ScenarioGame, 5, 300)
	v1, err := fitThermal(cfg, s)
	if err != nil {
		t.Fatal(err)
	}
	v2, _, _, err := trainThermal(context.Background(), cfg, v1, s, 1, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	m1, _ := neural.Decode(v1, thermal.Kind)
	m2, _ := neural.Decode(v2, thermal.Kind)
	st, err := newModelStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.get(thermal.Kind, m1.GetContentHash()); !errors.Is(err, errModelMissing) {
		t.Fatalf("get(empty store) = %v; want errModelMissing", err)
	}
	if err := st.put(thermal.Kind, m2.GetContentHash(), v1); err == nil {
		t.Fatal("put(v1 under v2's hash) succeeded; want refused")
	}
	for _, m := range []struct {
		hash, data []byte
	}{{m1.GetContentHash(), v1}, {m2.GetContentHash(), v2}} {
		if err := st.put(thermal.Kind, m.hash, m.data); err != nil {
			t.Fatal(err)
		}
		if got, err := st.get(thermal.Kind, m.hash); err != nil || !bytes.Equal(got, m.data) {
			t.Fatalf("get after put = %d bytes, %v; want the file", len(got), err)
		}
	}
	// A flipped byte: the file is refused and removed.
	path := st.path(m1.GetContentHash())
	bad := bytes.Clone(v1)
	bad[len(bad)/2] ^= 0xff
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := st.get(thermal.Kind, m1.GetContentHash()); !errors.Is(err, errModelMissing) {
		t.Fatalf("get(damaged) = %v; want errModelMissing", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the damaged file is still there: %v", err)
	}
	// Prune keeps what is remembered and files that are not versions.
	other := filepath.Join(st.dir, "personal-thermal.model")
	if err := os.WriteFile(other, v2, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := st.put(thermal.Kind, m1.GetContentHash(), v1); err != nil {
		t.Fatal(err)
	}
	if err := st.prune([][]byte{m2.GetContentHash()}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.get(thermal.Kind, m1.GetContentHash()); err != nil {
		t.Errorf("v1, just stored, was pruned: %v", err)
	}
	if err := st.prune([][]byte{m2.GetContentHash()}, time.Now().Add(pruneAfter)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.get(thermal.Kind, m1.GetContentHash()); !errors.Is(err, errModelMissing) {
		t.Errorf("v1 survived the prune: %v", err)
	}
	if _, err := st.get(thermal.Kind, m2.GetContentHash()); err != nil {
		t.Errorf("v2 pruned: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("the personalised copy was pruned: %v", err)
	}
}
