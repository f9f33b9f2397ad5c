package measure

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The first word of each file, which says what wrote it, and the format
// version that follows it.
const (
	frameMagic    = "frameloop"
	hogMagic      = "hog"
	formatVersion = 1
)

// Bounds a log file is held to, so that a hostile or corrupt file cannot
// make the reader use unbounded memory: a day at 60 fps, and a line far
// longer than any the writers produce.
const (
	MaxFrames      = 24 * 3600 * 60
	MaxCheckpoints = 24 * 3600 * 100
	maxLineBytes   = 256
)

// ErrFormat says a log file is malformed or inconsistent. Messages that
// wrap it name the line.
var ErrFormat = errors.New("malformed measurement log")

// FrameLog is what the frame loop measured: one Frame per presented frame,
// in order.
type FrameLog struct {
	// Origin is when the first frame began; frame times count from it.
	Origin time.Time
	// Period is the time between two vsyncs (1/60 s at 60 fps).
	Period time.Duration
	// Iters is the work done per frame, in iterations of the work loop.
	Iters int64
	// Frames lists the frames presented, oldest first.
	Frames []Frame
}

// Frame is one presented frame. All offsets count from FrameLog.Origin.
type Frame struct {
	// Start is when the frame's work began.
	Start time.Duration
	// Work is how long the work took, in wall-clock time: contention
	// stretches it.
	Work time.Duration
	// Present is the vsync at which the frame was shown: its deadline,
	// or a later vsync when the work finished after the deadline.
	Present time.Duration
	// Missed says the work finished after the frame's deadline.
	Missed bool
}

// WriteTo writes l in the frame log's text format: a header line, then one
// line per frame with its start, work and present offsets in nanoseconds
// and 1 for a missed deadline (0 otherwise).
func (l *FrameLog) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: bufio.NewWriter(w)}
	fmt.Fprintf(cw, "%s %d %d %d %d\n", frameMagic, formatVersion, l.Origin.UnixNano(), int64(l.Period), l.Iters)
	for _, f := range l.Frames {
		missed := 0
		if f.Missed {
			missed = 1
		}
		fmt.Fprintf(cw, "%d %d %d %d\n", int64(f.Start), int64(f.Work), int64(f.Present), missed)
	}
	return cw.flush()
}

// ReadFrameLog parses what FrameLog.WriteTo wrote. It rejects a file whose
// header or lines do not parse, whose frames run backwards in time, or whose
// frame was shown before its work ended, with an error wrapping ErrFormat.
func ReadFrameLog(r io.Reader) (*FrameLog, error) {
	lines := newLineReader(r)
	head, err := lines.header(frameMagic, 3)
	if err != nil {
		return nil, err
	}
	l := &FrameLog{Origin: time.Unix(0, head[0]), Period: time.Duration(head[1]), Iters: head[2]}
	if l.Period <= 0 || l.Iters < 0 {
		return nil, lines.errorf("period %d and iterations %d must be positive", head[1], head[2])
	}
	var prevPresent time.Duration
	for {
		v, err := lines.next(4)
		if err == io.EOF {
			return l, nil
		}
		if err != nil {
			return nil, err
		}
		if len(l.Frames) == MaxFrames {
			return nil, lines.errorf("more than %d frames", MaxFrames)
		}
		f := Frame{Start: time.Duration(v[0]), Work: time.Duration(v[1]), Present: time.Duration(v[2])}
		switch {
		case v[3] != 0 && v[3] != 1:
			return nil, lines.errorf("missed must be 0 or 1; got %d", v[3])
		case f.Start < prevPresent:
			return nil, lines.errorf("frame starts at %d, before the previous one was shown at %d", v[0], int64(prevPresent))
		case f.Work < 0:
			return nil, lines.errorf("negative work time %d", v[1])
		case f.Present < f.Start || f.Present-f.Start < f.Work:
			return nil, lines.errorf("frame shown at %d, before its work (%d from %d) ended", v[2], v[1], v[0])
		case f.Present <= prevPresent:
			return nil, lines.errorf("frame shown at %d, not after the previous one at %d", v[2], int64(prevPresent))
		}
		f.Missed = v[3] == 1
		l.Frames = append(l.Frames, f)
		prevPresent = f.Present
	}
}

// FrameStats sums up the frames of one window.
type FrameStats struct {
	// Frames is how many frames were shown in the window.
	Frames int `json:"frames"`
	// FPS is the average frame rate: Frames over the time they took.
	FPS float64 `json:"fps"`
	// P50FrameMS and P99FrameMS are the median and 99th percentile frame
	// times (from one present to the next), in milliseconds.
	P50FrameMS float64 `json:"p50_frame_ms"`
	P99FrameMS float64 `json:"p99_frame_ms"`
	// P99WorkMS is the 99th percentile of the frames' work times.
	P99WorkMS float64 `json:"p99_work_ms"`
	// Missed is the share of frames that missed their deadline, 0..1.
	Missed float64 `json:"missed_share"`
}

// Summarize sums up the frames that started at or after from and were
// shown at or before to. A frame's time runs from the previous frame's
// present (or Origin) to its own, so the first frame of the window counts
// whole. A window with no frame gives zero stats.
func (l *FrameLog) Summarize(from, to time.Time) FrameStats {
	var frameTimes, workTimes []time.Duration
	var total time.Duration
	missed := 0
	var prevPresent time.Duration
	for _, f := range l.Frames {
		start, shown := l.Origin.Add(f.Start), l.Origin.Add(f.Present)
		if !start.Before(from) && !shown.After(to) {
			d := f.Present - prevPresent
			frameTimes = append(frameTimes, d)
			workTimes = append(workTimes, f.Work)
			total += d
			if f.Missed {
				missed++
			}
		}
		prevPresent = f.Present
	}
	n := len(frameTimes)
	if n == 0 || total <= 0 {
		return FrameStats{}
	}
	return FrameStats{
		Frames:     n,
		FPS:        float64(n) / total.Seconds(),
		P50FrameMS: millis(Percentile(frameTimes, 0.50)),
		P99FrameMS: millis(Percentile(frameTimes, 0.99)),
		P99WorkMS:  millis(Percentile(workTimes, 0.99)),
		Missed:     float64(missed) / float64(n),
	}
}

// Percentile returns the nearest-rank p-quantile (0 < p ≤ 1) of ds: the
// smallest value that at least p of them do not exceed. ds is not
// modified; an empty ds gives 0.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	rank := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// lineReader reads a log's lines of space-separated integers, counting
// lines for error messages.
type lineReader struct {
	sc   *bufio.Scanner
	line int
}

func newLineReader(r io.Reader) *lineReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, maxLineBytes), maxLineBytes)
	return &lineReader{sc: sc}
}

func (lr *lineReader) errorf(format string, args ...any) error {
	return fmt.Errorf("line %d: %s: %w", lr.line, fmt.Sprintf(format, args...), ErrFormat)
}

// header reads the first line, "<magic> <version> <n integers>", and
// returns the integers.
func (lr *lineReader) header(magic string, n int) ([]int64, error) {
	if !lr.sc.Scan() {
		if err := lr.sc.Err(); err != nil {
			return nil, fmt.Errorf("reading the header: %w", err)
		}
		return nil, fmt.Errorf("empty file, want a %q header: %w", magic, ErrFormat)
	}
	lr.line++
	words := strings.Fields(lr.sc.Text())
	if len(words) != n+2 || words[0] != magic {
		return nil, lr.errorf("header %q is not \"%s %d\" and %d numbers", lr.sc.Text(), magic, formatVersion, n)
	}
	if words[1] != strconv.Itoa(formatVersion) {
		return nil, lr.errorf("format version %q; this reader knows %d", words[1], formatVersion)
	}
	return lr.ints(words[2:])
}

// next reads the next line of exactly n integers; io.EOF at the end.
func (lr *lineReader) next(n int) ([]int64, error) {
	if !lr.sc.Scan() {
		if err := lr.sc.Err(); err != nil {
			return nil, fmt.Errorf("line %d: %w", lr.line+1, err)
		}
		return nil, io.EOF
	}
	lr.line++
	words := strings.Fields(lr.sc.Text())
	if len(words) != n {
		return nil, lr.errorf("%d fields, want %d", len(words), n)
	}
	return lr.ints(words)
}

func (lr *lineReader) ints(words []string) ([]int64, error) {
	v := make([]int64, len(words))
	for i, w := range words {
		n, err := strconv.ParseInt(w, 10, 64)
		if err != nil {
			return nil, lr.errorf("field %d: %q is not an integer", i+1, w)
		}
		v[i] = n
	}
	return v, nil
}

// countingWriter counts bytes written and keeps the first error, so that
// a log is written with plain Fprintf calls and checked once.
type countingWriter struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

func (c *countingWriter) flush() (int64, error) {
	if c.err == nil {
		c.err = c.w.Flush()
	}
	return c.n, c.err
}
