package actuators

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// readAttr returns a sysfs or procfs attribute with surrounding space
// trimmed. A missing file is reported as ErrUnavailable (wrapping the
// fs.ErrNotExist as well), since for sysfs that means the host lacks the
// knob.
func readAttr(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// readInt reads an attribute holding one integer.
func readInt(path string) (int64, error) {
	s, err := readAttr(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// writeAttr writes value to an existing attribute, never creating it.
//
// A file without any write permission bit is refused with fs.ErrPermission
// before opening it: sysfs marks its read-only attributes that way, and
// root's CAP_DAC_OVERRIDE would otherwise let a fixture file (on tmpfs) be
// written where the kernel refuses.
func writeAttr(path, value string) error {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return err
	}
	if fi.Mode().Perm()&0o222 == 0 {
		return &fs.PathError{Op: "write", Path: path, Err: fs.ErrPermission}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}

// attrWritable reports whether writeAttr could write path: a write bit is
// set and access(2) grants writing.
func attrWritable(path string) bool {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o222 == 0 {
		return false
	}
	return canWrite(path)
}

// parseIntIn parses a decimal integer, or reports ErrBadValue.
func parseIntIn(value string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer: %w", value, ErrBadValue)
	}
	return n, nil
}

// clamp bounds n to [lo, hi] and says so in a note when it had to.
func clamp(n, lo, hi int64) (int64, string) {
	switch {
	case n < lo:
		return lo, fmt.Sprintf("clamped from %d to %d", n, lo)
	case n > hi:
		return hi, fmt.Sprintf("clamped from %d to %d", n, hi)
	}
	return n, ""
}

// choose checks value against a knob's choices.
func choose(value string, choices []string) (string, error) {
	v := strings.TrimSpace(value)
	for _, c := range choices {
		if c == v {
			return v, nil
		}
	}
	return "", fmt.Errorf("%q is not one of %v: %w", value, choices, ErrBadValue)
}
