package history

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// testOptions records every sample at once, so tests see each Append on
// disk; tests of batching and downsampling set their own values.
func testOptions() RecorderOptions {
	o := DefaultRecorderOptions()
	o.MinInterval = 0
	o.FlushInterval = 0
	o.LockTimeout = 50 * time.Millisecond
	return o
}

func openRecorder(t *testing.T, path string, opts RecorderOptions) *Recorder {
	t.Helper()
	r, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close(%s) = %v", path, err)
		}
	})
	return r
}

func rangeAll(t *testing.T, r *Recorder) []*gamesav1.Sample {
	t.Helper()
	got, truncated, err := r.Range(time.Time{}, maxTime, 0)
	if err != nil || truncated {
		t.Fatalf("Range(all) = %d samples, %v, %v; want no error, not truncated", len(got), truncated, err)
	}
	return got
}

func stats(t *testing.T, r *Recorder) RecorderStats {
	t.Helper()
	st, err := r.Stats()
	if err != nil {
		t.Fatalf("Stats() = %v", err)
	}
	return st
}

func secs(i int) time.Time { return at(time.Duration(i) * time.Second) }

func TestRecorderOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*RecorderOptions)
		ok   bool
	}{
		{"default", func(*RecorderOptions) {}, true},
		{"no age bound, no downsampling, no batching", func(o *RecorderOptions) { o.MaxAge, o.MinInterval, o.FlushInterval = 0, 0, 0 }, true},
		{"tiny MaxBytes", func(o *RecorderOptions) { o.MaxBytes = 4096 }, false},
		{"zero MaxBytes", func(o *RecorderOptions) { o.MaxBytes = 0 }, false},
		{"negative MaxAge", func(o *RecorderOptions) { o.MaxAge = -1 }, false},
		{"negative MinInterval", func(o *RecorderOptions) { o.MinInterval = -1 }, false},
		{"negative FlushInterval", func(o *RecorderOptions) { o.FlushInterval = -1 }, false},
		{"zero LockTimeout", func(o *RecorderOptions) { o.LockTimeout = 0 }, false},
	}
	for _, tt := range tests {
		o := DefaultRecorderOptions()
		tt.edit(&o)
		if err := o.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%s) = %v; want ok %v", tt.name, err, tt.ok)
		}
		if !tt.ok {
			if _, err := Open(filepath.Join(t.TempDir(), "h.db"), o); err == nil {
				t.Errorf("Open(%s) succeeded; want the validation error", tt.name)
			}
		}
	}
}

func TestRecorderRoundTripAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	r, err := Open(path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	var want []*gamesav1.Sample
	for i := range 50 {
		s := realistic(secs(i), uint64(i))
		want = append(want, s)
		mustAppend(t, r, s)
	}
	before := stats(t, r)
	if err := r.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}

	r = openRecorder(t, path, testOptions())
	got := rangeAll(t, r)
	if len(got) != len(want) {
		t.Fatalf("after reopen Range(all) = %d samples; want %d", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("after reopen sample %d differs from the one appended", i)
		}
	}
	after := stats(t, r)
	if after.Samples != 50 || after.Samples != before.Samples || after.PayloadBytes != before.PayloadBytes {
		t.Errorf("Stats after reopen = %+v; want Samples 50 and the totals before Close %+v", after, before)
	}
	if want := payloadOf(t, path, r); after.PayloadBytes != want {
		t.Errorf("Stats().PayloadBytes = %d; want %d counted from the file", after.PayloadBytes, want)
	}
	if got, err := r.Oldest(); err != nil || !got.Equal(secs(0)) {
		t.Errorf("Oldest() = %v, %v; want %v", got, err, secs(0))
	}
	if got, err := r.Newest(); err != nil || !got.Equal(secs(49)) {
		t.Errorf("Newest() = %v, %v; want %v", got, err, secs(49))
	}
	// The last time survives too: MinInterval applies across a restart.
	r.opts.MinInterval = time.Minute
	mustAppend(t, r, realistic(secs(50), 50))
	if st := stats(t, r); st.Downsampled != 1 {
		t.Errorf("after reopen an append 1 s after the newest record: Downsampled = %d; want 1", st.Downsampled)
	}
}

// payloadOf counts the bytes of the records in the file, the truth the
// running total must match.
func payloadOf(t *testing.T, path string, r *Recorder) int64 {
	t.Helper()
	var n int64
	err := r.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(samplesBucket).ForEach(func(k, v []byte) error {
			n += int64(len(k) + len(v))
			return nil
		})
	})
	if err != nil {
		t.Fatalf("counting %s: %v", path, err)
	}
	return n
}

func TestRecorderEmpty(t *testing.T) {
	r := openRecorder(t, filepath.Join(t.TempDir(), "h.db"), testOptions())
	if got := rangeAll(t, r); len(got) != 0 {
		t.Errorf("Range(all) on a new file = %d samples; want 0", len(got))
	}
	for name, f := range map[string]func() (time.Time, error){"Oldest": r.Oldest, "Newest": r.Newest} {
		if got, err := f(); err != nil || !got.IsZero() {
			t.Errorf("%s() on a new file = %v, %v; want zero, nil", name, got, err)
		}
	}
}

func TestRecorderRange(t *testing.T) {
	r := openRecorder(t, filepath.Join(t.TempDir(), "h.db"), testOptions())
	for i := range 10 {
		mustAppend(t, r, tiny(secs(i), uint64(i)))
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
		{"zero and far future", time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), 0, span(0, 9), false},
		{"limit keeps the oldest", s(2), s(8), 3, span(2, 4), true},
		{"limit equal to count", s(2), s(4), 3, span(2, 4), false},
		{"negative limit", s(0), s(9), -1, span(0, 9), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, truncated, err := r.Range(tt.start, tt.end, tt.limit)
			if err != nil || !equalSeqs(seqs(got), tt.want) || truncated != tt.wantTruncated {
				t.Errorf("Range(%v, %v, %d) = %v, %v, %v; want %v, %v, nil",
					tt.start, tt.end, tt.limit, seqs(got), truncated, err, tt.want, tt.wantTruncated)
			}
		})
	}
}

func TestRecorderOrder(t *testing.T) {
	r := openRecorder(t, filepath.Join(t.TempDir(), "h.db"), testOptions())
	// Equal times keep both samples, in arrival order; an older sample (a
	// clock stepped back) takes its place in time order.
	for _, in := range []struct {
		sec int
		seq uint64
	}{{10, 1}, {11, 2}, {11, 3}, {12, 4}, {5, 5}} {
		mustAppend(t, r, tiny(secs(in.sec), in.seq))
	}
	if got, want := seqs(rangeAll(t, r)), []uint64{5, 1, 2, 3, 4}; !equalSeqs(got, want) {
		t.Errorf("Range(all) = %v; want %v", got, want)
	}
}

func TestRecorderMinInterval(t *testing.T) {
	o := testOptions()
	o.MinInterval = time.Second
	r := openRecorder(t, filepath.Join(t.TempDir(), "h.db"), o)
	for i := range 50 { // 10 Hz for 5 s
		mustAppend(t, r, tiny(at(time.Duration(i)*100*time.Millisecond), uint64(i)))
	}
	if got, want := seqs(rangeAll(t, r)), []uint64{0, 10, 20, 30, 40}; !equalSeqs(got, want) {
		t.Errorf("Range(all) after 10 Hz with MinInterval 1 s = %v; want %v", got, want)
	}
	if st := stats(t, r); st.Downsampled != 45 || st.Samples != 5 {
		t.Errorf("Stats() = %+v; want Downsampled 45, Samples 5", st)
	}
}

// TestRecorderMinIntervalJitter: a 1 s tick that fires a little early must
// not lose every other sample to a 1 s MinInterval.
func TestRecorderMinIntervalJitter(t *testing.T) {
	o := testOptions()
	o.MinInterval = time.Second
	r := openRecorder(t, filepath.Join(t.TempDir(), "h.db"), o)
	jitter := []time.Duration{0, -3, 2, -1, -4, 0, 3, -2}
	for i, j := range jitter {
		mustAppend(t, r, tiny(at(time.Duration(i)*time.Second+j*time.Millisecond), uint64(i)))
	}
	if got := len(seqs(rangeAll(t, r))); got != len(jitter) {
		t.Errorf("recorded %d of %d jittered 1 Hz samples; want all", got, len(jitter))
	}
}

func TestRecorderMaxBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	o := testOptions()
	o.MaxBytes = minMaxBytes
	r := openRecorder(t, path, o)
	for i := range 300 {
		mustAppend(t, r, realistic(secs(i), uint64(i)))
		st := stats(t, r)
		if st.PayloadBytes > o.MaxBytes {
			t.Fatalf("after %d appends PayloadBytes = %d; want <= %d", i+1, st.PayloadBytes, o.MaxBytes)
		}
	}
	got := rangeAll(t, r)
	st := stats(t, r)
	if int64(len(got)) != st.Samples || st.PayloadBytes != payloadOf(t, path, r) {
		t.Errorf("Stats() = %+v; want Samples %d and PayloadBytes %d as counted", st, len(got), payloadOf(t, path, r))
	}
	// The newest survive, contiguous up to the last one appended.
	if len(got) < 10 || got[len(got)-1].GetSeq() != 299 {
		t.Fatalf("Range(all) = %v; want the newest ones, ending at 299", seqs(got))
	}
	if want := span(300-uint64(len(got)), 299); !equalSeqs(seqs(got), want) {
		t.Errorf("Range(all) = %v; want %v", seqs(got), want)
	}
}

func TestRecorderMaxAge(t *testing.T) {
	o := testOptions()
	o.MaxAge = 100 * time.Second
	r := openRecorder(t, filepath.Join(t.TempDir(), "h.db"), o)
	for i := range 400 {
		mustAppend(t, r, tiny(secs(i), uint64(i)))
		oldest, err := r.Oldest()
		if err != nil {
			t.Fatal(err)
		}
		if limit := secs(i).Add(-o.MaxAge); oldest.Before(limit) {
			t.Fatalf("after appending at %ds Oldest() = %v; want at or after %v", i, oldest, limit)
		}
	}
	// Records go in steps of MaxAge/32, so at least 100 - 100/32 s remain.
	if n := len(rangeAll(t, r)); n < 96 || n > 101 {
		t.Errorf("Range(all) = %d samples; want 96..101 for 100 s at 1 Hz", n)
	}
}

func TestRecorderClockSetRight(t *testing.T) {
	// A clock that ran years ahead, then set right: the records stamped in
	// its future must not make every new sample too old to keep.
	o := testOptions()
	o.MaxAge = 100 * time.Second
	r := openRecorder(t, filepath.Join(t.TempDir(), "h.db"), o)
	future := at(4 * 365 * 24 * time.Hour)
	for i := range 10 {
		mustAppend(t, r, tiny(future.Add(time.Duration(i)*time.Second), 1000+uint64(i)))
	}
	for i := range 200 {
		mustAppend(t, r, tiny(secs(i), uint64(i)))
	}
	got, _, err := r.Range(secs(0), secs(199), 0)
	if err != nil || len(got) < 96 || got[len(got)-1].GetSeq() != 199 {
		t.Errorf("Range(0 s, 199 s) = %v, %v; want the last ~100 s, ending at 199", seqs(got), err)
	}
	if got, _, err := r.Range(future, maxTime, 0); err != nil || len(got) != 10 {
		t.Errorf("Range(future) = %d samples, %v; want the 10 stamped in the future", len(got), err)
	}
}

// TestRecorderFileBound checks the claim in the package documentation: the
// file stays near MaxBytes because bbolt reuses the pages trimming frees.
func TestRecorderFileBound(t *testing.T) {
	const bound = 4 << 20
	tests := []struct {
		name  string
		flush time.Duration
		n     int
	}{
		{"batched", 30 * time.Second, 20000},
		{"transaction per sample", 0, 3000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if testing.Short() && tt.flush == 0 {
				t.Skip("an fsync per sample is slow")
			}
			o := DefaultRecorderOptions()
			o.MaxBytes = 1 << 20
			o.FlushInterval = tt.flush
			r := openRecorder(t, filepath.Join(t.TempDir(), "h.db"), o)
			tmpl := realistic(base, 0)
			var biggest int64
			for i := range tt.n {
				mustAppend(t, r, stamped(tmpl, secs(i), uint64(i)))
				st := stats(t, r)
				biggest = max(biggest, st.FileBytes)
				if st.FileBytes > bound || st.PayloadBytes > o.MaxBytes {
					t.Fatalf("after %d appends Stats() = %+v; want FileBytes <= %d, PayloadBytes <= %d",
						i+1, st, bound, o.MaxBytes)
				}
			}
			t.Logf("%d appends with MaxBytes 1 MiB: file at most %d bytes", tt.n, biggest)
		})
	}
}

func TestRecorderBatching(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "h.db")
	o := testOptions()
	o.FlushInterval = 10 * time.Second
	r := openRecorder(t, path, o)
	wantPending := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0} // the 11th is 10 s after the 1st
	for i, want := range wantPending {
		mustAppend(t, r, tiny(secs(i), uint64(i)))
		if st := stats(t, r); st.Pending != want {
			t.Fatalf("after %d appends Pending = %d; want %d", i+1, st.Pending, want)
		}
	}
	for i := 11; i < 25; i++ { // written at 21 s; 22..24 wait
		mustAppend(t, r, tiny(secs(i), uint64(i)))
	}

	// What is on disk now is what a crash would leave: a copy of the file
	// holds the written batches and nothing of the waiting one.
	crashed := filepath.Join(dir, "crashed.db")
	copyFile(t, path, crashed)
	c := openRecorder(t, crashed, o)
	if got := seqs(rangeAll(t, c)); !equalSeqs(got, span(0, 21)) {
		t.Errorf("after a crash Range(all) = %v; want %v", got, span(0, 21))
	}

	// A read sees the waiting samples: it writes them first.
	if got := seqs(rangeAll(t, r)); !equalSeqs(got, span(0, 24)) {
		t.Errorf("Range(all) = %v; want %v", got, span(0, 24))
	}
	if st := stats(t, r); st.Pending != 0 || st.Samples != 25 {
		t.Errorf("after a read Stats() = %+v; want Pending 0, Samples 25", st)
	}

	// Close writes the waiting samples too.
	mustAppend(t, r, tiny(secs(25), 25))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r2 := openRecorder(t, path, o)
	if got := seqs(rangeAll(t, r2)); !equalSeqs(got, span(0, 25)) {
		t.Errorf("after Close and Open Range(all) = %v; want %v", got, span(0, 25))
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRecorderSecondOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	openRecorder(t, path, testOptions())
	_, err := Open(path, testOptions())
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open(%s) = %v; want ErrInUse", path, err)
	}
	if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "in use by another process") {
		t.Errorf("second Open error %q; want it to name %s and say it is in use by another process", msg, path)
	}
}

func TestRecorderClosed(t *testing.T) {
	r, err := Open(filepath.Join(t.TempDir(), "h.db"), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close() = %v; want nil", err)
	}
	calls := map[string]func() error{
		"Append": func() error { return r.Append(tiny(base, 1)) },
		"Flush":  r.Flush,
		"Range":  func() error { _, _, err := r.Range(time.Time{}, maxTime, 0); return err },
		"Oldest": func() error { _, err := r.Oldest(); return err },
		"Newest": func() error { _, err := r.Newest(); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v; want ErrClosed", name, err)
		}
	}
}

func TestRecorderBadTime(t *testing.T) {
	r := openRecorder(t, filepath.Join(t.TempDir(), "h.db"), testOptions())
	for name, s := range badTimes() {
		if err := r.Append(s); !errors.Is(err, ErrBadTime) {
			t.Errorf("Append(%s) = %v; want ErrBadTime", name, err)
		}
	}
	if st := stats(t, r); st.Samples != 0 || st.Pending != 0 {
		t.Errorf("Stats() after bad appends = %+v; want nothing stored", st)
	}
}

// validFile writes a history file of n realistic samples and returns its
// path.
func validFile(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "h.db")
	r, err := Open(path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	tmpl := realistic(base, 0)
	for i := range n {
		mustAppend(t, r, stamped(tmpl, secs(i), uint64(i)))
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRecorderCorruptFile(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	tests := []struct {
		name  string
		build func(t *testing.T) string
	}{
		{"random bytes", func(t *testing.T) string { return writeFile(t, garbage) }},
		{"zeros", func(t *testing.T) string { return writeFile(t, make([]byte, 32<<10)) }},
		{"a text file", func(t *testing.T) string { return writeFile(t, []byte("not a history file\n")) }},
		{"both meta pages damaged", func(t *testing.T) string {
			path := validFile(t, 20)
			b := readFile(t, path)
			for _, page := range []int{0, 1} {
				for i := 16; i < 64; i++ { // the meta struct, after the page header
					b[page*4096+i] ^= 0x5a
				}
			}
			return writeFile(t, b)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.build(t)
			before := readFile(t, path)
			_, err := Open(path, testOptions())
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open(%s) = %v; want ErrCorrupt", tt.name, err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("Open error %q does not name the file %s", err, path)
			}
			if after := readFile(t, path); !bytes.Equal(before, after) {
				t.Errorf("Open(%s) changed the file; it must be left for the node to move aside", tt.name)
			}
		})
	}
}

// TestRecorderDamagedPages overwrites pages past the meta pages. Whatever
// bbolt meets there, the Recorder must not crash the process: each call
// either works (records that fail their checksum are skipped) or fails
// with ErrCorrupt.
func TestRecorderDamagedPages(t *testing.T) {
	clean := readFile(t, validFile(t, 60))
	pages := len(clean) / 4096
	rng := rand.New(rand.NewPCG(3, 4))
	damages := map[string]func(b []byte){
		"truncated to half": nil,
		"every page header": func(b []byte) {
			for p := 2; p < pages; p++ {
				for i := range 16 {
					b[p*4096+i] = byte(rng.Uint32())
				}
			}
		},
		"random pages": func(b []byte) {
			for range pages / 3 {
				p := 2 + rng.IntN(pages-2)
				for i := range 4096 {
					b[p*4096+i] = byte(rng.Uint32())
				}
			}
		},
		"one byte per page": func(b []byte) {
			for p := 2; p < pages; p++ {
				b[p*4096+rng.IntN(4096)] ^= 0xff
			}
		},
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			b := bytes.Clone(clean)
			if damage == nil {
				b = b[:len(b)/2]
			} else {
				damage(b)
			}
			path := writeFile(t, b)
			r, err := Open(path, testOptions())
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Open(%s) = %v; want success or ErrCorrupt", name, err)
				}
				return
			}
			defer r.Close()
			got, _, err := r.Range(time.Time{}, maxTime, 0)
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Range(all) on %s = %v; want success or ErrCorrupt", name, err)
			}
			for _, s := range got {
				if s.GetNodeId() != "node-7f3a9c" {
					t.Fatalf("Range(all) on %s returned a sample that is not one written: %v", name, s)
				}
			}
			st := stats(t, r)
			t.Logf("%s: %d samples read, %d corrupt skipped, error %v", name, len(got), st.Corrupt, err)
		})
	}
}

func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "h.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRecorderCorruptRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	r, err := Open(path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		mustAppend(t, r, tiny(secs(i), uint64(i)))
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	// Damage records behind the Recorder's back, as a bad disk would.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	good, _ := appendRecord(nil, tiny(secs(3), 3))
	badSum := bytes.Clone(good)
	badSum[len(badSum)-1] ^= 1
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(samplesBucket)
		k5, _ := b.Cursor().Seek(seekKey(secs(5).UnixNano()))
		writes := []struct{ k, v []byte }{
			{bytes.Clone(k5), []byte("garbage over a real record")},
			{keyFor(secs(3).UnixNano(), 1000), badSum},
			{keyFor(secs(7).UnixNano(), 1000), good}, // time 3 s under key 7 s
			{[]byte("junk"), []byte("foreign key")},
		}
		for _, w := range writes {
			if err := b.Put(w.k, w.v); err != nil {
				return err
			}
		}
		_, err := b.CreateBucket(keyFor(secs(8).UnixNano(), 1000)) // a nested bucket has no value
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	r = openRecorder(t, path, testOptions())
	got := rangeAll(t, r)
	if want := []uint64{0, 1, 2, 3, 4, 6, 7, 8, 9}; !equalSeqs(seqs(got), want) {
		t.Errorf("Range(all) = %v; want %v, the damaged records skipped", seqs(got), want)
	}
	if st := stats(t, r); st.Corrupt != 5 {
		t.Errorf("Stats().Corrupt = %d; want 5", st.Corrupt)
	}
	// A limit counts good samples only.
	got, truncated, err := r.Range(secs(4), secs(9), 2)
	if want := []uint64{4, 6}; err != nil || !equalSeqs(seqs(got), want) || !truncated {
		t.Errorf("Range(4 s, 9 s, 2) = %v, %v, %v; want %v, true, nil", seqs(got), truncated, err, want)
	}
}

func TestRecorderConcurrentReaders(t *testing.T) {
	o := testOptions()
	o.FlushInterval = 5 * time.Second
	o.MaxBytes = minMaxBytes // trimming runs while readers read
	r := openRecorder(t, filepath.Join(t.TempDir(), "h.db"), o)
	done := make(chan struct{})
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				got, _, err := r.Range(time.Time{}, maxTime, 50)
				if err == nil {
					for i := 1; i < len(got); i++ {
						if got[i].GetSeq() != got[i-1].GetSeq()+1 {
							err = fmt.Errorf("Range returned %v: a gap or disorder", seqs(got))
							break
						}
					}
				}
				if err == nil {
					_, err = r.Stats()
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	tmpl := realistic(base, 0)
	for i := range 500 {
		mustAppend(t, r, stamped(tmpl, secs(i), uint64(i)))
	}
	close(done)
	for range 3 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
