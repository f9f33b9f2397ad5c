package history

import (
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Query answers a range from the ring where the ring reaches, and from the
// recorder before that. Either may be nil: with no recorder the ring
// answers whatever it holds; with neither the answer is empty. The
// arguments and results are those of Ring.Range.
//
// The ring is preferred because it holds every sample at full rate and
// costs no disk read, and because the recorder writes in batches: its
// newest samples (up to a batch interval) are not yet readable. So a range
// that starts before the ring's oldest sample takes the older part from
// the recorder and the rest from the ring.
func Query(r *Ring, rec *Recorder, start, end time.Time, limit int) ([]*gamesav1.Sample, bool, error) {
	if r != nil {
		if rec == nil {
			samples, truncated := r.Range(start, end, limit)
			return samples, truncated, nil
		}
		if samples, truncated, ok := r.rangeIfCovers(start, end, limit); ok {
			return samples, truncated, nil
		}
	}
	if rec == nil {
		return nil, false, nil
	}
	var oldest time.Time
	if r != nil {
		oldest = r.Oldest()
	}
	if oldest.IsZero() || end.Before(oldest) {
		return rec.Range(start, end, limit)
	}
	older, truncated, err := rec.Range(start, oldest.Add(-time.Nanosecond), limit)
	if err != nil || truncated {
		return older, truncated, err
	}
	rest := 0 // no limit
	if limit > 0 {
		if rest = limit - len(older); rest == 0 {
			more, _ := r.Range(oldest, end, 1)
			return older, len(more) > 0, nil
		}
	}
	newer, truncated := r.Range(oldest, end, rest)
	return append(older, newer...), truncated, nil
}
