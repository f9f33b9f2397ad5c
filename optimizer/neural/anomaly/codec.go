package anomaly

import (
	"fmt"
	"math"
	"slices"

	"github.com/krystalstack/gamesa/optimizer/neural"
)

// Metric keys under which the threshold's state travels in a model file.
const (
	metricThresholdMean = "threshold_mean"
	metricThresholdVar  = "threshold_var"
	metricThresholdN    = "threshold_n"
)

// arch is the architecture a model file must declare.
var arch = []int32{Features, Bottleneck, Features}

// MarshalBinary encodes the weights, the input normaliser (absent before
// the first Train), the threshold's state and the training-sample count as
// a neural model file of Kind. The window and the replay buffer are not
// saved: a loaded model starts a fresh window and refills its buffer.
func (m *Model) MarshalBinary() ([]byte, error) {
	data, err := neural.Encode(neural.Meta{
		Kind:            Kind,
		Arch:            arch,
		Input:           m.norm,
		Version:         m.steps,
		TrainingSamples: m.samples,
		TrainedAt:       m.trainedAtTime(),
		Metrics: map[string]float64{
			metricThresholdMean: m.thMean,
			metricThresholdVar:  m.thVar,
			metricThresholdN:    float64(m.thN),
		},
	}, m.net.Params())
	if err != nil {
		return nil, fmt.Errorf("anomaly: %w", err)
	}
	return data, nil
}

// Load decodes a model file written by MarshalBinary into a new Model with
// cfg. A corrupt, truncated or altered file, one of another kind or
// architecture, or one whose threshold state is not sane returns an error
// wrapping neural.ErrCorruptModel or neural.ErrWrongModel; the caller
// keeps whatever model it had.
func Load(data []byte, cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dm, err := neural.Decode(data, Kind)
	if err != nil {
		return nil, fmt.Errorf("anomaly: load: %w", err)
	}
	if !slices.Equal(dm.Arch, arch) {
		return nil, fmt.Errorf("anomaly: load: %w: architecture %v, want %v", neural.ErrWrongModel, dm.Arch, arch)
	}
	in, out := neural.Normalizers(dm)
	if out != nil {
		return nil, fmt.Errorf("anomaly: load: %w: an output normaliser (an autoencoder has none)", neural.ErrWrongModel)
	}
	if in != nil && len(in.Mean) != Features {
		return nil, fmt.Errorf("anomaly: load: %w: input normaliser of %d features, want %d", neural.ErrWrongModel, len(in.Mean), Features)
	}
	// The content hash does not cover the metrics, so check them as
	// outside input.
	mean, vr, n := dm.Metrics[metricThresholdMean], dm.Metrics[metricThresholdVar], dm.Metrics[metricThresholdN]
	switch {
	case math.IsNaN(mean) || math.IsInf(mean, 0) || mean < 0:
		return nil, fmt.Errorf("anomaly: load: %w: %s = %v", neural.ErrCorruptModel, metricThresholdMean, mean)
	case !(vr >= 0) || math.IsInf(vr, 0):
		return nil, fmt.Errorf("anomaly: load: %w: %s = %v", neural.ErrCorruptModel, metricThresholdVar, vr)
	case !(n >= 0 && n <= 1<<53) || n != math.Trunc(n):
		return nil, fmt.Errorf("anomaly: load: %w: %s = %v", neural.ErrCorruptModel, metricThresholdN, n)
	}
	// The stored version seeds the new model's draws, so two loads of one
	// file train alike.
	m, err := New(cfg, dm.Version)
	if err != nil {
		return nil, err
	}
	if err := neural.Load(dm, m.net.Params()); err != nil {
		return nil, fmt.Errorf("anomaly: load: %w", err)
	}
	m.norm = in
	m.thMean, m.thVar, m.thN = mean, vr, uint64(n)
	m.steps, m.samples = dm.Version, dm.TrainingSamples
	if t := dm.GetTrainedAt(); t != nil {
		m.trainedAt = t.AsTime().UnixNano()
	}
	return m, nil
}
