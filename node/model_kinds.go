package node

import (
	"context"

	"github.com/krystalstack/gamesa/optimizer/neural/anomaly"
	"github.com/krystalstack/gamesa/optimizer/neural/thermal"
	"github.com/krystalstack/gamesa/optimizer/neural/workload"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// modelKinds lists the models a node runs, in the order they run.
func modelKinds() []modelKind {
	return []modelKind{thermalKind(), anomalyKind(), workloadKind()}
}

func anomalyKind() modelKind {
	cfg := anomaly.DefaultConfig()
	return modelKind{
		name:   anomaly.Kind,
		online: true,
		// Unsupervised: it learns this machine's normal online and scores
		// once its threshold has settled on enough normal samples.
		fresh: func(seed uint64) (learner, error) { return anomaly.New(cfg, seed) },
		load:  func(data []byte) (learner, error) { return anomaly.Load(data, cfg) },
		fill: func(m learner, in *gamesav1.Insights) {
			d := m.(*anomaly.Model)
			score, anomalous, ok := d.Score()
			thr, tok := d.Threshold()
			if ok && tok {
				in.AnomalyScore, in.AnomalyThreshold, in.Anomalous = float64(score), float64(thr), anomalous
			}
		},
	}
}

func thermalKind() modelKind {
	cfg := thermal.DefaultConfig()
	return modelKind{
		name:   thermal.Kind,
		online: true,
		// The thermal model learns this machine online: it forecasts once
		// its replay buffer holds enough history (about ten minutes).
		fresh: func(seed uint64) (learner, error) { return thermal.New(cfg, seed) },
		load:  func(data []byte) (learner, error) { return thermal.Load(data, cfg) },
		fill: func(m learner, in *gamesav1.Insights) {
			f, ok := m.(*thermal.Model).Forecast()
			if !ok {
				return
			}
			for i, h := range thermal.Horizons {
				in.ThermalForecast = append(in.ThermalForecast, &gamesav1.ThermalForecast{HorizonSeconds: uint32(h), Celsius: float64(f[i])})
			}
		},
	}
}

func workloadKind() modelKind {
	cfg := workload.DefaultConfig()
	return modelKind{
		name: workload.Kind,
		// A host has no labels for its workloads, so a fresh classifier
		// starts from the simulated machine's labelled scenarios; it is
		// saved and later runs load it. It does not train online: more
		// steps on the same bootstrap windows would only overfit them.
		fresh: func(seed uint64) (learner, error) { return BootstrapWorkload(context.Background(), seed) },
		load:  func(data []byte) (learner, error) { return workload.Load(data, cfg) },
		fill: func(m learner, in *gamesav1.Insights) {
			if class, conf, ok := m.(*workload.Model).Classify(); ok {
				in.WorkloadClass, in.WorkloadConfidence = class, float64(conf)
			}
		},
	}
}

// BootstrapWorkload trains a fresh classifier on the training machines'
// windows: about a second of CPU, once per data directory.
func BootstrapWorkload(ctx context.Context, seed uint64) (*workload.Model, error) {
	m, err := workload.New(workload.DefaultConfig(), seed)
	if err != nil {
		return nil, err
	}
	ws, err := WorkloadWindows(ctx, WorkloadTrainMachines, 330)
	if err != nil {
		return nil, err
	}
	for _, w := range ws {
		if err := m.AddExample(w); err != nil {
			return nil, err
		}
	}
	if _, err := m.Train(300); err != nil {
		return nil, err
	}
	return m, nil
}
