package actuators

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// pmqosMax is the kernel's "no constraint" CPU latency, 2000 s in µs
// (PM_QOS_CPU_LATENCY_DEFAULT_VALUE).
const pmqosMax = 2_000_000_000

// pmqosFamily serves pmqos.cpu_dma_latency_us: a CPU latency request made
// by writing to <Dev>/cpu_dma_latency and holding the file open. The
// kernel drops the request when the file is closed, by Revert, Close, or
// the process's death, so it needs no journal.
type pmqosFamily struct {
	cfg *Config
	// f is the open request; nil when none is held. val is its value.
	f   *os.File
	val string
}

func (f *pmqosFamily) path() string { return filepath.Join(f.cfg.Dev, "cpu_dma_latency") }

func (f *pmqosFamily) expand(knob, target string) ([]string, error) {
	return []string{target}, nil
}

func (f *pmqosFamily) inventory() []*gamesav1.Knob {
	a, err := f.open(KnobDMALatency, "", openOpts{})
	if err != nil {
		return nil
	}
	v, err := a.read()
	if err != nil {
		return nil
	}
	return []*gamesav1.Knob{{
		Name: KnobDMALatency, Value: v, Unit: unitOf(KnobDMALatency),
		Min: "0", Max: strconv.Itoa(pmqosMax), Writable: canWrite(f.path()),
	}}
}

func (f *pmqosFamily) open(knob, target string, o openOpts) (accessor, error) {
	if knob != KnobDMALatency {
		return nil, fmt.Errorf("%q: %w", knob, ErrUnknownKnob)
	}
	if target != "" {
		return nil, fmt.Errorf("%s: global knob, target %q: %w", knob, target, ErrBadTarget)
	}
	if !exists(f.path()) {
		return nil, fmt.Errorf("%s: no %s: %w", knob, f.path(), ErrUnavailable)
	}
	return pmqosKnob{f}, nil
}

// pmqosKnob is the accessor; the state lives in the family, because the
// request outlives any one action.
type pmqosKnob struct{ f *pmqosFamily }

// read returns the value this agent holds, or else the machine's current
// effective latency limit (a 32-bit integer in host byte order).
func (k pmqosKnob) read() (string, error) {
	if k.f.f != nil {
		return k.f.val, nil
	}
	fd, err := os.Open(k.f.path())
	if err != nil {
		return "", fmt.Errorf("%s: %w", KnobDMALatency, err)
	}
	defer fd.Close()
	var b [4]byte
	if _, err := io.ReadFull(fd, b[:]); err != nil {
		return "", fmt.Errorf("%s: read %s: %w", KnobDMALatency, k.f.path(), err)
	}
	return strconv.FormatInt(int64(int32(binary.NativeEndian.Uint32(b[:]))), 10), nil
}

// check clamps the request to [0, 2000 s].
func (k pmqosKnob) check(v string) (string, string, error) {
	n, err := parseIntIn(v)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", KnobDMALatency, err)
	}
	n, note := clamp(n, 0, pmqosMax)
	return strconv.FormatInt(n, 10), note, nil
}

// write opens the request once and changes its value in place. The value
// goes at offset 0 (the device ignores the offset; a fixture file then
// holds the latest request).
func (k pmqosKnob) write(v string) error {
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return fmt.Errorf("%s: %q: %w", KnobDMALatency, v, ErrBadValue)
	}
	if k.f.f == nil {
		fd, err := os.OpenFile(k.f.path(), os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", KnobDMALatency, err)
		}
		k.f.f = fd
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], uint32(int32(n)))
	if _, err := k.f.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("%s: %w", KnobDMALatency, err)
	}
	if _, err := k.f.f.Write(b[:]); err != nil {
		return fmt.Errorf("%s: %w", KnobDMALatency, err)
	}
	k.f.val = v
	return nil
}

// release drops the request, if one is held.
func (k pmqosKnob) release() error { return k.f.release() }

func (f *pmqosFamily) release() error {
	if f.f == nil {
		return nil
	}
	err := f.f.Close()
	f.f, f.val = nil, ""
	if err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("%s: release: %w", KnobDMALatency, err)
	}
	return nil
}

// holding reports whether a request is held.
func (f *pmqosFamily) holding() bool { return f.f != nil }
