package measure

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

const period = 16666667 * time.Nanosecond

// vsyncLog is a frame log of five frames at 60 fps: three on time, one
// that missed and was shown a vsync late, and one more on time.
func vsyncLog() *FrameLog {
	ms := time.Millisecond
	return &FrameLog{
		Origin: time.Unix(1_700_000_000, 0),
		Period: period,
		Iters:  1000,
		Frames: []Frame{
			{Start: 0, Work: 8 * ms, Present: period},
			{Start: period + ms, Work: 9 * ms, Present: 2 * period},
			{Start: 2 * period, Work: 8 * ms, Present: 3 * period},
			{Start: 3 * period, Work: 20 * ms, Present: 5 * period, Missed: true},
			{Start: 5 * period, Work: 8 * ms, Present: 6 * period},
		},
	}
}

func TestFrameLogRoundTrip(t *testing.T) {
	want := vsyncLog()
	var buf bytes.Buffer
	n, err := want.WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo = %d, %v; want %d, nil", n, err, buf.Len())
	}
	got, err := ReadFrameLog(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Origin.Equal(want.Origin) || got.Period != want.Period || got.Iters != want.Iters ||
		!reflect.DeepEqual(got.Frames, want.Frames) {
		t.Errorf("read back %+v; want %+v", got, want)
	}
}

func TestSummarize(t *testing.T) {
	l := vsyncLog()
	all := l.Summarize(l.Origin, l.Origin.Add(time.Hour))
	// Five frames over six vsync periods: 50 fps; one missed of five.
	if all.Frames != 5 || math.Abs(all.FPS-50) > 1e-6 || all.Missed != 0.2 {
		t.Errorf("whole log: %+v; want 5 frames, 50 fps, missed 0.2", all)
	}
	if math.Abs(all.P99FrameMS-2*millis(period)) > 1e-9 || math.Abs(all.P50FrameMS-millis(period)) > 1e-9 {
		t.Errorf("whole log: p50 %.3f ms, p99 %.3f ms; want %.3f and %.3f", all.P50FrameMS, all.P99FrameMS,
			millis(period), 2*millis(period))
	}
	if all.P99WorkMS != 20 {
		t.Errorf("whole log: p99 work %.3f ms; want 20", all.P99WorkMS)
	}

	// A window from the second frame's start to the third's present holds
	// those two frames; the second's time runs from the first's present.
	w := l.Summarize(l.Origin.Add(period+time.Millisecond), l.Origin.Add(3*period))
	if w.Frames != 2 || math.Abs(w.FPS-60) > 1e-3 || w.Missed != 0 {
		t.Errorf("window: %+v; want 2 frames at 60 fps, none missed", w)
	}
	if empty := l.Summarize(l.Origin.Add(time.Hour), l.Origin.Add(2*time.Hour)); empty != (FrameStats{}) {
		t.Errorf("empty window: %+v; want zero stats", empty)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i))
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0.001, 1}} {
		if got := Percentile(ds, tc.p); got != tc.want {
			t.Errorf("Percentile(1..100, %v) = %d; want %d", tc.p, got, tc.want)
		}
	}
	if ds[0] != 100 {
		t.Error("Percentile sorted its input")
	}
	if got := Percentile(nil, 0.99); got != 0 {
		t.Errorf("Percentile(nil) = %d; want 0", got)
	}
}

func TestReadFrameLogRejects(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "empty file"},
		{"other magic", "hog 1 4096\n", "header"},
		{"version", "frameloop 2 0 16666667 10\n", "format version"},
		{"zero period", "frameloop 1 0 0 10\n", "must be positive"},
		{"field count", "frameloop 1 0 16666667 10\n0 1 2\n", "3 fields, want 4"},
		{"not a number", "frameloop 1 0 16666667 10\n0 x 20 0\n", `"x" is not an integer`},
		{"missed flag", "frameloop 1 0 16666667 10\n0 1 20 2\n", "missed must be 0 or 1"},
		{"shown before done", "frameloop 1 0 16666667 10\n0 30 20 0\n", "before its work"},
		{"negative present", "frameloop 1 0 16666667 10\n1 0 -9223372036854775808 0\n", "before its work"},
		{"negative work", "frameloop 1 0 16666667 10\n0 -1 20 0\n", "negative work"},
		{"backwards", "frameloop 1 0 16666667 10\n0 1 20 0\n10 1 30 0\n", "line 3: frame starts at 10"},
		{"same vsync", "frameloop 1 0 16666667 10\n0 0 20 0\n20 0 20 0\n", "not after the previous"},
		{"long line", "frameloop 1 0 16666667 10\n" + strings.Repeat("1", 300) + "\n", "token too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadFrameLog(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadFrameLog(%q) = %v; want an error containing %q", tc.in, err, tc.want)
			}
		})
	}
}

func hogLog() *HogLog {
	t0 := time.Unix(1_700_000_000, 0)
	return &HogLog{UnitBytes: 16384, Points: []Checkpoint{
		{t0, 0}, {t0.Add(time.Second), 100}, {t0.Add(2 * time.Second), 300}, {t0.Add(4 * time.Second), 300},
	}}
}

func TestHogLogRoundTrip(t *testing.T) {
	want := hogLog()
	var buf bytes.Buffer
	if _, err := want.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := ReadHogLog(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got.UnitBytes != want.UnitBytes || len(got.Points) != len(want.Points) {
		t.Fatalf("read back %+v; want %+v", got, want)
	}
	for i := range got.Points {
		if !got.Points[i].At.Equal(want.Points[i].At) || got.Points[i].Units != want.Points[i].Units {
			t.Errorf("point %d = %+v; want %+v", i, got.Points[i], want.Points[i])
		}
	}
}

func TestHogRate(t *testing.T) {
	l := hogLog()
	t0 := l.Points[0].At
	for _, tc := range []struct {
		name     string
		from, to time.Duration
		want     float64
	}{
		{"whole log", 0, 4 * time.Second, 75},
		{"one interval", time.Second, 2 * time.Second, 200},
		{"interpolated", 500 * time.Millisecond, 1500 * time.Millisecond, 150},
		{"idle tail", 2 * time.Second, 4 * time.Second, 0},
		{"clipped to the log", -time.Hour, 2 * time.Second, 150},
	} {
		got, err := l.Rate(t0.Add(tc.from), t0.Add(tc.to))
		if err != nil || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: Rate = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if _, err := l.Rate(t0.Add(time.Hour), t0.Add(2*time.Hour)); !errors.Is(err, ErrNoOverlap) {
		t.Errorf("Rate after the log = %v; want ErrNoOverlap", err)
	}
	if _, err := (&HogLog{UnitBytes: 1}).Rate(t0, t0.Add(time.Second)); !errors.Is(err, ErrNoOverlap) {
		t.Errorf("Rate of an empty log = %v; want ErrNoOverlap", err)
	}
}

func TestReadHogLogRejects(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "empty file"},
		{"other magic", "frameloop 1 0 1 1\n", "header"},
		{"zero unit", "hog 1 0\n", "must be positive"},
		{"negative units", "hog 1 64\n5 -1\n", "negative unit count"},
		{"time backwards", "hog 1 64\n5 1\n4 2\n", "goes back"},
		{"units backwards", "hog 1 64\n5 2\n6 1\n", "goes back"},
		{"fields", "hog 1 64\n5\n", "1 fields, want 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadHogLog(strings.NewReader(tc.in))
			if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadHogLog(%q) = %v; want ErrFormat containing %q", tc.in, err, tc.want)
			}
		})
	}
}

// FuzzReadFrameLog checks that any input either fails with ErrFormat (or a
// read error) or gives a log that writes back to a file reading the same,
// and that summarizing it never panics.
func FuzzReadFrameLog(f *testing.F) {
	var buf bytes.Buffer
	if _, err := vsyncLog().WriteTo(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.String())
	f.Add("frameloop 1 0 16666667 10\n")
	f.Add("frameloop 1 -1 1 0\n0 0 1 1\n1 0 2 0\n")
	f.Add("frameloop 1 0 16666667 10\n0 30 20 0\n")
	f.Fuzz(func(t *testing.T, in string) {
		l, err := ReadFrameLog(strings.NewReader(in))
		if err != nil {
			return
		}
		_ = l.Summarize(l.Origin, l.Origin.Add(time.Hour))
		var out bytes.Buffer
		if _, err := l.WriteTo(&out); err != nil {
			t.Fatal(err)
		}
		again, err := ReadFrameLog(&out)
		if err != nil {
			t.Fatalf("a log read from %q does not read back: %v", in, err)
		}
		if !reflect.DeepEqual(again.Frames, l.Frames) || again.Period != l.Period || again.Iters != l.Iters {
			t.Fatalf("round trip of %q changed the log", in)
		}
	})
}

// FuzzReadHogLog checks that any input either fails or gives a log whose
// rate over its own span is finite and not negative.
func FuzzReadHogLog(f *testing.F) {
	var buf bytes.Buffer
	if _, err := hogLog().WriteTo(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.String())
	f.Add("hog 1 64\n5 1\n5 1\n")
	f.Add("hog 1 64\n-9223372036854775808 0\n9223372036854775807 9223372036854775807\n")
	f.Fuzz(func(t *testing.T, in string) {
		l, err := ReadHogLog(strings.NewReader(in))
		if err != nil || len(l.Points) < 2 {
			return
		}
		r, err := l.Rate(l.Points[0].At, l.Points[len(l.Points)-1].At)
		if err == nil && (r < 0 || math.IsNaN(r) || math.IsInf(r, 0)) {
			t.Fatalf("rate of %q = %v", in, r)
		}
	})
}
