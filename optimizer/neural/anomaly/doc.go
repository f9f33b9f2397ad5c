// Package anomaly is GAMESA's anomaly detector: a denoising autoencoder
// (neural.MLP 64→16→64, tanh code, linear output) that learns what a
// node's telemetry normally looks like, and flags samples it cannot
// reconstruct.
//
// Features. Each sample gives 8 signals (CPU busy, busiest core, hottest
// CPU temperature and its rate of change, power, fan speed, the two
// busiest processes clipped at one core; features.go says why each); a
// feature vector is the last 8 samples of them, 64 numbers, normalised per
// signal with a mean and spread fitted once on the first MinFitSamples
// vectors (spreads held within per-signal floors, and a ceiling for the
// fan). 8 × 8 rather than 16 × 4: the faults here are slow (heat, a stuck
// value), so time depth helps more than more signals.
//
// Score and threshold. The score is the mean squared reconstruction error
// in normalised units. The threshold is the mean plus ThresholdK standard
// deviations of the scores judged normal, an exponentially weighted
// estimate (weight ThresholdAlpha, evenly weighted until 1/ThresholdAlpha
// scores) that only scores below the threshold update, so a fault does
// not teach the detector that it is normal. A sample is anomalous after
// Persist consecutive scores above the threshold: one odd second (a
// workload switching) is not an alarm, a fault that lasts is.
//
// The caller's contract:
//
//  1. New(cfg, seed) or Load(data, cfg); one goroutine owns the Model.
//  2. Every tick, Observe(sample) in time order, then Score(). Score says
//     ok = false until the window is full and the normaliser fitted, and
//     anomalous = false until the threshold has learned from WarmupScores
//     normal scores. Observe and Score allocate nothing. A sample with a
//     NaN or infinite input is refused with an error wrapping
//     neural.ErrNonFinite and changes nothing.
//  3. Give training a budget each tick: Train(steps). It learns only from
//     feature vectors judged normal (those are all the replay buffer
//     holds); the first call with enough data fits the normaliser.
//  4. Save with MarshalBinary; Load refuses a corrupt or foreign file with
//     an error wrapping neural.ErrCorruptModel or neural.ErrWrongModel, so
//     the caller keeps its previous model.
//  5. To measure: Inject puts a fault into a copy of a sample stream, and
//     Evaluate runs a model over labelled streams into a Report (recall
//     per fault event, precision per sample, the false-positive rate of
//     clean streams) without changing the model.
//
// Accuracy (TestDetectsInjectedFaults, the simulated laptop of
// telemetry/sim, held-out seeds): every injected stuck sensor, fan failure
// and runaway process detected, no clean sample flagged; the test asserts
// recall ≥ 0.8 per fault, precision ≥ 0.8 and a false-positive rate
// ≤ 2 %. These are simulated faults on a simulated machine: real sensors
// are noisier and quantised, so expect the threshold to sit higher there.
//
// Like all of optimizer, the package does no I/O, reads no clock (times
// come from the samples) and starts no goroutines.
package anomaly
