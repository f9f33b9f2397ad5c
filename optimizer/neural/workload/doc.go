// Package workload is GAMESA's WorkloadClassifier: a small 1-D CNN that
// names what a machine is doing — game, render, compile, browser or idle —
// from the last Window seconds of its resource usage.
//
// The network is CNN1D(8,16,32) over a 60 × 8 window (time-major):
//
//	conv 8 filters × 5 steps, ReLU → 56 × 8,  max pool 2 → 28 × 8
//	conv 16 filters × 5 steps, ReLU → 24 × 16, max pool 2 → 12 × 16
//	conv 32 filters × 3 steps, ReLU → 10 × 32, global average → 32
//	dense 32 → 5 logits, softmax
//
// Widths of 5 let the first two layers see 5 and then 14 seconds, and the
// last about half a minute: long enough for a compile's link phase or a
// game's hitches to show as a pattern rather than as noise.
//
// The eight channels, computed by Features from one Sample, are chosen to be
// scale-free (the same on a 4-core laptop as on a 64-core server) and
// roughly within 0..1, so no fitted input normaliser is needed and online
// training can start from the first window:
//
//	0 cpu      CPU busy share, cpu.utilization_percent / 100
//	1 coremax  the busiest core's share (a single-threaded phase)
//	2 busy     the share of cores at least half busy (how parallel)
//	3 gpu      the busiest GPU's utilisation / 100 (0 with no GPU)
//	4 mem      memory.used_percent / 100
//	5 disk     log10(1 + Σ disk read+write bytes/s) / 9
//	6 net      log10(1 + Σ interface rx+tx bytes/s) / 9
//	7 kernel   system time as a share of busy time (syscall- and
//	           I/O-heavy work such as compiling against compute-bound
//	           work such as rendering)
//
// The kernel share stands in for context switches per second, which grow
// with the core count (not scale-free) and on the simulated machine are a
// function of busy time and so add nothing.
//
// The caller's contract:
//
//  1. New(DefaultConfig(), seed) builds an untrained model; Load restores a
//     saved one (MarshalBinary). A corrupt or mismatched file is an error
//     and the caller keeps the model it had.
//  2. Feed every Sample in time order with Observe (or ObserveLabelled when
//     the workload is known, which also files whole windows of one class in
//     the replay buffer). A Sample whose features are not finite is an
//     error wrapping neural.ErrNonFinite and is not added to the window.
//  3. Classify returns the class of the last Window samples and its
//     softmax probability; ok is false until Window samples were observed.
//     It allocates nothing.
//  4. Train(steps) runs at most steps mini-batch Adam steps from the replay
//     buffer: bounded work per call, so the node calls it once per tick.
//  5. Evaluate scores a model on labelled windows (NewWindow builds them
//     from Samples) and reports accuracy and a confusion matrix.
//
// A Model is not safe for concurrent use. No I/O, no clocks, no goroutines;
// randomness (mini-batch draws) comes from the seed.
package workload
