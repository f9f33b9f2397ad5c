package telemetry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

type fnCollector func(s *gamesav1.Sample) error

func (f fnCollector) Collect(_ context.Context, s *gamesav1.Sample) error { return f(s) }

type closer struct {
	fnCollector
	name   string
	closed *[]string
	err    error
}

func (c closer) Close() error { *c.closed = append(*c.closed, c.name); return c.err }

func TestRegistryIsolatesCollectors(t *testing.T) {
	var r Registry
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(r.Register("ok", fnCollector(func(s *gamesav1.Sample) error { s.Load = &gamesav1.Load{Load1: 1}; return nil })))
	must(r.Register("absent", fnCollector(func(*gamesav1.Sample) error { return fmt.Errorf("no hwmon: %w", ErrNotAvailable) })))
	must(r.Register("broken", fnCollector(func(*gamesav1.Sample) error { return errors.New("meminfo: MemTotal: bad number") })))
	must(r.Register("panics", fnCollector(func(*gamesav1.Sample) error { panic("boom") })))
	must(r.Register("after", fnCollector(func(s *gamesav1.Sample) error { s.Memory = &gamesav1.Memory{TotalBytes: 1}; return nil })))

	s := &gamesav1.Sample{}
	r.Collect(context.Background(), s)
	want := map[string]gamesav1.CollectorState{
		"ok":     gamesav1.CollectorState_COLLECTOR_STATE_OK,
		"absent": gamesav1.CollectorState_COLLECTOR_STATE_NOT_AVAILABLE,
		"broken": gamesav1.CollectorState_COLLECTOR_STATE_ERROR,
		"panics": gamesav1.CollectorState_COLLECTOR_STATE_ERROR,
		"after":  gamesav1.CollectorState_COLLECTOR_STATE_OK,
	}
	if len(s.Collectors) != len(want) {
		t.Fatalf("got %d statuses; want %d", len(s.Collectors), len(want))
	}
	for i, st := range s.Collectors {
		if st.Name != r.Names()[i] {
			t.Errorf("status %d is %q; want %q (registration order)", i, st.Name, r.Names()[i])
		}
		if st.State != want[st.Name] {
			t.Errorf("%s: state %v; want %v", st.Name, st.State, want[st.Name])
		}
		if st.Duration == nil {
			t.Errorf("%s: no duration", st.Name)
		}
	}
	if !strings.Contains(s.Collectors[3].Message, "panicked: boom") {
		t.Errorf("panic message = %q", s.Collectors[3].Message)
	}
	// The collectors around the failing ones still filled their parts.
	if s.Load.GetLoad1() != 1 || s.Memory.GetTotalBytes() != 1 {
		t.Errorf("sample = %v; the healthy collectors' data is missing", s)
	}
}

func TestRegistryRejectsBadRegistrations(t *testing.T) {
	var r Registry
	c := fnCollector(func(*gamesav1.Sample) error { return nil })
	if err := r.Register("", c); err == nil {
		t.Error("empty name accepted")
	}
	if err := r.Register("x", nil); err == nil {
		t.Error("nil collector accepted")
	}
	if err := r.Register("x", c); err != nil {
		t.Fatal(err)
	}
	if err := r.Register("x", c); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate name: %v; want an error", err)
	}
}

func TestRegistryCloseReverseOrder(t *testing.T) {
	var r Registry
	var closed []string
	nop := fnCollector(func(*gamesav1.Sample) error { return nil })
	for _, name := range []string{"a", "b", "c"} {
		var err error
		if name == "b" {
			err = errors.New("b failed")
		}
		if rerr := r.Register(name, closer{fnCollector: nop, name: name, closed: &closed, err: err}); rerr != nil {
			t.Fatal(rerr)
		}
	}
	if err := r.Register("plain", nop); err != nil { // no Close: skipped
		t.Fatal(err)
	}
	err := r.Close()
	if got := strings.Join(closed, ","); got != "c,b,a" {
		t.Errorf("closed %s; want c,b,a", got)
	}
	if err == nil || !strings.Contains(err.Error(), "b: b failed") {
		t.Errorf("Close() = %v; want b's error named", err)
	}
}
