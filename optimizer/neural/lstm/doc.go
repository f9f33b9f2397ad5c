// Package lstm is a single LSTM layer for the on-device models: streaming
// inference one step at a time with no allocations, and training by
// backpropagation through time over a sequence.
//
// The caller's contract:
//
//  1. Build a layer with New(name, in, hidden, init); its Params go to a
//     neural.Optimizer and to neural.Encode / neural.Load like any layer's.
//  2. Inference: call Step(x) once per time step, in order; it returns the
//     new hidden state (a slice the layer owns, overwritten by the next
//     Step). Reset starts a new sequence (for example after a gap in the
//     telemetry). Step allocates nothing.
//  3. Training (truncated BPTT): Forward(xs) runs a sequence from a zero
//     state and keeps what Backward needs; Backward(ghs) takes the loss
//     gradient with respect to each hidden output (nil rows for steps
//     without a loss), accumulates parameter gradients (call
//     neural.ZeroGrad first) and returns the gradient with respect to each
//     input. Forward/Backward do not touch the streaming state of Step.
//  4. A layer is not safe for concurrent use: it owns its buffers.
//
// Gate layout: W is [4·H, I+H] acting on [x; h_prev], rows in the order
// input, forget, cell, output; the forget bias starts at 1 so that a fresh
// layer remembers by default (Jozefowicz et al., 2015).
package lstm
