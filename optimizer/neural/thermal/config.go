package thermal

import (
	"fmt"
	"time"
)

// Config is the ThermalPredictor's shape and training settings.
type Config struct {
	// Hidden is the LSTM width.
	Hidden int
	// Window is the truncated-BPTT length in steps; Warmup the steps at
	// the start of a window (and after a stream reset) before the model is
	// asked for a forecast, so it learns from a state built over Warmup or
	// more steps, as it runs on the node.
	Window, Warmup int
	// Batch is the number of windows per optimizer step.
	Batch int
	// LR and ClipNorm configure Adam.
	LR, ClipNorm float32
	// MaxGap is the longest step between observations of one stream: a
	// longer one (or time going backwards) resets the stream.
	MaxGap time.Duration
	// ReplayCapacity bounds the online replay buffer, in observations;
	// when full, the oldest half is dropped.
	ReplayCapacity int
	// MinRows is how many observations online training waits for before
	// it fits the normalisers and starts (the model then forecasts).
	MinRows int
	// TrainSteps is the number of optimizer steps of the offline Train.
	TrainSteps int
	// Seed drives initialisation and window sampling of the offline Train.
	Seed uint64

	// InputNoise is the standard deviation of Gaussian noise added to the
	// LSTM's normalised inputs in training (a regulariser: two days of
	// logs are few); 0: none.
	InputNoise float32
	// Huber is the threshold, in units of the normalised target, beyond
	// which the LSTM's loss grows linearly instead of quadratically
	// (0: squared error throughout). The residuals have heavy tails — a
	// load step no input foretells — and a few of them otherwise steer
	// the whole fit.
	Huber float32
	// CrossFit is the number of contiguous chunks the offline Train cuts
	// its data into to give the LSTM the linear part's out-of-sample
	// forecasts: each chunk's forecasts (the LSTM's input, and what its
	// target is the residual over) come from a linear part fitted on the
	// other chunks, so the LSTM learns how the linear part errs on data
	// it was not fitted to, as on every new day. 0 or 1: in-sample
	// forecasts. Online training (Model.Train) is always in-sample: its
	// replay buffer soon holds more rows the linear part never saw than
	// rows it was fitted on.
	CrossFit int
	// TargetSmooth is the half-width of the centred mean of the future
	// temperature that the LSTM learns (0: the raw reading). Its expected
	// value is nearly the raw reading's, and the mean's sensor noise is
	// much smaller, so the gradients are less noisy.
	TargetSmooth int

	// Forget is the forgetting factor λ of the recursive least squares
	// that keeps fitting the linear part to each realised temperature
	// as observations arrive, so forecasts follow drift (room
	// temperature, cooling): it remembers about 1/(1−λ) observations.
	// 0 turns adaptation off; otherwise it is in [0.9, 1).
	Forget float64
}

// DefaultConfig is LSTM(32) trained on 48-step windows, 16 of them warm-up,
// 8 windows a step, Adam 3e-3 clipped at norm 1, input noise 0.1, a Huber
// loss at 1, targets smoothed over 5 s and the linear part's forecasts
// cross-fitted over 4 chunks; 375 offline steps (3,000 windows, a second
// or two on one core). The noise, the loss, the cross-fitting and the
// step count were chosen by blocked 4-fold cross-validation within the
// training days and leave-one-day-out between them, never on the
// held-out days (see validation_test.go). Adaptation of the linear part is
// off: on an earlier validation split no forgetting factor (0.99 to
// 0.9999) beat the static model, and with this LSTM the hybrid adapting
// does worse than the static one on the held-out days.
func DefaultConfig() Config {
	return Config{
		Hidden: 32, Window: 48, Warmup: 16, Batch: 8,
		LR: 3e-3, ClipNorm: 1,
		MaxGap:         5 * time.Second,
		ReplayCapacity: 8192, MinRows: 600,
		TrainSteps: 375, Seed: 1,
		InputNoise: 0.1, Huber: 1, TargetSmooth: 2, CrossFit: 4,
	}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Hidden < 1 || c.Hidden > 1024:
		return fmt.Errorf("thermal: Hidden %d must be in 1..1024", c.Hidden)
	case c.Warmup < 1 || c.Window <= c.Warmup:
		return fmt.Errorf("thermal: need 1 <= Warmup (%d) < Window (%d)", c.Warmup, c.Window)
	case c.Batch < 1:
		return fmt.Errorf("thermal: Batch %d must be positive", c.Batch)
	case !(c.LR > 0) || c.ClipNorm < 0:
		return fmt.Errorf("thermal: LR %v must be positive and ClipNorm %v not negative", c.LR, c.ClipNorm)
	case c.MaxGap < time.Second:
		return fmt.Errorf("thermal: MaxGap %v must be at least 1s", c.MaxGap)
	case !(c.InputNoise >= 0 && c.InputNoise <= 10):
		return fmt.Errorf("thermal: InputNoise %v must be in 0..10", c.InputNoise)
	case !(c.Huber >= 0 && c.Huber <= 100):
		return fmt.Errorf("thermal: Huber %v must be in 0..100", c.Huber)
	case c.CrossFit < 0 || c.CrossFit > 16:
		return fmt.Errorf("thermal: CrossFit %d must be in 0..16", c.CrossFit)
	case c.TargetSmooth < 0 || c.TargetSmooth > 10:
		return fmt.Errorf("thermal: TargetSmooth %d must be in 0..10", c.TargetSmooth)
	case c.MinRows < c.Window+MaxHorizon+c.TargetSmooth+1:
		return fmt.Errorf("thermal: MinRows %d must exceed Window + %d + TargetSmooth", c.MinRows, MaxHorizon)
	case c.ReplayCapacity < 2*c.MinRows:
		return fmt.Errorf("thermal: ReplayCapacity %d must be at least 2 × MinRows (%d)", c.ReplayCapacity, c.MinRows)
	case c.Forget != 0 && !(c.Forget >= 0.9 && c.Forget < 1):
		return fmt.Errorf("thermal: Forget %v must be 0 (off) or in [0.9, 1)", c.Forget)
	case c.TrainSteps < 0:
		return fmt.Errorf("thermal: TrainSteps %d must not be negative", c.TrainSteps)
	}
	return nil
}
