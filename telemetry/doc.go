// Package telemetry reads a machine: the host through procfs, sysfs and NVML,
// or a simulated machine. It owns the Sample pipeline and its history.
//
// The caller's contract:
//
//  1. Build a Source: host.New (package telemetry/host) for the real machine,
//     whose collectors live in procfs, sysfs and gpu and read every path
//     through Roots, so a fixture tree under testdata/ stands in for / in
//     tests; or sim.New (telemetry/sim) for the seeded, deterministic
//     simulated machine.
//  2. Call Source.Sample once per tick with the tick's time. Collectors keep
//     the previous counters, so rates (CPU busy, disk and network throughput,
//     RAPL watts, per-process CPU) cover the time between two calls; the first
//     sample's rates are zero. Sample is not safe for concurrent use: one
//     goroutine (the node's loop) owns a Source.
//  3. One failing collector never fails a sample. Each reports its state
//     (ok, not available, error) and how long it took in Sample.collectors.
//  4. Append each sample to a history.Ring (recent, in memory) and a
//     history.Recorder (on disk, bounded, oldest dropped first); both answer
//     time-range queries (telemetry/history).
package telemetry
