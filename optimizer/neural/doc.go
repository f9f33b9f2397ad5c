// Package neural is GAMESA's small neural-network library: dense layers,
// activations, an MLP, losses, optimizers, seeded initialisation, input
// normalisation, gradient checking and the model file format. The four
// models a node runs (thermal forecast, action policy, anomaly detector,
// workload classifier) are built from it in sub-packages.
//
// It is plain Go over []float32: the networks here are a few thousand
// weights, where hand-written loops beat any framework and allocate nothing.
//
// The caller's contract:
//
//  1. Build a network with a seeded initialiser (NewInit(seed)): the same
//     seed gives the same weights, so training is reproducible.
//  2. Inference (Forward) writes into buffers owned by the network and
//     allocates nothing; it is not safe for concurrent use — one goroutine
//     owns a network, or each goroutine has its own copy.
//  3. Training is explicit: ZeroGrad, Forward, a loss's gradient, Backward
//     (which accumulates into each Param's G), then an Optimizer's Step.
//  4. Inputs and weights must be finite: CheckFinite guards the boundaries,
//     and Decode refuses a model whose weights are not.
//
// This package does no I/O and reads no clock: DESIGN.md's optimizer rule.
package neural
