// Package sysfs reads the machine's temperatures, fans, RAPL power and
// batteries from sysfs: hwmon chips, thermal zones, powercap zones and power
// supplies. Each is a telemetry.Collector.
//
// The caller's contract:
//
//  1. Build each collector once with the Roots of the machine
//     (telemetry.DefaultRoots, or a fixture tree in tests) and keep it: the
//     collectors cache which files exist and remember the previous RAPL
//     counters, so a fresh collector per tick would re-scan every time and
//     never report watts.
//  2. Set s.Time, then call Collect once per tick, from one goroutine. The
//     collectors append to s.Thermal, s.Fans, s.Power.Rapl and
//     s.Power.Batteries (creating s.Power when nil) and set s.Power.OnAc
//     and s.Power.TotalWatts; they touch nothing else.
//  3. Read the error as telemetry.Collector documents: one wrapping
//     telemetry.ErrNotAvailable means the machine has none of the thing
//     (no /sys/class/hwmon, no RAPL zone); any other error lists the files
//     that could not be read or parsed, while everything else was filled.
//     RAPL's error matches fs.ErrPermission when energy_uj needs root.
//
// Discovery runs on the first call, every 60 calls after it, and on the
// call after a file vanished; the calls between only open and read the value
// files, through one reused buffer per collector. Sensors that fail with the
// errors drivers use for "nothing to report" (EIO, ENODATA, ENXIO, ...) are
// left out quietly unless they produced a value before.
package sysfs
