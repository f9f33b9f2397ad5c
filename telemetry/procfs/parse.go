package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

const (
	// minBuf is the first size of a reader's buffer: most /proc files fit.
	minBuf = 4 << 10
	// maxFileSize stops a reader pointed at an endless file (a fixture root
	// mistaken for /dev) from growing its buffer forever.
	maxFileSize = 16 << 20
	// userHZ is the unit of the tick counters in /proc (USER_HZ).
	userHZ = 100
	// maxFieldErrors bounds how many field errors one Collect reports, so
	// that a broken /proc does not produce a message per process.
	maxFieldErrors = 8
)

// reader reads whole small files into one reused buffer.
type reader struct {
	buf []byte
}

// notAvailable wraps a read error so that a missing file reads as
// telemetry.ErrNotAvailable while keeping the path and the cause.
func notAvailable(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", telemetry.ErrNotAvailable, err)
	}
	return err
}

// fieldErrors collects parse errors up to maxFieldErrors and counts the rest.
type fieldErrors struct {
	errs    []error
	dropped int
}

func (f *fieldErrors) add(err error) {
	if err == nil {
		return
	}
	if len(f.errs) < maxFieldErrors {
		f.errs = append(f.errs, err)
		return
	}
	f.dropped++
}

func (f *fieldErrors) err() error {
	if f.dropped > 0 {
		f.errs = append(f.errs, fmt.Errorf("and %d more field errors", f.dropped))
	}
	return errors.Join(f.errs...)
}

// badField is the error for a field of file src whose text is not what it
// should be.
func badField(src, field string, text []byte) error {
	return fmt.Errorf("%s: %w", src, badValue(field, text))
}

// badValue is badField for a parser that does not know its file's name.
func badValue(field string, text []byte) error {
	const maxText = 32
	if len(text) > maxText {
		text = text[:maxText]
	}
	return fmt.Errorf("field %s: invalid value %q", field, text)
}

// cutLine splits b after its first line; the line excludes the newline.
func cutLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// nextField splits off the first blank-separated field of b.
func nextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	j := i
	for j < len(b) && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' {
		j++
	}
	return b[i:j], b[j:]
}

// parseUint parses a non-empty run of decimal digits without allocating.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseInt parses an optionally signed decimal number that fits in 64 bits.
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	u, ok := parseUint(b)
	if !ok {
		return 0, false
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// parsePid parses a /proc directory name; pids are positive int32s.
func parsePid(b []byte) (int32, bool) {
	if len(b) == 0 || len(b) > 10 || b[0] == '0' {
		return 0, false
	}
	n, ok := parseUint(b)
	if !ok || n > math.MaxInt32 {
		return 0, false
	}
	return int32(n), true
}

// text turns bytes from the kernel or a file into a proto-safe string: proto3
// strings must be valid UTF-8, and process names, command lines and user
// names need not be.
func text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// interval tracks the sample time between calls.
type interval struct {
	prev time.Time
	ok   bool
}

// advance returns the seconds since the previous call's sample time, or 0 on
// the first call, when the time is unset, or when it did not move forward.
func (iv *interval) advance(s *gamesav1.Sample) float64 {
	if s.GetTime() == nil {
		iv.ok = false
		return 0
	}
	now := s.GetTime().AsTime()
	var secs float64
	if iv.ok && now.After(iv.prev) {
		secs = now.Sub(iv.prev).Seconds()
	}
	iv.prev, iv.ok = now, true
	return secs
}

// delta is cur-prev for a monotonic counter; a counter that went backwards
// (reset, wrap, device re-created) contributes nothing.
func delta(cur, prev uint64) uint64 {
	if cur < prev {
		return 0
	}
	return cur - prev
}

// rate is the per-second increase of a counter over secs; 0 when secs is 0
// or the counter went backwards.
func rate(cur, prev uint64, secs float64) float64 {
	if secs <= 0 || cur < prev {
		return 0
	}
	return float64(cur-prev) / secs
}
