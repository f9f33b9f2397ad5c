package history

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// RecorderOptions bound a Recorder's file and say how often it writes.
type RecorderOptions struct {
	// MaxBytes bounds the bytes of the stored records (keys plus values).
	// Once a write takes the total over it, the oldest records go until the
	// total is 1/32 under it. The file itself settles near 1.25 × MaxBytes
	// for ~3 KB samples: see the package documentation.
	MaxBytes int64
	// MaxAge drops records older than the newest record minus MaxAge; they
	// go in steps of MaxAge/32, the youngest of a step being just over
	// MaxAge old. 0 keeps records until MaxBytes pushes them out.
	MaxAge time.Duration
	// MinInterval downsamples: a sample closer than MinInterval to the last
	// one recorded is not written, so a 10 Hz watcher does not multiply the
	// disk use. 5% of slack absorbs tick jitter: with MinInterval equal to a
	// 1 s tick, a sample 999 ms after the last is still recorded. 0 records
	// every sample.
	MinInterval time.Duration
	// FlushInterval batches writes: samples wait in memory until the oldest
	// waiting one is FlushInterval older than the newest (by sample time),
	// then go to disk in one transaction and one fsync. A crash loses the
	// samples waiting, at most FlushInterval of them. 0 writes each sample
	// in its own transaction.
	FlushInterval time.Duration
	// LockTimeout is how long Open waits for another process to release
	// the file before failing with ErrInUse.
	LockTimeout time.Duration
}

// DefaultRecorderOptions returns the agent's defaults: 128 MiB, 7 days, one
// sample per second, written every 30 s, a 1 s lock wait.
//
// The flush interval is measured (BenchmarkRecorderAppend): a transaction
// per sample writes ~38 KiB to the file per 3.3 KB sample, because bbolt
// rewrites the rightmost leaf, its branch pages, the freelist and a meta
// page on every commit, and costs ~250 µs of CPU with its fsync; a 30 s
// batch writes ~5.2 KiB and costs ~35 µs per sample. Both are far under
// 1% of a core at 1 Hz: the batch is chosen to spare the disk 3 GB a day.
func DefaultRecorderOptions() RecorderOptions {
	return RecorderOptions{
		MaxBytes:      128 << 20,
		MaxAge:        7 * 24 * time.Hour,
		MinInterval:   time.Second,
		FlushInterval: 30 * time.Second,
		LockTimeout:   time.Second,
	}
}

const (
	// minMaxBytes keeps the bound above a handful of ~3 KB samples, where
	// trimming would delete the sample just written.
	minMaxBytes = 64 << 10
	// trimSlack sets the step in which old records go; see write.
	trimSlack = 32
	// maxPending flushes a batch by count too, in case sample times stall.
	maxPending = 1024
	// allocSize is how far bbolt grows the file past what it needs, in
	// place of its 16 MiB default, which is large next to MaxBytes.
	allocSize = 1 << 20
)

// Validate reports options a Recorder cannot work with.
func (o RecorderOptions) Validate() error {
	var errs []error
	if o.MaxBytes < minMaxBytes {
		errs = append(errs, fmt.Errorf("MaxBytes %d must be at least %d", o.MaxBytes, minMaxBytes))
	}
	if o.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("MaxAge %v must not be negative", o.MaxAge))
	}
	if o.MinInterval < 0 {
		errs = append(errs, fmt.Errorf("MinInterval %v must not be negative", o.MinInterval))
	}
	if o.FlushInterval < 0 {
		errs = append(errs, fmt.Errorf("FlushInterval %v must not be negative", o.FlushInterval))
	}
	if o.LockTimeout <= 0 {
		errs = append(errs, fmt.Errorf("LockTimeout %v must be positive: bbolt waits forever on 0", o.LockTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("history: recorder options: %w", err)
	}
	return nil
}

// RecorderStats describes a Recorder and its file.
type RecorderStats struct {
	// Samples is the number of records in the file.
	Samples int64
	// PayloadBytes is the bytes of the keys and values in the file, the
	// figure MaxBytes bounds.
	PayloadBytes int64
	// FileBytes is the size of the file on disk.
	FileBytes int64
	// Pending is the number of samples waiting for the next write.
	Pending int
	// Corrupt counts records that reads skipped since Open because they did
	// not decode; a record met by two queries counts twice.
	Corrupt int64
	// Downsampled counts samples not recorded since Open because of
	// MinInterval.
	Downsampled int64
	// Lost counts samples whose write failed since Open.
	Lost int64
}

var (
	samplesBucket = []byte("samples")
	metaBucket    = []byte("meta")
	// The running totals live in the meta bucket and change in the same
	// transaction as the records they count, so no crash can put them out
	// of step. Reading them makes Open take ~0.1 ms; counting a full
	// 128 MiB file instead takes ~1.4 s from a cold page cache.
	samplesKey = []byte("samples")
	payloadKey = []byte("payload")
)

// pendingRecord is an encoded sample waiting for the next write.
type pendingRecord struct {
	t   int64
	rec []byte
}

// Recorder is an on-disk, bounded history of samples in a bbolt file. It is
// safe for concurrent use: writes are serialised, reads run beside them.
type Recorder struct {
	path string
	opts RecorderOptions
	db   *bolt.DB

	mu      sync.Mutex // serialises writes and Close; guards the fields below
	closed  bool
	hasLast bool
	last    int64 // time of the last sample recorded (written or pending)
	// pending holds the batch; its records' buffers are reused, so the
	// slice is cut to length 0, never set to nil.
	pending     []pendingRecord
	samples     int64
	payload     int64
	downsampled int64
	lost        int64

	corrupt atomic.Int64
}

// Open opens the history file at path, creating it if needed. It fails with
// an error wrapping ErrInUse when another process holds the file for longer
// than opts.LockTimeout, and with one wrapping ErrCorrupt when the file is
// not a readable history file; either way the file is left as it was.
func Open(path string, opts RecorderOptions) (*Recorder, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	r := &Recorder{path: path, opts: opts}
	var file *os.File
	err := r.guard("open", func() error {
		db, err := bolt.Open(path, 0o600, &bolt.Options{
			// Keep the file, so that it can be closed (and its lock
			// released) when bbolt panics inside Open on a damaged file
			// before handing back a DB to close.
			OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
				f, err := os.OpenFile(name, flag, perm)
				file = f
				return f, err
			},
			Timeout: opts.LockTimeout,
			// The freelist is written with each commit (one page, measured
			// at ~0.1 KiB per sample) rather than rebuilt at open: the
			// rebuild walks every page in a goroutine of bbolt's, where a
			// damaged page would crash the process instead of returning
			// ErrCorrupt.
			NoFreelistSync: false,
			FreelistType:   bolt.FreelistMapType,
		})
		if err != nil {
			return err
		}
		db.AllocSize = allocSize
		r.db = db
		return r.load()
	})
	if err != nil {
		// The open error is the one worth reporting; these only release.
		if r.db != nil {
			_ = r.db.Close()
		} else if file != nil {
			_ = file.Close()
		}
		return nil, err
	}
	return r, nil
}

// load reads the totals and the newest time, creating the buckets in a new
// file. An existing file is only read, so Open does not fsync it.
func (r *Recorder) load() error {
	read := func(tx *bolt.Tx) error {
		b, m := tx.Bucket(samplesBucket), tx.Bucket(metaBucket)
		if b == nil || m == nil {
			return berrors.ErrBucketNotFound
		}
		r.samples, r.payload = getInt(m, samplesKey), getInt(m, payloadKey)
		if k, _ := b.Cursor().Last(); k != nil {
			r.last, r.hasLast = keyNanos(k)
		}
		return nil
	}
	err := r.db.View(read)
	if !errors.Is(err, berrors.ErrBucketNotFound) {
		return err
	}
	return r.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{samplesBucket, metaBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return read(tx)
	})
}

func getInt(b *bolt.Bucket, k []byte) int64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func putInt(b *bolt.Bucket, k []byte, n int64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(n))
	return b.Put(k, v[:])
}

// guard runs f, which calls into bbolt, and turns bbolt's ways of failing
// on a damaged or busy file into errors wrapping ErrCorrupt or ErrInUse.
// bbolt reads pages through a memory map with no bounds checks, so a
// damaged page shows up as a panic or a memory fault; SetPanicOnFault turns
// the fault into a panic on this goroutine, where it is recovered.
func (r *Recorder) guard(op string, f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("history: %s %s: %w: %v", op, r.path, ErrCorrupt, p)
		}
	}()
	err = f()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return fmt.Errorf("history: %s %s: %w", op, r.path, ErrClosed)
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("history: %s %s: %w (waited %v for its lock)", op, r.path, ErrInUse, r.opts.LockTimeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrIncompatibleValue):
		return fmt.Errorf("history: %s %s: %w: %w", op, r.path, ErrCorrupt, err)
	}
	return fmt.Errorf("history: %s %s: %w", op, r.path, err)
}

// Append records s unless it is closer than MinInterval to the last sample
// recorded. The sample waits in memory until its batch is written (see
// FlushInterval); an error from that write reports the whole batch lost.
// s may be older than the newest record (a wall clock stepped back):
// records are kept in time order whatever the order of arrival. s is
// encoded at once; the Recorder keeps no reference to it.
func (r *Recorder) Append(s *gamesav1.Sample) error {
	t, err := sampleNanos(s)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("history: append to %s: %w", r.path, ErrClosed)
	}
	if r.hasLast && absDiff(t, r.last) < int64(r.opts.MinInterval-r.opts.MinInterval/20) {
		r.downsampled++
		return nil
	}
	n := len(r.pending)
	if n < cap(r.pending) {
		r.pending = r.pending[:n+1]
	} else {
		r.pending = append(r.pending, pendingRecord{})
	}
	p := &r.pending[n]
	p.t = t
	if p.rec, err = appendRecord(p.rec[:0], s); err != nil {
		r.pending = r.pending[:n]
		return err
	}
	r.last, r.hasLast = t, true
	if len(r.pending) >= maxPending || absDiff(t, r.pending[0].t) >= int64(r.opts.FlushInterval) {
		return r.flushLocked()
	}
	return nil
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}

// Flush writes the samples waiting in memory. Reads and Close flush first,
// so the node needs Flush only to bound what a crash loses more tightly.
func (r *Recorder) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("history: flush %s: %w", r.path, ErrClosed)
	}
	return r.flushLocked()
}

// flushLocked writes the batch in one transaction. On failure the batch is
// dropped and counted in Lost rather than kept: a full or damaged disk
// would otherwise grow it without bound.
func (r *Recorder) flushLocked() error {
	if len(r.pending) == 0 {
		return nil
	}
	samples, payload := r.samples, r.payload
	err := r.guard("write to", func() error {
		return r.db.Update(func(tx *bolt.Tx) error {
			return r.write(tx, r.pending, &samples, &payload)
		})
	})
	n := len(r.pending)
	r.pending = r.pending[:0]
	if err != nil {
		r.lost += int64(n)
		return fmt.Errorf("%w (%d samples lost)", err, n)
	}
	r.samples, r.payload = samples, payload
	return nil
}

// write puts a batch of records and trims the oldest. The totals change
// through pointers so that a failed transaction leaves r's copies as they
// were.
func (r *Recorder) write(tx *bolt.Tx, batch []pendingRecord, samples, payload *int64) error {
	b, m := tx.Bucket(samplesBucket), tx.Bucket(metaBucket)
	if b == nil || m == nil {
		return fmt.Errorf("%w: %w", berrors.ErrBucketNotFound, ErrCorrupt)
	}
	// Records arrive at the right edge of the tree, where bbolt's default
	// half-full split wastes half of each page. Measured: with 41-byte
	// records the pages take 1.5 × the payload, against 3.0 × at the
	// default; ~3.3 KB records take 1.28 × either way (2 to 4 per leaf).
	b.FillPercent = 1
	var newest int64 = math.MinInt64
	for _, p := range batch {
		newest = max(newest, p.t)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		var k [keyLen]byte
		encodeKey(&k, p.t, seq)
		if err := b.Put(k[:], p.rec); err != nil {
			return err
		}
		*samples++
		*payload += int64(keyLen + len(p.rec))
	}
	if err := r.trim(b.Cursor(), newest, samples, payload); err != nil {
		return err
	}
	if err := putInt(m, samplesKey, *samples); err != nil {
		return err
	}
	return putInt(m, payloadKey, *payload)
}

// trim deletes the oldest records while a bound is passed, and then 1/32
// of the bound beyond it: deleting one record per write would rewrite the
// leftmost leaf and its branch pages on every commit.
//
// Age counts back from newest, the newest sample just written, not from the
// newest record: after a wall clock that ran years ahead is set right, the
// records stamped in its future must not make every new sample too old.
func (r *Recorder) trim(c *bolt.Cursor, newest int64, samples, payload *int64) error {
	var cutoff int64 = math.MinInt64
	if r.opts.MaxAge > 0 {
		cutoff = subSat(newest, int64(r.opts.MaxAge))
		if k, _ := c.First(); k != nil {
			if oldest, ok := keyNanos(k); ok && oldest >= cutoff {
				cutoff = math.MinInt64 // nothing is too old yet
			} else {
				cutoff += int64(r.opts.MaxAge) / trimSlack
			}
		}
	}
	maxPayload := r.opts.MaxBytes
	if *payload > maxPayload {
		maxPayload -= r.opts.MaxBytes / trimSlack
	}
	for k, v := c.First(); k != nil; k, v = c.First() {
		// A key that is not a history key (a foreign write) goes too:
		// it is not a sample and only takes space.
		if t, ok := keyNanos(k); *payload <= maxPayload && ok && t >= cutoff {
			return nil
		}
		*samples--
		*payload -= int64(len(k) + len(v))
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// read flushes the batch, so that a read sees every sample appended before
// it, then runs f in a read transaction on the samples bucket.
func (r *Recorder) read(op string, f func(b *bolt.Bucket)) error {
	r.mu.Lock()
	var err error
	if r.closed {
		err = fmt.Errorf("history: %s %s: %w", op, r.path, ErrClosed)
	} else {
		err = r.flushLocked()
	}
	r.mu.Unlock()
	if err != nil {
		return err
	}
	return r.guard(op, func() error {
		return r.db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket(samplesBucket)
			if b == nil {
				return fmt.Errorf("%w: %w", berrors.ErrBucketNotFound, ErrCorrupt)
			}
			f(b)
			return nil
		})
	})
}

// Range returns the records with start <= time <= end, oldest first, at most
// limit of them when limit > 0 (limit <= 0: no limit), and whether the range
// held more. Records that do not decode are skipped and counted in
// Stats.Corrupt; only a damaged file (an error wrapping ErrCorrupt) fails a
// query. The samples are fresh copies the caller owns.
func (r *Recorder) Range(start, end time.Time, limit int) ([]*gamesav1.Sample, bool, error) {
	s, e := clampNanos(start), clampNanos(end)
	var (
		out       []*gamesav1.Sample
		truncated bool
	)
	err := r.read("read", func(b *bolt.Bucket) {
		if s <= e {
			out, truncated = r.scan(b.Cursor(), s, e, limit)
		}
	})
	if err != nil {
		return nil, false, err
	}
	return out, truncated, nil
}

func (r *Recorder) scan(c *bolt.Cursor, start, end int64, limit int) ([]*gamesav1.Sample, bool) {
	var out []*gamesav1.Sample
	var last [keyLen]byte
	encodeKey(&last, end, math.MaxUint64)
	for k, v := c.Seek(seekKey(start)); k != nil && bytes.Compare(k, last[:]) <= 0; k, v = c.Next() {
		if limit > 0 && len(out) == limit {
			// More keys in range; one of them may yet be corrupt, which
			// makes truncated a slight overstatement, never an omission.
			return out, true
		}
		s, err := decodeRecord(k, v)
		if err != nil {
			r.corrupt.Add(1)
			continue
		}
		out = append(out, s)
	}
	return out, false
}

// Oldest returns the time of the oldest record, or the zero Time when there
// is none.
func (r *Recorder) Oldest() (time.Time, error) {
	return r.edge("read oldest of", (*bolt.Cursor).First)
}

// Newest returns the time of the newest record, or the zero Time when there
// is none.
func (r *Recorder) Newest() (time.Time, error) {
	return r.edge("read newest of", (*bolt.Cursor).Last)
}

func (r *Recorder) edge(op string, move func(*bolt.Cursor) ([]byte, []byte)) (time.Time, error) {
	var t time.Time
	err := r.read(op, func(b *bolt.Bucket) {
		if k, _ := move(b.Cursor()); k != nil {
			if n, ok := keyNanos(k); ok {
				t = time.Unix(0, n)
			}
		}
	})
	return t, err
}

// Stats returns the Recorder's counters and the file's size.
func (r *Recorder) Stats() (RecorderStats, error) {
	r.mu.Lock()
	st := RecorderStats{
		Samples:      r.samples,
		PayloadBytes: r.payload,
		Pending:      len(r.pending),
		Downsampled:  r.downsampled,
		Lost:         r.lost,
		Corrupt:      r.corrupt.Load(),
	}
	r.mu.Unlock()
	fi, err := os.Stat(r.path)
	if err != nil {
		return st, fmt.Errorf("history: stats of %s: %w", r.path, err)
	}
	st.FileBytes = fi.Size()
	return st, nil
}

// Close writes the samples waiting and closes the file, after reads in
// flight finish. Later calls fail with ErrClosed; a second Close returns
// nil.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	flushErr := r.flushLocked()
	if err := r.db.Close(); err != nil {
		return errors.Join(flushErr, fmt.Errorf("history: close %s: %w", r.path, err))
	}
	return flushErr
}
