// Package conv is 1-D convolution for GAMESA's small networks: a layer that
// slides C_out filters of width K over a window of T time steps × C_in
// channels, max and average pooling over time, and Net, a stack of them
// ending in global average pooling and a dense head (the workload
// classifier's shape).
//
// Tensors are plain []float32 in time-major layout: element (t, c) of a
// T × C window is x[t*C+c]. So the K rows a filter sees at step t are one
// contiguous run x[t*C : (t+K)*C], and a filter is one contiguous run of its
// weights: a convolution output is a dot product, as in a dense layer.
//
// The caller's contract:
//
//  1. Build layers with a seeded neural.Init; the same seed gives the same
//     weights. Conv1D uses valid padding and stride 1 (T − K + 1 outputs);
//     Pool uses non-overlapping windows of Size steps and drops a trailing
//     remainder (⌊T / Size⌋ outputs).
//  2. Forward writes into buffers the caller passes (Conv1D, Pool) or that
//     the Net owns (Net.Forward): it allocates nothing, and a Net is not safe
//     for concurrent use.
//  3. Backward takes the upstream gradient (which it may overwrite) and the
//     Forward's input and output, accumulates parameter gradients into each
//     neural.Param's G and writes the input gradient. Then a neural.Optimizer
//     steps, as for the dense layers in package neural.
//  4. Inputs must be finite; callers check with neural.CheckFinite at their
//     boundary (this package does no checking in its inner loops).
//
// No I/O, no clocks, no goroutines: DESIGN.md's optimizer rule.
package conv
