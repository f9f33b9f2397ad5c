// Package ohm reads OpenHardwareMonitor CSV logs (the 1 Hz sensor logs of
// ../shared/data/thermal, a real ASUS GL553VD laptop) into typed series:
// CPU package temperature, CPU total load, CPU package power, the mean
// core clock and, when the log has one, the GPU core temperature.
//
// The caller's contract:
//
//  1. Parse reads one decompressed log; ReadFile opens a .csv or .csv.gz
//     file; ReadDir reads every log in a folder, in name order, and lists
//     the logs it excluded as another machine's (ErrOtherMachine).
//  2. The log format: line 1 holds sensor ids (/intelcpu/0/temperature/4),
//     line 2 their names (CPU Package), then one row a second, column 0
//     the local time as MM/DD/YYYY HH:MM:SS (no zone; it is read as UTC).
//     Text is latin-1 and is converted to UTF-8.
//  3. A step between rows longer than Config.MaxGap, or backwards, means
//     the logger was off: the rows are split into Segments there. Steps of
//     0 and 2 s occur in the real logs (the logger's timer jitters) and are
//     kept as they are: one row is one step.
//  4. Malformed rows (a wrong field count, a bad time, a bad or non-finite
//     number in a column this package uses) are skipped and counted in
//     Log.Skipped, with the first one's line number and reason in
//     Log.FirstSkip: the logger's last row is often cut short when the
//     machine powers off, and one bad line must not lose a day. A bad
//     header, or a log without the columns above, is an error.
//
// The package does no other I/O and keeps no state; it is safe for
// concurrent use.
package ohm
