package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// ErrNotAvailable reports that the machine lacks what a collector reads: no
// hwmon, no RAPL, no battery, no NVIDIA driver. It is a normal answer, not a
// failure; wrap it with the reason (fmt.Errorf("no powercap zones: %w", ErrNotAvailable)).
var ErrNotAvailable = errors.New("not available")

// Collector reads one part of the machine into s.
//
// s.Time is already set; collectors that compute rates use it as "now" and
// remember their previous counters between calls. A collector fills what it
// can: when single fields fail to parse it still fills the rest and returns
// the field errors (errors.Join). It returns an error wrapping ErrNotAvailable
// when the machine has nothing for it to read. Collect is called from one
// goroutine at a time.
type Collector interface {
	Collect(ctx context.Context, s *gamesav1.Sample) error
}

// Roots are the directories that stand for /proc, /sys, /dev and /etc. Tests
// point them at fixture trees; an agent in a container points them at the
// host's mounts.
type Roots struct {
	Proc string
	Sys  string
	Dev  string
	Etc  string
}

// DefaultRoots returns the real machine's paths.
func DefaultRoots() Roots {
	return Roots{Proc: "/proc", Sys: "/sys", Dev: "/dev", Etc: "/etc"}
}

// FixtureRoots returns Roots for a fixture tree laid out as dir/proc,
// dir/sys, dir/dev and dir/etc.
func FixtureRoots(dir string) Roots {
	return Roots{
		Proc: filepath.Join(dir, "proc"),
		Sys:  filepath.Join(dir, "sys"),
		Dev:  filepath.Join(dir, "dev"),
		Etc:  filepath.Join(dir, "etc"),
	}
}

// Validate reports a root that is empty.
func (r Roots) Validate() error {
	for _, f := range []struct{ name, v string }{{"proc", r.Proc}, {"sys", r.Sys}, {"dev", r.Dev}, {"etc", r.Etc}} {
		if f.v == "" {
			return fmt.Errorf("roots: %s must not be empty", f.name)
		}
	}
	return nil
}

// Registry runs a fixed, ordered list of named collectors. It is built
// explicitly by its owner (no init-time registration), so a test or a node
// decides exactly what runs.
type Registry struct {
	entries []entry
}

type entry struct {
	name string
	c    Collector
}

// Register appends a collector. Names must be unique and non-empty.
func (r *Registry) Register(name string, c Collector) error {
	if name == "" {
		return errors.New("registry: collector name must not be empty")
	}
	if c == nil {
		return fmt.Errorf("registry: collector %q is nil", name)
	}
	for _, e := range r.entries {
		if e.name == name {
			return fmt.Errorf("registry: collector %q registered twice", name)
		}
	}
	r.entries = append(r.entries, entry{name: name, c: c})
	return nil
}

// Names lists the registered collectors in the order they run.
func (r *Registry) Names() []string {
	names := make([]string, len(r.entries))
	for i, e := range r.entries {
		names[i] = e.name
	}
	return names
}

// Collect runs every collector in order into s and appends one
// CollectorStatus per collector. A panicking collector is reported as an
// error; it never takes the sample (or the agent) down with it.
func (r *Registry) Collect(ctx context.Context, s *gamesav1.Sample) {
	for _, e := range r.entries {
		start := time.Now()
		err := safeCollect(ctx, e.c, s)
		s.Collectors = append(s.Collectors, status(e.name, err, time.Since(start)))
	}
}

// Close closes every collector that holds resources (implements io.Closer),
// in reverse order of registration, and joins their errors.
func (r *Registry) Close() error {
	var errs []error
	for i := len(r.entries) - 1; i >= 0; i-- {
		if c, ok := r.entries[i].c.(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r.entries[i].name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func safeCollect(ctx context.Context, c Collector, s *gamesav1.Sample) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("collector panicked: %v", p)
		}
	}()
	return c.Collect(ctx, s)
}

func status(name string, err error, d time.Duration) *gamesav1.CollectorStatus {
	st := &gamesav1.CollectorStatus{
		Name:     name,
		State:    gamesav1.CollectorState_COLLECTOR_STATE_OK,
		Duration: durationpb.New(d),
	}
	switch {
	case err == nil:
	case errors.Is(err, ErrNotAvailable):
		st.State = gamesav1.CollectorState_COLLECTOR_STATE_NOT_AVAILABLE
		st.Message = err.Error()
	default:
		st.State = gamesav1.CollectorState_COLLECTOR_STATE_ERROR
		st.Message = err.Error()
	}
	return st
}
