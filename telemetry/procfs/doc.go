// Package procfs reads the Linux /proc collectors of a GAMESA node: CPU
// (with cpufreq from sysfs), load, memory, disks, network interfaces and
// processes. Each constructor returns a telemetry.Collector; the node
// registers them under the names "cpu", "load", "memory", "disk", "net" and
// "processes".
//
// The caller's contract:
//
//  1. Build each collector once with the machine's telemetry.Roots (a fixture
//     tree in tests) and keep it: a collector remembers the previous counters,
//     so its rates cover the interval between two Collect calls and the first
//     call's rates are zero.
//  2. Set s.Time before each Collect; it is the "now" of every rate. A time
//     that does not move forward yields zero rates, never negative ones.
//  3. Call Collect from one goroutine at a time. Collectors hold reusable
//     buffers and are not safe for concurrent use.
//  4. Treat an error wrapping telemetry.ErrNotAvailable as "this machine has
//     no such thing" (a missing file or directory). Any other error lists the
//     fields that failed to parse, each naming its file and field; everything
//     else in the sample is still filled.
//  5. Close the Processes collector when done with it: on Linux it keeps one
//     /proc/<pid>/stat file open per process between calls, because re-reading
//     an open file costs the kernel a third less than opening it again.
//
// Counters that go backwards (a device re-created, a counter reset, a 32-bit
// wrap) give a rate of zero for that interval.
//
// The collectors parse /proc by hand instead of through gopsutil: the node
// samples every second, and the target is one full sample with 300 processes
// in about 2 ms of CPU, which needs reused buffers and no per-process
// allocations. USER_HZ is taken to be 100, the value every mainstream Linux
// architecture exports to user space.
package procfs
