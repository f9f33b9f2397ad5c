// Package history keeps a node's past samples: a Ring of recent ones in
// memory and a Recorder of older ones in a bounded bbolt file. Query answers
// a time range from whichever holds it.
//
// The caller's contract:
//
//  1. One goroutine (the node's loop) appends each sample, once per tick, to
//     a Ring and a Recorder. Any number of goroutines read (gRPC
//     ListHistory, the CLI, the dashboard, model training) at the same time.
//  2. A Ring keeps each sample encoded (a decoded sample takes about three
//     times the memory) and its newest one as appended. After Append the
//     caller must not modify the sample, and readers must not modify what
//     Latest returns; Range, and a Recorder, decode fresh copies.
//  3. Every sample needs a time (Sample.time) between the years 1678 and
//     2262, the span of int64 Unix nanoseconds; other samples are rejected
//     with ErrBadTime.
//  4. Samples come in time order; equal times are fine. When the wall clock
//     steps back, a Ring drops the samples newer than the one appended (so
//     it stays sorted, with O(1) Append and no allocation), while a
//     Recorder keeps everything, sorted by time.
//  5. Ranges are inclusive at both ends and oldest first. A limit > 0 keeps
//     the oldest limit samples and reports truncated when the range held
//     more; limit <= 0 means no limit, which over a week of history is a
//     lot of memory: callers serving requests should always pass one.
//  6. Open fails with ErrInUse when another agent holds the file (after
//     RecorderOptions.LockTimeout, never hanging), and with ErrCorrupt when
//     the file is not a readable history file. The file is left untouched;
//     the node moves it aside (keeping it for inspection) and opens a fresh
//     one. After any error wrapping ErrCorrupt from a Recorder, Close it and
//     do the same. A single record that does not decode is skipped by reads
//     and counted in RecorderStats.Corrupt, never failing a query.
//
// # Durability
//
// A Recorder writes in batches (RecorderOptions.FlushInterval, 30 s by
// default), each batch one bbolt transaction ending in an fsync, and before
// every read and on Close. The file is consistent after any crash (process,
// kernel or power, on a disk that honours fsync): bbolt switches to a new
// tree only through a synced meta page. What a crash loses is the batch waiting in memory: at most
// FlushInterval of samples, which the loop also held in its Ring.
//
// # Size on disk
//
// MaxBytes bounds the records' bytes (keys plus values); MaxAge bounds
// their age relative to the newest sample written. The oldest go first. bbolt never
// shrinks its file, but it reuses freed pages, so the file grows to the
// pages MaxBytes of records need and then stays there. Measured with ~3.3
// KB samples: pages hold ~1.28 × the records' bytes, and bbolt allocates
// up to 1 MiB ahead, so the default 128 MiB settles at a 160 MiB file
// (100,000 appends), and a 1 MiB bound at 2.1 MiB (20,000 appends;
// TestRecorderFileBound holds it under 4 MiB). The file is never compacted
// in place; to reclaim space, delete it while the agent is stopped.
package history
