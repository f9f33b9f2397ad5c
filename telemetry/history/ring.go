package history

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Ring holds the most recent samples in memory, bounded by a count and,
// optionally, by age. It is safe for concurrent use: one writer appends
// while any number of readers query.
//
// Samples are kept encoded, each in a buffer its slot reuses, so a full ring
// costs its samples' wire size (about 2 KB each for a host sample, against
// 7 KB decoded) and Append allocates nothing once the buffers have grown.
// The newest sample is also kept as appended: after Append the caller must
// not modify it, and readers must not modify what Latest returns. Range
// decodes fresh copies.
type Ring struct {
	mu        sync.RWMutex
	retention int64 // nanoseconds; 0: capacity alone bounds the ring
	enc       [][]byte
	// times mirrors the samples' times in Unix nanoseconds, so the binary
	// search in Range touches one flat slice.
	times  []int64
	head   int // slot of the oldest sample
	n      int // samples held
	latest *gamesav1.Sample
}

// NewRing returns a Ring that holds at most capacity samples and drops
// samples older than the newest minus retention. A retention of 0 leaves
// capacity as the only bound.
func NewRing(capacity int, retention time.Duration) (*Ring, error) {
	if capacity <= 0 {
		return nil, fmt.Errorf("history: ring capacity %d must be positive", capacity)
	}
	if retention < 0 {
		return nil, fmt.Errorf("history: ring retention %v must not be negative", retention)
	}
	return &Ring{
		retention: int64(retention),
		enc:       make([][]byte, capacity),
		times:     make([]int64, capacity),
	}, nil
}

// slot maps the i-th oldest sample to its index in the backing slices.
func (r *Ring) slot(i int) int {
	j := r.head + i
	if j >= len(r.times) {
		j -= len(r.times)
	}
	return j
}

// Append adds s as the newest sample, overwriting the oldest when the ring
// is full, then drops samples older than s's time minus the retention.
//
// Samples normally arrive in time order (equal times are kept, in append
// order). A sample older than the newest held means the wall clock stepped
// back; the ring then drops the samples newer than s first, so it stays
// sorted and keeps taking samples. A step of a few seconds costs those few
// samples; a step back of years does not stall the ring, as rejecting s
// would, nor make the retention drop every new sample, as inserting s in
// order would.
func (r *Ring) Append(s *gamesav1.Sample) error {
	t, err := sampleNanos(s)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.n > 0 && r.times[r.slot(r.n-1)] > t {
		r.n--
	}
	i := r.slot(r.n)
	if r.n == len(r.times) {
		i = r.head
	}
	b, err := proto.MarshalOptions{}.MarshalAppend(r.enc[i][:0], s)
	if err != nil {
		return fmt.Errorf("history: encode sample: %w", err)
	}
	r.enc[i], r.times[i] = b, t
	if r.n == len(r.times) {
		r.head = r.slot(1)
	} else {
		r.n++
	}
	r.latest = s
	if r.retention > 0 {
		cutoff := subSat(t, r.retention)
		for r.n > 0 && r.times[r.head] < cutoff {
			r.head = r.slot(1)
			r.n--
		}
	}
	return nil
}

// Len returns the number of samples held.
func (r *Ring) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.n
}

// Latest returns the newest sample, or nil when the ring is empty.
func (r *Ring) Latest() *gamesav1.Sample {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.n == 0 {
		return nil
	}
	return r.latest
}

// Oldest returns the time of the oldest sample held, or the zero Time when
// the ring is empty.
func (r *Ring) Oldest() time.Time {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.n == 0 {
		return time.Time{}
	}
	return time.Unix(0, r.times[r.head])
}

// Range returns the samples with start <= time <= end, oldest first. When
// limit > 0 it returns at most limit of them, the oldest ones, and reports
// truncated when the range held more; limit <= 0 means no limit. An empty
// range (start after end) returns nothing.
func (r *Ring) Range(start, end time.Time, limit int) (samples []*gamesav1.Sample, truncated bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.rangeLocked(clampNanos(start), clampNanos(end), limit)
}

// rangeIfCovers is Range when the ring holds everything from start on; ok
// is false otherwise. Checking and reading under one lock keeps the answer
// whole while the writer drops old samples.
func (r *Ring) rangeIfCovers(start, end time.Time, limit int) (samples []*gamesav1.Sample, truncated, ok bool) {
	s, e := clampNanos(start), clampNanos(end)
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.n == 0 || s < r.times[r.head] {
		return nil, false, false
	}
	samples, truncated = r.rangeLocked(s, e, limit)
	return samples, truncated, true
}

func (r *Ring) rangeLocked(start, end int64, limit int) ([]*gamesav1.Sample, bool) {
	if start > end || r.n == 0 {
		return nil, false
	}
	lo := sort.Search(r.n, func(i int) bool { return r.times[r.slot(i)] >= start })
	hi := lo + sort.Search(r.n-lo, func(i int) bool { return r.times[r.slot(lo+i)] > end })
	count, truncated := hi-lo, false
	if limit > 0 && count > limit {
		count, truncated = limit, true
	}
	if count == 0 {
		return nil, false
	}
	out := make([]*gamesav1.Sample, 0, count)
	for i := range count {
		s := new(gamesav1.Sample)
		// The ring encoded every record itself: a failure here is a bug,
		// and skipping the sample keeps the query alive.
		if proto.Unmarshal(r.enc[r.slot(lo+i)], s) == nil {
			out = append(out, s)
		}
	}
	return out, truncated
}
