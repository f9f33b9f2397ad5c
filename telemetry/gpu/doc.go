// Package gpu reads NVIDIA GPUs through NVML (github.com/NVIDIA/go-nvml) into
// Sample.gpus.
//
// The caller's contract:
//
//  1. Build one Collector per agent with New and register it as "gpu". New
//     does not touch the driver, so it is cheap and cannot fail.
//  2. Call Collect once per tick with s.Time set. The first call loads
//     libnvidia-ml.so.1 and initialises NVML; handles, names, UUIDs and power
//     limit constraints are read once and cached.
//  3. A machine without a usable NVIDIA driver, or without GPUs, is a normal
//     answer: Collect returns an error wrapping telemetry.ErrNotAvailable and
//     tries again only after Options.RetryInterval of sample time, so a driver
//     loaded later is found without asking the loader on every tick.
//  4. A field the GPU does not support (fan speed on a datacenter board, say)
//     is left 0 without error. Any other failing field is returned in the
//     joined error, naming the GPU index and the field; the rest of the GPU is
//     still filled. A lost GPU is left out of the sample and the GPUs are
//     enumerated again on the next call.
//  5. A panic inside go-nvml is recovered and reported as an error: the
//     collector never takes the agent down.
//  6. Call Close when done to shut NVML down. Collect and Close may be called
//     from different goroutines; Collect itself is called from one goroutine
//     at a time, as for every telemetry.Collector.
//
// NVML needs cgo. Built without cgo, or on another OS, the package keeps the
// same API and Collect always reports telemetry.ErrNotAvailable.
package gpu
