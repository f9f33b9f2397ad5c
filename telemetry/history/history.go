package history

import (
	"errors"
	"fmt"
	"math"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Errors returned by Ring and Recorder. Each is wrapped with context; test
// with errors.Is.
var (
	// ErrBadTime reports a sample that is nil, has no time, or has a time
	// that int64 Unix nanoseconds cannot hold (before 1678 or after 2262).
	ErrBadTime = errors.New("sample time missing or out of range")

	// ErrCorrupt reports a history file that bbolt cannot open or read: bad
	// meta pages, a torn page, a wrong format. The file is left untouched;
	// the caller moves it aside and starts a fresh one.
	ErrCorrupt = errors.New("history file is corrupt")

	// ErrInUse reports a history file locked by another process (or another
	// Recorder in this one).
	ErrInUse = errors.New("history file is in use by another process")

	// ErrClosed reports a call on a closed Recorder.
	ErrClosed = errors.New("recorder is closed")
)

// minTime and maxTime are the instants int64 Unix nanoseconds can hold.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// sampleNanos returns s's time in Unix nanoseconds, or an error wrapping
// ErrBadTime.
func sampleNanos(s *gamesav1.Sample) (int64, error) {
	ts := s.GetTime()
	if ts == nil {
		return 0, fmt.Errorf("history: %w: no time", ErrBadTime)
	}
	if err := ts.CheckValid(); err != nil {
		return 0, fmt.Errorf("history: %w: %w", ErrBadTime, err)
	}
	t := ts.AsTime()
	if t.Before(minTime) || t.After(maxTime) {
		return 0, fmt.Errorf("history: %w: %s", ErrBadTime, t.Format(time.RFC3339Nano))
	}
	return t.UnixNano(), nil
}

// clampNanos converts a query bound to Unix nanoseconds, saturating instead
// of overflowing, so time.Time{} means "from the beginning" and a far
// future time means "to the end".
func clampNanos(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// subSat returns a-b, saturating at math.MinInt64; b is never negative.
func subSat(a, b int64) int64 {
	if a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}

func fmtNanos(n int64) string {
	return time.Unix(0, n).UTC().Format(time.RFC3339Nano)
}
