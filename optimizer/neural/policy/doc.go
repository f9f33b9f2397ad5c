// Package policy is GAMESA's PerformancePolicy: an MLP(64,32,16) that
// scores 16 discrete actions — CPU package power caps — from the machine's
// recent state, trained by REINFORCE policy gradient with a learned value
// baseline.
//
// The caller's contract:
//
//  1. Build a Config from DefaultConfig, set the machine's cap range
//     (MinCapWatts..MaxCapWatts, the top normally the TDP), and call New
//     with a seed (or Load a saved model with the same Config).
//  2. Feed every telemetry sample, in time order, to Observe. It refuses a
//     sample with a NaN or infinite field (an error wrapping
//     neural.ErrNonFinite) and keeps the previous window, so a bad sample
//     never reaches a decision.
//  3. Best returns the highest-scoring action and the 16 scores; the
//     scores slice is owned by the Model and overwritten by the next call.
//     Action(i) (or Config.Action) says what action i means: a power cap in
//     watts, for the decision pipeline to apply (the policy applies
//     nothing).
//  4. Training: Reinforce runs whole episodes against an Env (the
//     simulated machine in tests and evaluation); Train runs a bounded
//     number of updates from what Observe recorded, for the node's tick.
//     Reward (work per watt under a thermal limit) is a function of a
//     sample, so both use the same definition.
//  5. MarshalBinary / Load persist the model through neural.Encode and
//     neural.Decode; a corrupt or mismatched file is an error and the
//     caller keeps its previous Model.
//
// A Model is not safe for concurrent use. It reads no clock and does no
// I/O: time comes from the samples, randomness from the seed.
package policy
