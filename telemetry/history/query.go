package history

import (
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Query answers a range from the ring when the ring reaches back to start,
// and from the recorder otherwise. Either may be nil: with no recorder the
// ring answers whatever it holds; with neither the answer is empty. The
// arguments and results are those of Ring.Range.
//
// The ring is preferred because it holds every sample at full rate and
// costs no disk read; the recorder holds samples downsampled to its
// MinInterval. A range that starts before the ring's oldest sample is
// answered by the recorder alone, which sees every sample appended to it.
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
	return rec.Range(start, end, limit)
}
