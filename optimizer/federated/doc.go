// Package federated is the pure core of GAMESA's federated learning: it
// checks the weights nodes upload for a round, merges them into the next
// global model with FedAvg or a robust rule, gives the node side FedProx's
// proximal term and differential privacy with its budget, and trains the
// thermal predictor federated from optimizer/neural/thermal's exported
// pieces. Like all of optimizer it does no I/O, reads no clock, starts no
// goroutine and draws randomness only from a *rand.Rand passed in.
//
// The caller's contract, leader side:
//
//  1. Open round r from the current global model file: decode it
//     (neural.Decode) and build NewGlobal(r, model). Its content hash is
//     the base every upload must name.
//  2. For each upload, DecodeUpdate(bytes, model, Envelope{node, round,
//     base hash, samples}). A refusal is a *RefusedError wrapping one of
//     the sentinel errors (ErrTooLarge, ErrMalformed, ErrShape, ...):
//     answer the node with it.
//  3. Once enough nodes answered or the deadline passed, Config.Merge(
//     global, updates, rule). It checks each update again (round, base
//     hash, shapes, NaN/Inf, sample count, norm bound; clipping), refuses
//     the bad ones in Result.Refused, and applies the rule to the rest.
//     An error (no update accepted, too few for Krum) leaves the global
//     model as it was: keep it.
//  4. Optionally, a Server (server learning rate, FedAvgM momentum or
//     FedAdam), kept by the leader across rounds, turns the merged
//     aggregate into its step: Server.Apply(global, result).
//  5. Seal(model, result) gives the next model and its file (version + 1,
//     fresh hash); commit its metadata and serve the file.
//
// Rules: FedAvg (weighted by samples), Median, TrimmedMean, Krum and
// multi-Krum; all on deltas from the global model, all deterministic and
// independent of the order of the updates (see Rule).
//
// The caller's contract, node side:
//
//  1. Load the round's global model, train a bounded number of steps
//     (with a Prox's AddGrad between Backward and Step for FedProx), and
//     upload the weights with the round, base hash and sample count.
//  2. For differential privacy, Privacy.Privatize the update before
//     upload with a source the leader cannot predict; Epsilon reports the
//     budget spent after T rounds (Rényi-DP accountant, assumptions there).
//
// Thermal predictor: ThermalTrainer.Fit for round 0, MergeThermalFits to
// pool the fits into the first global model (the one central training
// on all nodes' rows would start from), then ThermalTrainer.Train each
// round and Merge as above; each node keeps the copy that
// ThermalTrainer.Personalise says forecasts its newest data better, and
// may report ThermalTrainer.Score as the round's metric.
package federated
