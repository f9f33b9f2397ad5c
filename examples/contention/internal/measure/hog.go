package measure

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrNoOverlap says a window and a hog's log share no time, so the log
// says nothing of the hog's throughput in it.
var ErrNoOverlap = errors.New("window outside the hog's log")

// HogLog is what a background hog measured: how many units of work it had
// done at each checkpoint.
type HogLog struct {
	// UnitBytes is the size of one unit of work: the bytes hashed.
	UnitBytes int64
	// Points are the checkpoints, oldest first: the first at the hog's
	// start, the last at its exit.
	Points []Checkpoint
}

// Checkpoint is the count of units done by a moment.
type Checkpoint struct {
	At    time.Time
	Units int64
}

// WriteTo writes l in the hog log's text format: a header line, then one
// line per checkpoint with its Unix time in nanoseconds and the units done.
func (l *HogLog) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: bufio.NewWriter(w)}
	fmt.Fprintf(cw, "%s %d %d\n", hogMagic, formatVersion, l.UnitBytes)
	for _, p := range l.Points {
		fmt.Fprintf(cw, "%d %d\n", p.At.UnixNano(), p.Units)
	}
	return cw.flush()
}

// ReadHogLog parses what HogLog.WriteTo wrote. It rejects a file whose
// lines do not parse or whose checkpoints go back in time or in units,
// with an error wrapping ErrFormat.
func ReadHogLog(r io.Reader) (*HogLog, error) {
	lines := newLineReader(r)
	head, err := lines.header(hogMagic, 1)
	if err != nil {
		return nil, err
	}
	l := &HogLog{UnitBytes: head[0]}
	if l.UnitBytes <= 0 {
		return nil, lines.errorf("unit size %d must be positive", head[0])
	}
	for {
		v, err := lines.next(2)
		if err == io.EOF {
			return l, nil
		}
		if err != nil {
			return nil, err
		}
		if len(l.Points) == MaxCheckpoints {
			return nil, lines.errorf("more than %d checkpoints", MaxCheckpoints)
		}
		p := Checkpoint{At: time.Unix(0, v[0]), Units: v[1]}
		if p.Units < 0 {
			return nil, lines.errorf("negative unit count %d", v[1])
		}
		if n := len(l.Points); n > 0 && (p.At.Before(l.Points[n-1].At) || p.Units < l.Points[n-1].Units) {
			return nil, lines.errorf("checkpoint (%d, %d) goes back from the previous one", v[0], v[1])
		}
		l.Points = append(l.Points, p)
	}
}

// Rate is the hog's throughput in units per second over the part of
// [from, to] its log covers, the count between checkpoints interpolated
// linearly. A window the log does not overlap gives ErrNoOverlap.
func (l *HogLog) Rate(from, to time.Time) (float64, error) {
	if len(l.Points) < 2 {
		return 0, fmt.Errorf("%d checkpoints: %w", len(l.Points), ErrNoOverlap)
	}
	first, last := l.Points[0].At, l.Points[len(l.Points)-1].At
	if from.Before(first) {
		from = first
	}
	if to.After(last) {
		to = last
	}
	if !to.After(from) {
		return 0, fmt.Errorf("window [%s, %s] against the log's [%s, %s]: %w",
			from.Format(time.StampMilli), to.Format(time.StampMilli),
			first.Format(time.StampMilli), last.Format(time.StampMilli), ErrNoOverlap)
	}
	return (l.unitsAt(to) - l.unitsAt(from)) / to.Sub(from).Seconds(), nil
}

// unitsAt interpolates the units done by t, which lies within the log.
func (l *HogLog) unitsAt(t time.Time) float64 {
	for i := 1; i < len(l.Points); i++ {
		a, b := l.Points[i-1], l.Points[i]
		if t.After(b.At) {
			continue
		}
		span := b.At.Sub(a.At)
		if span <= 0 {
			return float64(b.Units)
		}
		frac := float64(t.Sub(a.At)) / float64(span)
		return float64(a.Units) + frac*float64(b.Units-a.Units)
	}
	return float64(l.Points[len(l.Points)-1].Units)
}
