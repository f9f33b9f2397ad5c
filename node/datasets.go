package node

import (
	"context"
	"fmt"
	"time"

	"github.com/krystalstack/gamesa/optimizer/neural/anomaly"
	"github.com/krystalstack/gamesa/optimizer/neural/workload"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry/sim"
)

// Datasets recorded from the simulated machine: what the models bootstrap
// from and what `gamesa ml ... eval` measures them on. They live here, in
// the composition root, because they join telemetry (the simulator) and
// the optimizer's models, which know nothing of each other.

// SimMachine is one variant of the simulated machine used to make labelled
// data: a seed and the hardware differences that keep a classifier from
// learning one machine's quirks.
type SimMachine struct {
	Seed  uint64
	Cores int  // 0: the default
	NoGPU bool // drop the default GPU
}

// WorkloadTrainMachines and WorkloadEvalMachines are disjoint: evaluation
// uses seeds and core counts that training never saw.
var (
	WorkloadTrainMachines = []SimMachine{{Seed: 1}, {Seed: 2, NoGPU: true}, {Seed: 3, Cores: 4}, {Seed: 4, Cores: 16, NoGPU: true}}
	WorkloadEvalMachines  = []SimMachine{{Seed: 101}, {Seed: 102, Cores: 6, NoGPU: true}, {Seed: 103, Cores: 12}}
)

// WorkloadWindows records every scenario on each machine for seconds and
// cuts labelled windows from it.
func WorkloadWindows(ctx context.Context, machines []SimMachine, seconds int) ([]workload.LabelledWindow, error) {
	var ws []workload.LabelledWindow
	for _, mc := range machines {
		for _, class := range workload.Classes() {
			cfg := sim.DefaultConfig()
			cfg.Seed, cfg.Scenario = mc.Seed, class
			if mc.Cores > 0 {
				cfg.Cores = mc.Cores
			}
			if mc.NoGPU {
				cfg.GPU = nil
			}
			ss, err := sim.Record(ctx, cfg, time.Unix(1_700_000_000+int64(mc.Seed)*7919, 0), time.Second, seconds)
			if err != nil {
				return nil, fmt.Errorf("sim %+v %s: %w", mc, class, err)
			}
			cw, err := workload.Windows(class, ss, 5, 10)
			if err != nil {
				return nil, err
			}
			ws = append(ws, cw...)
		}
	}
	return ws, nil
}

// Phase is a stretch of a simulated stream: a scenario, how many 1 s
// samples, and a power cap (0 for none).
type Phase struct {
	Scenario string
	Seconds  int
	CapWatts float64
}

// SimStream records phases one after another on a simulated machine with
// the given seed; cycle sets the cycle scenario's step (0: the default).
func SimStream(ctx context.Context, seed uint64, cycle time.Duration, phases ...Phase) ([]*gamesav1.Sample, error) {
	cfg := sim.DefaultConfig()
	cfg.Seed, cfg.Scenario = seed, phases[0].Scenario
	if cycle > 0 {
		cfg.CycleStep = cycle
	}
	m, err := sim.New(cfg)
	if err != nil {
		return nil, err
	}
	now := time.Unix(1_700_000_000+int64(seed)*86_400, 0)
	var out []*gamesav1.Sample
	for _, p := range phases {
		if err := m.SetScenario(p.Scenario); err != nil {
			return nil, err
		}
		if err := m.SetPowerCap(p.CapWatts); err != nil {
			return nil, err
		}
		for range p.Seconds {
			now = now.Add(time.Second)
			s, err := m.Sample(ctx, now)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// SimThermal is the anomaly injectors' model of sim.DefaultConfig's
// laptop: the same RC constants and fan curve.
func SimThermal() anomaly.Thermal {
	cfg := sim.DefaultConfig()
	return anomaly.Thermal{
		AmbientC:                  cfg.AmbientC,
		ResistanceCPerW:           cfg.ThermalResistanceCPerW,
		FanStoppedResistanceCPerW: cfg.FanStoppedResistanceCPerW,
		CapacitanceJPerC:          cfg.ThermalCapacitanceJPerC,
		CoreWatts:                 (cfg.TDPWatts - cfg.IdleWatts) / float64(cfg.Cores),
		FanRPM:                    cfg.FanRPM,
	}
}

// TrainAnomaly trains a detector offline on normal simulated operation —
// the cycle at four paces, each workload settled, power caps — then lets
// its threshold learn from more normal samples: what a node reaches after
// a long normal stretch, in seconds.
func TrainAnomaly(ctx context.Context, seed uint64) (*anomaly.Model, error) {
	cfg := anomaly.DefaultConfig()
	cfg.ReplaySize = 16384 // keep every training vector
	m, err := anomaly.New(cfg, seed)
	if err != nil {
		return nil, err
	}
	var streams [][]*gamesav1.Sample
	add := func(s []*gamesav1.Sample, err error) error {
		streams = append(streams, s)
		return err
	}
	for i, step := range []time.Duration{60 * time.Second, 37 * time.Second, 90 * time.Second, 150 * time.Second} {
		if err := add(SimStream(ctx, uint64(100+i), step, Phase{sim.ScenarioCycle, 1500, 0})); err != nil {
			return nil, err
		}
	}
	if err := add(SimStream(ctx, 110, 0, Phase{sim.ScenarioIdle, 300, 0}, Phase{sim.ScenarioGame, 400, 0}, Phase{sim.ScenarioIdle, 200, 0},
		Phase{sim.ScenarioRender, 400, 0}, Phase{sim.ScenarioBrowser, 300, 0}, Phase{sim.ScenarioCompile, 400, 0}, Phase{sim.ScenarioIdle, 200, 0})); err != nil {
		return nil, err
	}
	if err := add(SimStream(ctx, 111, 0, Phase{sim.ScenarioRender, 300, 25}, Phase{sim.ScenarioGame, 300, 20},
		Phase{sim.ScenarioCompile, 300, 30}, Phase{sim.ScenarioBrowser, 200, 15}, Phase{sim.ScenarioIdle, 200, 0})); err != nil {
		return nil, err
	}
	// Streams start days apart, so the detector's window resets between them.
	for _, st := range streams {
		for _, s := range st {
			if err := m.Observe(s); err != nil {
				return nil, err
			}
		}
	}
	if _, err := m.Train(25000); err != nil {
		return nil, err
	}
	settle, err := SimStream(ctx, 120, 45*time.Second, Phase{sim.ScenarioCycle, 1500, 0})
	if err != nil {
		return nil, err
	}
	for _, s := range settle {
		if err := m.Observe(s); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// AnomalyStreams builds held-out streams from seeds base+1, base+2, ...:
// a stuck sensor (frozen at 200 s, the workload changing 10 s later), a fan
// failure under each workload, a runaway process under the workloads that
// leave a core idle, repeated rounds times; then clean streams: each
// workload for 10 minutes and the cycle at three paces for 20.
func AnomalyStreams(ctx context.Context, base uint64, rounds int) ([]anomaly.Stream, error) {
	th := SimThermal()
	var streams []anomaly.Stream
	seed := base
	const onset = 200
	add := func(f anomaly.Fault, phases ...Phase) error {
		seed++
		s, err := SimStream(ctx, seed, 0, phases...)
		if err != nil {
			return err
		}
		if f != anomaly.FaultNone {
			if s, err = anomaly.Inject(f, s, onset, th); err != nil {
				return err
			}
		}
		name := f.String() + " from " + phases[0].Scenario
		o := onset
		if f == anomaly.FaultNone {
			name, o = "clean "+phases[0].Scenario, 0
		}
		streams = append(streams, anomaly.Stream{Name: name, Fault: f, Onset: o, Samples: s})
		return nil
	}
	var errs []error
	for range rounds {
		for _, p := range [][2]string{{"idle", "render"}, {"idle", "game"}, {"idle", "compile"}, {"render", "idle"}, {"game", "idle"}, {"browser", "render"}, {"compile", "idle"}} {
			errs = append(errs, add(anomaly.FaultStuckSensor, Phase{p[0], onset + 10, 0}, Phase{p[1], 90, 0}))
		}
		for _, sc := range []string{"idle", "game", "render", "compile", "browser"} {
			errs = append(errs, add(anomaly.FaultFanFailure, Phase{sc, onset + 100, 0}))
		}
		for _, sc := range []string{"idle", "browser", "game"} {
			errs = append(errs, add(anomaly.FaultRunaway, Phase{sc, onset + 100, 0}))
		}
	}
	for _, sc := range []string{"idle", "game", "render", "compile", "browser"} {
		errs = append(errs, add(anomaly.FaultNone, Phase{sc, 600, 0}))
	}
	for i := range 3 {
		seed++
		s, err := SimStream(ctx, seed, time.Duration(40+20*i)*time.Second, Phase{sim.ScenarioCycle, 1200, 0})
		errs = append(errs, err)
		streams = append(streams, anomaly.Stream{Name: "clean cycle", Samples: s})
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return streams, nil
}
