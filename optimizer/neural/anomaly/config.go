package anomaly

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// The network's shape. They are constants rather than Config fields
// because a model file is only meaningful for the features it was trained
// on: changing any of them makes old files unloadable (Load checks Arch).
const (
	// Signals is the number of per-sample signals (see the signal
	// constants in features.go).
	Signals = 8
	// Window is how many consecutive samples one feature vector spans.
	Window = 8
	// Features is the autoencoder's input and output width.
	Features = Signals * Window
	// Bottleneck is the width of the code layer.
	Bottleneck = 16
)

// Kind is the model kind stored in (and required of) model files.
const Kind = "anomaly"

// Config tunes the detector. Start from DefaultConfig.
type Config struct {
	// ReplaySize is how many normal feature vectors the replay buffer
	// keeps for Train (a ring: the newest replace the oldest).
	ReplaySize int
	// MinFitSamples is how many feature vectors the buffer must hold
	// before Train fits the input normaliser and starts training; until
	// then Score reports ok = false.
	MinFitSamples int
	// BatchSize is the number of feature vectors per optimiser step.
	BatchSize int
	// LearningRate is Adam's step size.
	LearningRate float32
	// Noise is the standard deviation (in normalised units) of the
	// Gaussian noise added to training inputs (a denoising autoencoder).
	Noise float32

	// ThresholdK is how many standard deviations above the mean of the
	// normal scores a score must be to exceed the threshold.
	ThresholdK float64
	// ThresholdAlpha is the weight of one normal score in the
	// exponentially weighted mean and variance of the scores (the
	// threshold forgets with a time constant of 1/ThresholdAlpha samples).
	ThresholdAlpha float64
	// WarmupScores is how many scores the threshold must have learned
	// from before any sample is flagged.
	WarmupScores int
	// Persist is how many consecutive samples must exceed the threshold
	// before they are flagged: 1 flags every excess at once, more trades
	// a few seconds of delay for fewer false alarms from single spikes.
	Persist int

	// MaxGap is the longest interval between two samples that still
	// counts as consecutive; after a longer one (or a clock step back)
	// the window starts over.
	MaxGap time.Duration
}

// DefaultConfig returns the settings the node runs with at one sample a
// second.
func DefaultConfig() Config {
	return Config{
		ReplaySize:     8192,
		MinFitSamples:  600,
		BatchSize:      16,
		LearningRate:   2e-3,
		Noise:          0.5,
		ThresholdK:     2.25,
		ThresholdAlpha: 1.0 / 2000,
		WarmupScores:   300,
		Persist:        10,
		MaxGap:         5 * time.Second,
	}
}

// Validate reports every field out of range.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, v any, why string) {
		errs = append(errs, fmt.Errorf("anomaly: %s = %v: %s", field, v, why))
	}
	if c.ReplaySize < 1 || c.ReplaySize > 1<<20 {
		bad("ReplaySize", c.ReplaySize, "must be within 1..1048576")
	}
	if c.MinFitSamples < 2 || c.MinFitSamples > c.ReplaySize {
		bad("MinFitSamples", c.MinFitSamples, fmt.Sprintf("must be within 2..ReplaySize (%d)", c.ReplaySize))
	}
	if c.BatchSize < 1 || c.BatchSize > 4096 {
		bad("BatchSize", c.BatchSize, "must be within 1..4096")
	}
	if lr := float64(c.LearningRate); !(lr > 0 && lr <= 1) {
		bad("LearningRate", c.LearningRate, "must be within (0, 1]")
	}
	if n := float64(c.Noise); !(n >= 0 && n <= 10) {
		bad("Noise", c.Noise, "must be within 0..10")
	}
	if !(c.ThresholdK > 0) || math.IsInf(c.ThresholdK, 0) {
		bad("ThresholdK", c.ThresholdK, "must be a positive number")
	}
	if !(c.ThresholdAlpha > 0 && c.ThresholdAlpha < 1) {
		bad("ThresholdAlpha", c.ThresholdAlpha, "must be within (0, 1)")
	}
	if c.WarmupScores < 1 {
		bad("WarmupScores", c.WarmupScores, "must be at least 1")
	}
	if c.Persist < 1 || c.Persist > 3600 {
		bad("Persist", c.Persist, "must be within 1..3600")
	}
	if c.MaxGap <= 0 {
		bad("MaxGap", c.MaxGap, "must be positive")
	}
	return errors.Join(errs...)
}
