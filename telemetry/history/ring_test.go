package history

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// seqs lists the Seq of each sample, which tests use as its identity.
func seqs(samples []*gamesav1.Sample) []uint64 {
	out := make([]uint64, len(samples))
	for i, s := range samples {
		out[i] = s.GetSeq()
	}
	return out
}

func equalSeqs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// span returns want[lo..hi] inclusive as Seq values lo..hi.
func span(lo, hi uint64) []uint64 {
	var out []uint64
	for s := lo; s <= hi; s++ {
		out = append(out, s)
	}
	return out
}

func newRing(t *testing.T, capacity int, retention time.Duration) *Ring {
	t.Helper()
	r, err := NewRing(capacity, retention)
	if err != nil {
		t.Fatalf("NewRing(%d, %v) = %v", capacity, retention, err)
	}
	return r
}

func mustAppend(t *testing.T, r interface {
	Append(*gamesav1.Sample) error
}, s *gamesav1.Sample) {
	t.Helper()
	if err := r.Append(s); err != nil {
		t.Fatalf("Append(seq %d at %v) = %v", s.GetSeq(), s.GetTime().AsTime(), err)
	}
}

func TestNewRing(t *testing.T) {
	tests := []struct {
		capacity  int
		retention time.Duration
		ok        bool
	}{
		{1, 0, true},
		{3600, time.Hour, true},
		{0, 0, false},
		{-1, 0, false},
		{10, -time.Second, false},
	}
	for _, tt := range tests {
		_, err := NewRing(tt.capacity, tt.retention)
		if (err == nil) != tt.ok {
			t.Errorf("NewRing(%d, %v) error = %v; want ok %v", tt.capacity, tt.retention, err, tt.ok)
		}
	}
}

func TestRingEmpty(t *testing.T) {
	r := newRing(t, 4, 0)
	if got := r.Latest(); got != nil {
		t.Errorf("Latest() = %v; want nil", got)
	}
	if got := r.Oldest(); !got.IsZero() {
		t.Errorf("Oldest() = %v; want zero", got)
	}
	if got, tr := r.Range(time.Time{}, maxTime, 0); got != nil || tr {
		t.Errorf("Range(all) = %v, %v; want nil, false", seqs(got), tr)
	}
	if got := r.Len(); got != 0 {
		t.Errorf("Len() = %d; want 0", got)
	}
}

func TestRingWrapAround(t *testing.T) {
	r := newRing(t, 3, 0)
	for i := uint64(1); i <= 7; i++ {
		mustAppend(t, r, tiny(at(time.Duration(i)*time.Second), i))
		wantLen := min(int(i), 3)
		if got := r.Len(); got != wantLen {
			t.Fatalf("after %d appends Len() = %d; want %d", i, got, wantLen)
		}
		if got := r.Latest().GetSeq(); got != i {
			t.Fatalf("after %d appends Latest().Seq = %d; want %d", i, got, i)
		}
		oldest := uint64(max(1, int(i)-2))
		if got, want := r.Oldest(), at(time.Duration(oldest)*time.Second); !got.Equal(want) {
			t.Fatalf("after %d appends Oldest() = %v; want %v", i, got, want)
		}
		got, _ := r.Range(time.Time{}, maxTime, 0)
		if want := span(oldest, i); !equalSeqs(seqs(got), want) {
			t.Fatalf("after %d appends Range(all) = %v; want %v", i, seqs(got), want)
		}
	}
}

func TestRingRetention(t *testing.T) {
	r := newRing(t, 100, 10*time.Second)
	for i := uint64(0); i <= 30; i++ {
		mustAppend(t, r, tiny(at(time.Duration(i)*time.Second), i))
	}
	// Samples older than newest-retention go; the one exactly at it stays.
	got, _ := r.Range(time.Time{}, maxTime, 0)
	if want := span(20, 30); !equalSeqs(seqs(got), want) {
		t.Errorf("Range(all) = %v; want %v", seqs(got), want)
	}
	if got, want := r.Oldest(), at(20*time.Second); !got.Equal(want) {
		t.Errorf("Oldest() = %v; want %v", got, want)
	}
	// A jump forward past the retention empties all but the newest.
	mustAppend(t, r, tiny(at(time.Hour), 99))
	if got := r.Len(); got != 1 {
		t.Errorf("after a jump Len() = %d; want 1", got)
	}
}

func TestRingRange(t *testing.T) {
	r := newRing(t, 32, 0)
	for i := uint64(0); i < 10; i++ { // seq i at base+i s
		mustAppend(t, r, tiny(at(time.Duration(i)*time.Second), i))
	}
	s := func(n float64) time.Time { return at(time.Duration(n * float64(time.Second))) }
	tests := []struct {
		name          string
		start, end    time.Time
		limit         int
		want          []uint64
		wantTruncated bool
	}{
		{"inclusive both ends", s(2), s(5), 0, span(2, 5), false},
		{"one instant", s(3), s(3), 0, span(3, 3), false},
		{"between samples", s(3.2), s(3.8), 0, nil, false},
		{"start after end", s(5), s(2), 0, nil, false},
		{"before all", s(-10), s(-1), 0, nil, false},
		{"after all", s(10), s(20), 0, nil, false},
		{"overlapping the start", s(-5), s(1), 0, span(0, 1), false},
		{"overlapping the end", s(8.5), s(100), 0, span(9, 9), false},
		{"zero and far future", time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), 0, span(0, 9), false},
		{"limit keeps the oldest", s(2), s(8), 3, span(2, 4), true},
		{"limit equal to count", s(2), s(4), 3, span(2, 4), false},
		{"limit above count", s(2), s(4), 10, span(2, 4), false},
		{"negative limit", s(0), s(9), -1, span(0, 9), false},
		{"limit on empty range", s(3.2), s(3.8), 1, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, truncated := r.Range(tt.start, tt.end, tt.limit)
			if !equalSeqs(seqs(got), tt.want) || truncated != tt.wantTruncated {
				t.Errorf("Range(%v, %v, %d) = %v, %v; want %v, %v",
					tt.start, tt.end, tt.limit, seqs(got), truncated, tt.want, tt.wantTruncated)
			}
		})
	}
}

func TestRingRangeAfterWrap(t *testing.T) {
	// The binary search must work across the wrap point of the slices.
	r := newRing(t, 5, 0)
	for i := uint64(0); i < 13; i++ {
		mustAppend(t, r, tiny(at(time.Duration(i)*time.Second), i))
	}
	for lo := uint64(6); lo <= 14; lo++ {
		for hi := lo; hi <= 14; hi++ {
			got, _ := r.Range(at(time.Duration(lo)*time.Second), at(time.Duration(hi)*time.Second), 0)
			var want []uint64
			for s := max(lo, 8); s <= min(hi, 12); s++ {
				want = append(want, s)
			}
			if !equalSeqs(seqs(got), want) {
				t.Errorf("Range(%ds, %ds) = %v; want %v", lo, hi, seqs(got), want)
			}
		}
	}
}

func TestRingEqualTimes(t *testing.T) {
	r := newRing(t, 8, 0)
	for i := uint64(1); i <= 3; i++ {
		mustAppend(t, r, tiny(at(time.Second), i))
	}
	got, _ := r.Range(at(time.Second), at(time.Second), 0)
	if want := span(1, 3); !equalSeqs(seqs(got), want) {
		t.Errorf("Range(equal times) = %v; want %v in append order", seqs(got), want)
	}
}

func TestRingClockStepsBack(t *testing.T) {
	r := newRing(t, 16, time.Hour)
	for i := uint64(1); i <= 10; i++ {
		mustAppend(t, r, tiny(at(time.Duration(i)*time.Second), i))
	}
	// A step back to 7.5 s drops 8..10 s, which the clock now calls future.
	mustAppend(t, r, tiny(at(7500*time.Millisecond), 99))
	mustAppend(t, r, tiny(at(8*time.Second), 100))
	got, _ := r.Range(time.Time{}, maxTime, 0)
	if want := append(span(1, 7), 99, 100); !equalSeqs(seqs(got), want) {
		t.Errorf("after a step back Range(all) = %v; want %v", seqs(got), want)
	}
	if got := r.Latest().GetSeq(); got != 100 {
		t.Errorf("Latest().Seq = %d; want 100", got)
	}

	// A clock set right after running years ahead: the ring takes the
	// corrected samples rather than stalling until the far future.
	mustAppend(t, r, tiny(at(4*365*24*time.Hour), 200))
	for i := uint64(0); i < 3; i++ {
		mustAppend(t, r, tiny(at(time.Minute+time.Duration(i)*time.Second), 300+i))
	}
	got, _ = r.Range(time.Time{}, maxTime, 0)
	if want := span(300, 302); !equalSeqs(seqs(got), want) {
		t.Errorf("after a correction of years Range(all) = %v; want %v", seqs(got), want)
	}
}

// badTimes are samples no history accepts.
func badTimes() map[string]*gamesav1.Sample {
	return map[string]*gamesav1.Sample{
		"nil sample":     nil,
		"no time":        {NodeId: "n"},
		"negative nanos": {Time: &timestamppb.Timestamp{Seconds: 1, Nanos: -1}},
		"year 3000":      {Time: timestamppb.New(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))},
		"year 1000":      {Time: timestamppb.New(time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC))},
		"max seconds":    {Time: &timestamppb.Timestamp{Seconds: math.MaxInt64}},
	}
}

func TestRingBadTime(t *testing.T) {
	r := newRing(t, 8, time.Hour)
	for name, s := range badTimes() {
		if err := r.Append(s); !errors.Is(err, ErrBadTime) {
			t.Errorf("Append(%s) = %v; want ErrBadTime", name, err)
		}
	}
	if got := r.Len(); got != 0 {
		t.Errorf("Len() = %d after bad appends; want 0", got)
	}
}

func TestRingExtremeTimes(t *testing.T) {
	// Retention arithmetic must not overflow at the ends of the range.
	r := newRing(t, 8, 24*time.Hour)
	mustAppend(t, r, tiny(time.Unix(0, math.MinInt64), 1))
	mustAppend(t, r, tiny(time.Unix(0, math.MinInt64+1), 2))
	if got := r.Len(); got != 2 {
		t.Errorf("Len() = %d; want 2", got)
	}
	mustAppend(t, r, tiny(time.Unix(0, math.MaxInt64), 3))
	if got := r.Len(); got != 1 {
		t.Errorf("Len() = %d; want 1", got)
	}
}

func TestRingAppendDoesNotAllocate(t *testing.T) {
	r := newRing(t, 64, time.Minute)
	s := tiny(base, 1) // equal times are accepted, so one sample serves
	for range 100 {
		mustAppend(t, r, s)
	}
	if n := testing.AllocsPerRun(1000, func() { _ = r.Append(s) }); n != 0 {
		t.Errorf("Append allocates %v times per call; want 0", n)
	}
}

func TestRingConcurrentReaders(t *testing.T) {
	const total = 5000
	r := newRing(t, 256, 200*time.Second)
	samples := make([]*gamesav1.Sample, total)
	for i := range samples {
		samples[i] = tiny(at(time.Duration(i)*time.Second), uint64(i))
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan string, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if msg := checkRingSnapshot(r); msg != "" {
					errs <- msg
					return
				}
			}
		}()
	}
	for _, s := range samples {
		mustAppend(t, r, s)
	}
	close(done)
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
	if got := r.Len(); got != 201 {
		t.Errorf("Len() = %d; want 201 (retention 200 s at 1 Hz)", got)
	}
}

// checkRingSnapshot reads r as a reader would and returns what is wrong.
func checkRingSnapshot(r *Ring) string {
	latest := r.Latest()
	if latest == nil {
		return ""
	}
	end := latest.GetTime().AsTime()
	start := end.Add(-50 * time.Second)
	got, truncated := r.Range(start, end, 20)
	if len(got) > 20 {
		return "Range returned more than limit"
	}
	for i, s := range got {
		ts := s.GetTime().AsTime()
		if ts.Before(start) || ts.After(end) {
			return "Range returned a sample outside the range"
		}
		if i > 0 && s.GetSeq() != got[i-1].GetSeq()+1 {
			return "Range returned a gap or disorder"
		}
	}
	if len(got) == 20 && !truncated && got[19].GetSeq() < latest.GetSeq() {
		return "Range hit the limit without reporting truncated"
	}
	return ""
}
