package anomaly

import (
	"context"
	"sync"
	"testing"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry/sim"
)

// phase is one stretch of a simulated stream: a scenario for n seconds,
// under a power cap (0 for none).
type phase struct {
	scenario string
	n        int
	capW     float64
}

// simStream runs a simulated laptop (sim.DefaultConfig with the given
// seed and cycle step) through the phases at one sample a second.
func simStream(t testing.TB, seed uint64, cycle time.Duration, phases ...phase) []*gamesav1.Sample {
	t.Helper()
	cfg := sim.DefaultConfig()
	cfg.Seed = seed
	cfg.Scenario = phases[0].scenario
	if cycle > 0 {
		cfg.CycleStep = cycle
	}
	m, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Unix(1_700_000_000+int64(seed)*86_400, 0)
	var out []*gamesav1.Sample
	for _, p := range phases {
		if err := m.SetScenario(p.scenario); err != nil {
			t.Fatal(err)
		}
		if err := m.SetPowerCap(p.capW); err != nil {
			t.Fatal(err)
		}
		for range p.n {
			now = now.Add(time.Second)
			s, err := m.Sample(ctx, now)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
	}
	return out
}

// simThermal is the injectors' model of sim.DefaultConfig's laptop.
func simThermal() Thermal {
	cfg := sim.DefaultConfig()
	return Thermal{
		AmbientC:                  cfg.AmbientC,
		ResistanceCPerW:           cfg.ThermalResistanceCPerW,
		FanStoppedResistanceCPerW: cfg.FanStoppedResistanceCPerW,
		CapacitanceJPerC:          cfg.ThermalCapacitanceJPerC,
		CoreWatts:                 (cfg.TDPWatts - cfg.IdleWatts) / float64(cfg.Cores),
		FanRPM:                    cfg.FanRPM,
	}
}

const (
	idle    = sim.ScenarioIdle
	game    = sim.ScenarioGame
	render  = sim.ScenarioRender
	compile = sim.ScenarioCompile
	browser = sim.ScenarioBrowser
	cycle   = sim.ScenarioCycle
)

// trainingStreams are normal operation: the cycle at several paces, each
// workload long enough to settle, and power caps. Seeds 100..199.
func trainingStreams(t testing.TB) [][]*gamesav1.Sample {
	t.Helper()
	var out [][]*gamesav1.Sample
	for i, step := range []time.Duration{60 * time.Second, 37 * time.Second, 90 * time.Second, 150 * time.Second} {
		out = append(out, simStream(t, uint64(100+i), step, phase{cycle, 1500, 0}))
	}
	out = append(out, simStream(t, 110, 0,
		phase{idle, 300, 0}, phase{game, 400, 0}, phase{idle, 200, 0}, phase{render, 400, 0},
		phase{browser, 300, 0}, phase{compile, 400, 0}, phase{idle, 200, 0}))
	out = append(out, simStream(t, 111, 0,
		phase{render, 300, 25}, phase{game, 300, 20}, phase{compile, 300, 30}, phase{browser, 200, 15}, phase{idle, 200, 0}))
	return out
}

// trained caches the detector mustTrained builds: several tests share it.
var trained struct {
	sync.Mutex
	m *Model
}

// mustTrained returns a detector built the way a node ends up with one:
// Observe normal samples, Train on them, then let the threshold learn from
// more normal samples. It is built once per test binary (a few seconds);
// tests that use it must leave it as they found it.
func mustTrained(t testing.TB) *Model {
	t.Helper()
	trained.Lock()
	defer trained.Unlock()
	if trained.m != nil {
		return trained.m
	}
	cfg := DefaultConfig()
	cfg.ReplaySize = 16384 // keep every training vector
	m, err := New(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range trainingStreams(t) {
		for i, s := range st {
			if err := m.Observe(s); err != nil {
				t.Fatalf("Observe(training sample %d) = %v", i, err)
			}
		}
		m.reset()
	}
	if _, err := m.Train(25000); err != nil {
		t.Fatal(err)
	}
	for _, s := range simStream(t, 120, 45*time.Second, phase{cycle, 1500, 0}) {
		if err := m.Observe(s); err != nil {
			t.Fatal(err)
		}
	}
	m.reset()
	trained.m = m
	return m
}

// evalStreams builds held-out streams from seeds base+1, base+2, ...: every
// fault over the workloads where it can happen, and clean streams.
//
//   - stuck sensor: frozen at onset (200 s, the machine settled in one
//     workload), the workload changes 10 s later, so the real temperature
//     moves away from the frozen one;
//   - fan failure: at onset under a steady workload, each of the five;
//   - runaway: at onset under the workloads that leave a core idle
//     (render and compile keep every core busy already).
//
// The clean streams are each workload for 10 minutes and the cycle at
// three paces for 20 minutes.
func evalStreams(t testing.TB, base uint64, rounds int) []Stream {
	t.Helper()
	th := simThermal()
	var streams []Stream
	seed := base
	const onset = 200
	add := func(f Fault, phases ...phase) {
		seed++
		s := simStream(t, seed, 0, phases...)
		var err error
		if s, err = Inject(f, s, onset, th); err != nil {
			t.Fatal(err)
		}
		streams = append(streams, Stream{Name: f.String() + " from " + phases[0].scenario, Fault: f, Onset: onset, Samples: s})
	}
	for range rounds {
		for _, p := range [][2]string{{idle, render}, {idle, game}, {idle, compile}, {render, idle}, {game, idle}, {browser, render}, {compile, idle}} {
			add(FaultStuckSensor, phase{p[0], onset + 10, 0}, phase{p[1], 90, 0})
		}
		for _, sc := range []string{idle, game, render, compile, browser} {
			add(FaultFanFailure, phase{sc, onset + 100, 0})
		}
		for _, sc := range []string{idle, browser, game} {
			add(FaultRunaway, phase{sc, onset + 100, 0})
		}
	}
	for _, sc := range []string{idle, game, render, compile, browser} {
		seed++
		streams = append(streams, Stream{Name: "clean " + sc, Samples: simStream(t, seed, 0, phase{sc, 600, 0})})
	}
	for i := range 3 {
		seed++
		streams = append(streams, Stream{Name: "clean cycle", Samples: simStream(t, seed, time.Duration(40+20*i)*time.Second, phase{cycle, 1200, 0})})
	}
	return streams
}

// TestDetectsInjectedFaults is the accuracy claim: on simulated streams
// from seeds that neither training nor the tuning of DefaultConfig saw,
// every fault is detected in at least 80 % of its events, at least 80 %
// of flagged samples are inside a fault, and at most 2 % of clean samples
// are flagged.
func TestDetectsInjectedFaults(t *testing.T) {
	m := mustTrained(t)
	beforeMean, beforeN, beforeReplay := m.thMean, m.thN, m.replayLen
	r, err := Evaluate(m, evalStreams(t, 7000, 3))
	if err != nil {
		t.Fatal(err)
	}
	th, _ := m.Threshold()
	t.Logf("threshold %.4f\n%s", th, r)
	for _, f := range Faults() {
		fr := r.Fault(f)
		if fr.Events == 0 {
			t.Errorf("%s: no events evaluated", f)
		}
		if got := fr.Recall(); got < 0.8 {
			t.Errorf("%s recall = %.3f (%d of %d events); want ≥ 0.8", f, got, fr.Detected, fr.Events)
		}
	}
	if got := r.Precision(); got < 0.8 {
		t.Errorf("overall precision = %.3f; want ≥ 0.8", got)
	}
	if r.CleanSamples < 5000 {
		t.Errorf("only %d clean samples scored; want ≥ 5000", r.CleanSamples)
	}
	if got := r.FalsePositiveRate(); got > 0.02 {
		t.Errorf("false-positive rate on clean held-out streams = %.4f; want ≤ 0.02", got)
	}
	if m.thMean != beforeMean || m.thN != beforeN || m.replayLen != beforeReplay {
		t.Errorf("Evaluate changed the model: threshold mean %v→%v, n %d→%d, replay %d→%d",
			beforeMean, m.thMean, beforeN, m.thN, beforeReplay, m.replayLen)
	}
}
