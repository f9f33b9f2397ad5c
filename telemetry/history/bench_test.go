package history

import (
	"path/filepath"
	"testing"
	"time"
)

// Run with: go test -run=^$ -bench=. -benchmem -count=5 ./telemetry/history

func BenchmarkRingAppend(b *testing.B) {
	r, err := NewRing(3600, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	// Equal times are accepted, so one sample keeps the ring in its steady
	// state (full, overwriting the oldest) without building b.N samples.
	s := realistic(base, 1)
	for range 3600 {
		if err := r.Append(s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := r.Append(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRingRange reads 5 minutes out of an hour at 1 Hz.
func BenchmarkRingRange(b *testing.B) {
	r, err := NewRing(3600, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := realistic(base, 0)
	for i := range 3600 {
		if err := r.Append(stamped(tmpl, secs(i), uint64(i))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if got, _ := r.Range(secs(1800), secs(2100), 0); len(got) != 301 {
			b.Fatalf("Range = %d samples; want 301", len(got))
		}
	}
}

// BenchmarkRecorderAppend appends ~3.3 KB samples, 1 s apart, to a file
// already at its bound, so every write also trims. Besides wall time it
// reports the process's CPU time per sample (what the 1% budget is about:
// at 1 Hz, 100 µs is 0.01% of a core) and the bytes written to the file
// per sample.
func BenchmarkRecorderAppend(b *testing.B) {
	for _, bc := range []struct {
		name  string
		flush time.Duration
	}{
		{"flush=30s", 30 * time.Second},
		{"flush=10s", 10 * time.Second},
		{"flush=0", 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			o := DefaultRecorderOptions()
			o.MaxBytes = 8 << 20
			o.FlushInterval = bc.flush
			r, err := Open(filepath.Join(b.TempDir(), "h.db"), o)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			tmpl := realistic(base, 0)
			i := 0
			for ; i < 3000; i++ { // ~10 MB: past the bound
				if err := r.Append(stamped(tmpl, secs(i), uint64(i))); err != nil {
					b.Fatal(err)
				}
			}
			if err := r.Flush(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0, io0 := processCPU(), processWritten()
			for b.Loop() {
				if err := r.Append(stamped(tmpl, secs(i), uint64(i))); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.StopTimer()
			n := float64(b.N)
			if cpu := processCPU(); cpu > 0 {
				b.ReportMetric(float64(cpu-cpu0)/n/1e3, "cpu-µs/op")
			}
			if w := processWritten(); w > 0 {
				b.ReportMetric(float64(w-io0)/n/1024, "KiB-written/op")
			}
		})
	}
}

// BenchmarkRecorderRange reads 5 minutes out of an hour at 1 Hz from disk.
func BenchmarkRecorderRange(b *testing.B) {
	r, err := Open(filepath.Join(b.TempDir(), "h.db"), DefaultRecorderOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	tmpl := realistic(base, 0)
	for i := range 3600 {
		if err := r.Append(stamped(tmpl, secs(i), uint64(i))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		got, _, err := r.Range(secs(1800), secs(2100), 0)
		if err != nil || len(got) != 301 {
			b.Fatalf("Range = %d samples, %v; want 301", len(got), err)
		}
	}
}
