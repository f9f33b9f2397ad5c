// Package thermal is the ThermalPredictor: it forecasts the CPU package
// temperature 5, 10 and 30 s ahead from recent temperature, load, clocks
// and power, with an LSTM(32) and a dense head on top of a linear
// autoregressive part, all predicting the change from now (a residual
// over persistence). The LSTM reads the linear part's forecasts and the
// recent changes of temperature, load and power, and learns where the
// linear forecast errs; offline, it learns that from the linear part's
// out-of-sample (cross-fitted) forecasts, as it meets them on a new day.
// It is pure: no I/O, no clocks, no goroutines; time comes in with each
// observation and randomness from a seed.
//
// The caller's contract:
//
//  1. New(cfg, seed) gives an untrained model; Load(data, cfg) a trained
//     one from a model file (MarshalBinary writes it). A corrupt or foreign
//     file is an error and the caller keeps the model it had.
//  2. Feed observations in time order, one a second: Observe for a
//     *gamesav1.Sample (host or simulated), ObservePoint for a Point (a
//     recorded log row). Non-finite inputs return an error wrapping
//     neural.ErrNonFinite and change nothing. A gap longer than
//     Config.MaxGap resets the model's stream.
//  3. Forecast returns °C at each of Horizons after the last observation,
//     with ok false until the model has normalisers and Config.Warmup
//     observations since the last reset. Observe plus Forecast allocate
//     nothing.
//  4. Online: Train(steps) runs a bounded number of optimizer steps on the
//     replay buffer of observed rows. Once it holds Config.MinRows rows,
//     the first call fits the normalisers and the linear part; forecasts
//     start with the next observations.
//  5. Offline: the function Train(series, cfg) fits a model on recorded
//     series (days of logs) and Evaluate(m, series) scores it on others
//     against persistence and the linear baseline, on the raw temperature
//     and on its centred 5-observation mean; Report.String prints the table.
//  6. With Config.Forget set (off by default), each observation also
//     updates the linear part by recursive least squares once it realises
//     an earlier forecast's target; the LSTM's weights are unchanged (it
//     reads and corrects the adapted forecast). The adapted weights are
//     not saved: a loaded model starts from the offline fit.
//     Horizons count observations, nominally seconds (real loggers jitter
//     by ±1 s).
//
// A Model is not safe for concurrent use.
package thermal
