package sysfs

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"unicode/utf8"
)

// attrBufSize bounds one attribute read. The attributes these collectors read
// are short numbers and names; anything longer is garbage, reported as such
// rather than silently truncated.
const attrBufSize = 128

// Parse failures, wrapped with the file and the offending value.
var (
	errEmpty   = errors.New("empty value")
	errSyntax  = errors.New("invalid integer")
	errRange   = errors.New("integer out of range")
	errTooLong = errors.New("value too long")
)

// readFunc fills buf with the content of the file at path and returns the
// number of bytes read. Errors are *fs.PathError so that errors.Is sees the
// errno. Tests substitute it to simulate EACCES, EIO or fuzzed content.
type readFunc func(path string, buf []byte) (int, error)

// attrReader reads sysfs attributes through one reused buffer, so that a
// tick's reads allocate nothing beyond the kernel's path conversion. It is
// owned by one collector and, like the collector, not safe for concurrent
// use.
type attrReader struct {
	buf  [attrBufSize]byte
	read readFunc // nil means readAttr
}

// bytes returns the file's content without surrounding whitespace. The
// slice aliases the reader's buffer and is valid until the next read.
func (r *attrReader) bytes(path string) ([]byte, error) {
	read := r.read
	if read == nil {
		read = readAttr
	}
	n, err := read(path, r.buf[:])
	if err != nil {
		return nil, err
	}
	if n >= len(r.buf) {
		return nil, fmt.Errorf("parse %s: %w", path, errTooLong)
	}
	return trimSpace(r.buf[:n]), nil
}

// string returns the trimmed content as a new string, made valid UTF-8:
// labels come from firmware, and one invalid byte in a proto string field
// would make every sample fail to marshal.
func (r *attrReader) string(path string) (string, error) {
	b, err := r.bytes(path)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return strings.ToValidUTF8(string(b), "\uFFFD"), nil
	}
	return string(b), nil
}

// int reads a signed decimal integer.
func (r *attrReader) int(path string) (int64, error) {
	b, err := r.bytes(path)
	if err != nil {
		return 0, err
	}
	v, err := parseInt(b)
	if err != nil {
		return 0, valueError(path, b, err)
	}
	return v, nil
}

// uint reads an unsigned decimal integer.
func (r *attrReader) uint(path string) (uint64, error) {
	b, err := r.bytes(path)
	if err != nil {
		return 0, err
	}
	v, err := parseUint(b)
	if err != nil {
		return 0, valueError(path, b, err)
	}
	return v, nil
}

// valueError names the file and quotes (a bounded prefix of) what it held.
func valueError(path string, b []byte, err error) error {
	const show = 32
	if len(b) > show {
		return fmt.Errorf("parse %s %q...: %w", path, b[:show], err)
	}
	return fmt.Errorf("parse %s %q: %w", path, b, err)
}

// readAttr reads a file with raw syscalls: os.Open would allocate an
// *os.File and try to register the descriptor with the poller, which buys
// nothing for a sysfs attribute. One read suffices because sysfs renders an
// attribute whole on the first read.
func readAttr(path string, buf []byte) (int, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return 0, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var n int
	for {
		n, err = syscall.Read(fd, buf)
		if err != syscall.EINTR {
			break
		}
	}
	// A close error on a read-only descriptor loses no data.
	_ = syscall.Close(fd)
	if err != nil {
		return 0, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	return n, nil
}

// isSpace reports the ASCII white space a sysfs value may carry (the
// trailing newline, mostly).
func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f'
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// parseUint parses an unsigned decimal integer, accepting what
// strconv.ParseUint(s, 10, 64) accepts, without converting to a string.
func parseUint(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, errEmpty
	}
	const cutoff = (1<<64-1)/10 + 1
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errSyntax
		}
		if v >= cutoff {
			return 0, errRange
		}
		v *= 10
		d := uint64(c - '0')
		if v+d < v {
			return 0, errRange
		}
		v += d
	}
	return v, nil
}

// parseInt parses a signed decimal integer, accepting what
// strconv.ParseInt(s, 10, 64) accepts.
func parseInt(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, errEmpty
	}
	neg := false
	switch b[0] {
	case '-':
		neg = true
		b = b[1:]
	case '+':
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, errSyntax
	}
	u, err := parseUint(b)
	if err != nil {
		return 0, err
	}
	if neg {
		if u > 1<<63 {
			return 0, errRange
		}
		return -int64(u), nil // -(1<<63) wraps to itself, which is right
	}
	if u > 1<<63-1 {
		return 0, errRange
	}
	return int64(u), nil
}
