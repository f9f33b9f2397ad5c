package actuators_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/krystalstack/gamesa/actuators"
)

// Restore puts back one knob and target, leaves the others set, and the
// journal no longer holds it: a crash after it restores only the rest.
func TestRestoreOneKnob(t *testing.T) {
	cfg, dir := fixture(t)
	gov0 := filepath.Join(dir, "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
	gov1 := filepath.Join(dir, "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor")
	orig0, orig1 := readFile(t, gov0), readFile(t, gov1)
	s := open(t, cfg)
	apply(t, s, actuators.Applied, plan(
		actuators.KnobGovernor, "cpu0", "performance",
		actuators.KnobGovernor, "cpu1", "performance"))

	res, err := s.Restore(context.Background(), actuators.KnobGovernor, "cpu0")
	if err != nil || len(res) != 1 || res[0].Status != actuators.Applied || res[0].Value != orig0 {
		t.Fatalf("Restore(cpu0) = %v, %v; want one Applied result back to %q", res, err, orig0)
	}
	if got := readFile(t, gov0); got != orig0 {
		t.Errorf("cpu0 governor %q after Restore; want %q", got, orig0)
	}
	if got := readFile(t, gov1); got != "performance" {
		t.Errorf("cpu1 governor %q; Restore(cpu0) must leave it set", got)
	}
	if res, err := s.Restore(context.Background(), actuators.KnobGovernor, "cpu0"); err != nil || len(res) != 0 {
		t.Errorf("second Restore(cpu0) = %v, %v; want nothing to do", res, err)
	}
	// A crash now: the journal must name cpu1 alone.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, gov0, "schedutil") // someone else's change since
	s2 := open(t, cfg)
	if !s2.Pending() {
		t.Fatal("the journal lost cpu1's change")
	}
	res, err = s2.Recover(context.Background())
	if err != nil || len(res) != 1 || res[0].Action.Target != "cpu1" {
		t.Fatalf("Recover() = %v, %v; want cpu1 alone", res, err)
	}
	if got, want := readFile(t, gov1), orig1; got != want {
		t.Errorf("cpu1 governor %q after recovery; want %q", got, want)
	}
	if got := readFile(t, gov0); got != "schedutil" {
		t.Errorf("cpu0 governor %q: recovery touched a knob Restore had settled", got)
	}
}
