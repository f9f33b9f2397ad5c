package node

import (
	"context"
	"fmt"
	"time"

	"github.com/krystalstack/gamesa/optimizer/federated"
	"github.com/krystalstack/gamesa/optimizer/neural/thermal"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Local training for federated rounds. Only the thermal predictor is
// federated: it is the model whose behaviour differs most between
// machines and whose labels (the temperature that followed) every node
// has. Every node uses thermal.DefaultConfig, as its online model does,
// so global weights fit every node's model and the same seed starts
// every node's LSTM alike (MergeThermalFits needs that).

const (
	// trainWindow is how far back a node's training data reaches, and
	// maxTrainPoints how many observations it keeps at most (the newest):
	// two hours at the agent's 1 s tick.
	trainWindow    = 2 * time.Hour
	maxTrainPoints = 8192
	// trainChunk is how many Adam steps run between two looks at the
	// clock (a step takes milliseconds; the clock costs nothing), and
	// maxTrainSteps bounds a round's steps whatever the budget.
	trainChunk    = 1
	maxTrainSteps = 5000
	// heldOutShare is the newest share of a node's data that judges the
	// global model against the personalised copy (which trains on the
	// rest).
	heldOutShare = 4
)

// minThermalRows is the fewest observations a node trains on: one window
// with every horizon's target after it.
func minThermalRows(cfg thermal.Config) int {
	return cfg.Window + thermal.MaxHorizon + cfg.TargetSmooth + 1
}

// localSeries returns the node's recent observations, oldest first, one
// per model period (a second: what the thermal model's horizons count)
// however fast the node ticks: from the on-disk history or the in-memory
// ring, whichever holds more. Samples without the thermal inputs are
// skipped (the model resets its stream over gaps itself).
func (n *Node) localSeries(now time.Time) thermal.Series {
	period := modelPeriod
	if n.cfg.modelPeriod > 0 {
		period = n.cfg.modelPeriod
	}
	var best thermal.Series
	if n.ring != nil {
		samples, _ := n.ring.Range(now.Add(-trainWindow), now, 0)
		best = seriesOf(n.cfg.NodeID, samples, period)
	}
	if n.rec != nil {
		samples, _, err := n.rec.Range(now.Add(-trainWindow), now, 0)
		if err != nil {
			n.log.Debug("federated: reading history", "err", err)
		} else if s := seriesOf(n.cfg.NodeID, samples, period); len(s.Points) > len(best.Points) {
			best = s
		}
	}
	if k := len(best.Points) - maxTrainPoints; k > 0 {
		best.Points = best.Points[k:]
	}
	best.Name = n.cfg.NodeID
	return best
}

// seriesOf turns samples (oldest first) into thermal points at most one
// per period, as the local loop feeds its models.
func seriesOf(name string, samples []*gamesav1.Sample, period time.Duration) thermal.Series {
	out := thermal.Series{Name: name, Points: make([]thermal.Point, 0, len(samples))}
	var last time.Time
	for _, s := range samples {
		t := s.GetTime().AsTime()
		if !last.IsZero() && !t.Before(last) && t.Sub(last) < period-modelJitter {
			continue
		}
		p, err := thermal.PointFromSample(s)
		if err != nil {
			continue
		}
		last = t
		out.Points = append(out.Points, p)
	}
	return out
}

// fitThermal is a node's answer to a round without a base model: the
// predictor's normalisers and linear part fitted to its data
// (federated.ThermalTrainer.Fit), which the leader pools.
func fitThermal(cfg thermal.Config, s thermal.Series) ([]byte, error) {
	return federated.ThermalTrainer{Config: cfg}.Fit([]thermal.Series{s})
}

// trainThermal loads the global model file, replays s through it and
// trains it until budget has passed (at least one chunk of steps; at
// most maxTrainSteps). It is federated.ThermalTrainer.Train with a time
// budget instead of a step count, since machines differ in speed: the
// replay starts at an offset that turns with round, so each round's
// draws pick other windows. It returns the trained file, the last loss
// (normalised units) and the steps run.
func trainThermal(ctx context.Context, cfg thermal.Config, global []byte, s thermal.Series, round uint64, budget time.Duration) ([]byte, float32, int, error) {
	rows := len(s.Points)
	if rows < minThermalRows(cfg) {
		return nil, 0, 0, fmt.Errorf("%d observations, fewer than the %d one training window needs", rows, minThermalRows(cfg))
	}
	// Keep every row and let a node with little data train at all.
	cfg.ReplayCapacity = max(cfg.ReplayCapacity, 2*rows)
	cfg.MinRows = max(min(cfg.MinRows, rows), minThermalRows(cfg))
	m, err := thermal.Load(global, cfg)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("loading the global model: %w", err)
	}
	off := int((round * 7919) % uint64(rows))
	for k := range rows {
		if err := m.ObservePoint(s.Points[(off+k)%rows]); err != nil {
			return nil, 0, 0, fmt.Errorf("replaying observation %d: %w", (off+k)%rows, err)
		}
	}
	deadline := time.Now().Add(budget)
	var loss float32
	steps := 0
	for steps < maxTrainSteps && ctx.Err() == nil && (steps == 0 || time.Now().Before(deadline)) {
		if loss, err = m.Train(trainChunk); err != nil {
			return nil, 0, steps, fmt.Errorf("training: %w", err)
		}
		steps += trainChunk
	}
	data, err := m.MarshalBinary()
	if err != nil {
		return nil, 0, steps, err
	}
	return data, loss, steps, nil
}

// thermalError is a model file's RMSE at the longest horizon (30 s) on s;
// ok is false when s scores no point.
func thermalError(cfg thermal.Config, data []byte, s thermal.Series) (rmse float64, ok bool) {
	m, err := thermal.Load(data, cfg)
	if err != nil {
		return 0, false
	}
	r := thermal.Evaluate(m, []thermal.Series{s})
	if r.Points == 0 {
		return 0, false
	}
	return r.Raw.LSTM.RMSE[thermal.NumHorizons-1], true
}

// splitHeldOut splits s into the older part (training) and the newest
// 1/heldOutShare (judging).
func splitHeldOut(s thermal.Series) (train, test thermal.Series) {
	cut := len(s.Points) - len(s.Points)/heldOutShare
	return thermal.Series{Name: s.Name, Points: s.Points[:cut]}, thermal.Series{Name: s.Name + "/recent", Points: s.Points[cut:]}
}
