package history

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestQuery(t *testing.T) {
	// The ring holds the last 30 s at 10 Hz; the recorder holds 1 Hz from
	// 0 s. Seq tells where an answer came from: the ring's samples are
	// numbered from 1000, the recorder's from 0.
	ring := newRing(t, 300, 0)
	o := testOptions()
	rec := openRecorder(t, filepath.Join(t.TempDir(), "h.db"), o)
	for i := range 100 {
		mustAppend(t, rec, tiny(secs(i), uint64(i)))
	}
	for i := range 300 {
		mustAppend(t, ring, tiny(at(70*time.Second+time.Duration(i)*100*time.Millisecond), 1000+uint64(i)))
	}
	tests := []struct {
		name       string
		ring       *Ring
		rec        *Recorder
		start, end time.Time
		limit      int
		want       []uint64
		truncated  bool
	}{
		{"ring covers", ring, rec, secs(80), secs(81), 0, span(1100, 1110), false},
		{"ring covers from its oldest", ring, rec, secs(70), at(70200 * time.Millisecond), 0, span(1000, 1002), false},
		{"ring limit", ring, rec, secs(80), secs(90), 3, span(1100, 1102), true},
		{"starts before the ring", ring, rec, secs(69), secs(72), 0, append(span(69, 69), span(1000, 1020)...), false},
		{"starts before the ring, limit at the ring's edge", ring, rec, secs(68), secs(72), 2, span(68, 69), true},
		{"starts before the ring, limit in the ring part", ring, rec, secs(69), secs(72), 3, append(span(69, 69), span(1000, 1001)...), true},
		{"recorder limit", ring, rec, secs(10), secs(90), 2, span(10, 11), true},
		{"no recorder", ring, nil, secs(69), at(70100 * time.Millisecond), 0, span(1000, 1001), false},
		{"no ring", nil, rec, secs(80), secs(81), 0, span(80, 81), false},
		{"empty ring", newRing(t, 4, 0), rec, secs(80), secs(81), 0, span(80, 81), false},
		{"neither", nil, nil, secs(0), secs(100), 0, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, truncated, err := Query(tt.ring, tt.rec, tt.start, tt.end, tt.limit)
			if err != nil || !equalSeqs(seqs(got), tt.want) || truncated != tt.truncated {
				t.Errorf("Query(%v, %v, %d) = %v, %v, %v; want %v, %v, nil",
					tt.start, tt.end, tt.limit, seqs(got), truncated, err, tt.want, tt.truncated)
			}
		})
	}
}

func TestQueryRecorderError(t *testing.T) {
	ring := newRing(t, 4, 0)
	mustAppend(t, ring, tiny(secs(10), 1))
	rec, err := Open(filepath.Join(t.TempDir(), "h.db"), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Query(ring, rec, secs(0), secs(20), 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Query over a closed recorder = %v; want ErrClosed", err)
	}
}

// TestQueryYoungNode: a node younger than the range asked for has its
// samples in the ring and, batched, not yet on disk; the answer still
// holds every one (the dashboard's "last 15 minutes" on a fresh node).
func TestQueryYoungNode(t *testing.T) {
	ring := newRing(t, 300, 0)
	o := testOptions()
	o.FlushInterval = time.Hour // nothing reaches the disk during the test
	rec := openRecorder(t, filepath.Join(t.TempDir(), "h.db"), o)
	for i := range 10 {
		s := tiny(secs(100+i), uint64(i))
		mustAppend(t, rec, s)
		mustAppend(t, ring, s)
	}
	got, truncated, err := Query(ring, rec, secs(0), secs(200), 0)
	if err != nil || truncated || !equalSeqs(seqs(got), span(0, 9)) {
		t.Errorf("Query over a young node = %v, %v, %v; want 0..9", seqs(got), truncated, err)
	}
}
