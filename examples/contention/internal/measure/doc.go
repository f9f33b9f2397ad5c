// Package measure holds what the contention benchmark's programs measure
// and how the harness reads it back: the frame loop's frame log, the
// hog's throughput log, their text formats, and the statistics the
// harness reports over a time window.
//
// The caller's contract:
//
//  1. frameloop fills a FrameLog, one Frame per presented frame, and
//     writes it with FrameLog.WriteTo when it exits; hog fills a HogLog
//     with a Checkpoint every so often and at exit, and writes it with
//     HogLog.WriteTo.
//  2. The harness reads the files back with ReadFrameLog and ReadHogLog.
//     Both reject malformed or inconsistent input with an error that names
//     the line; neither panics.
//  3. The harness summarizes one run over the same wall-clock window for
//     both: FrameLog.Summarize and HogLog.Rate, the window starting after
//     the warm-up.
//
// Times in both files are integers in nanoseconds: absolute ones are Unix
// times, so that logs written by different processes share one clock.
package measure
