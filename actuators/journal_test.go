package actuators_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/krystalstack/gamesa/actuators"
)

// crashAfter applies p and closes the Set without reverting, as a killed
// agent leaves the machine.
func crashAfter(t *testing.T, cfg actuators.Config, p ...string) {
	t.Helper()
	s, err := actuators.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, s, actuators.Applied, plan(p...))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptJournal: a damaged journal stops Open with an error naming
// the file; Salvage then lets a person revert what can be read, or
// discard it.
func TestCorruptJournal(t *testing.T) {
	for _, decide := range []string{"recover", "discard"} {
		t.Run(decide, func(t *testing.T) {
			cfg, dir := fixture(t)
			bl := filepath.Join(dir, "sys/class/backlight/intel_backlight/brightness")
			gov := filepath.Join(dir, "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
			crashAfter(t, cfg,
				actuators.KnobBacklight, "intel_backlight", "30000",
				actuators.KnobGovernor, "cpu0", "performance")
			// Damage the last record's payload.
			b, err := os.ReadFile(cfg.JournalPath)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)-10] ^= 0x20
			if err := os.WriteFile(cfg.JournalPath, b, 0o600); err != nil {
				t.Fatal(err)
			}

			_, err = actuators.Open(context.Background(), cfg)
			var je *actuators.JournalError
			if !errors.As(err, &je) || !errors.Is(err, actuators.ErrCorruptJournal) {
				t.Fatalf("Open(corrupt journal) = %v; want a *JournalError", err)
			}
			if je.Path != cfg.JournalPath || je.Records != 1 || !strings.Contains(err.Error(), cfg.JournalPath) {
				t.Errorf("JournalError = %+v (%q); want the path and 1 good record", je, err)
			}
			// Nothing is applied: the Set never opened. The file stays
			// as it was for a person to look at.
			if after, _ := os.ReadFile(cfg.JournalPath); string(after) != string(b) {
				t.Errorf("Open(corrupt) changed the journal")
			}

			cfg.Salvage = true
			s := open(t, cfg)
			if !s.Pending() {
				t.Fatal("Pending() = false after salvage; want the readable record pending")
			}
			if _, err := os.Stat(cfg.JournalPath + ".corrupt"); err != nil {
				t.Errorf("the damaged journal was not kept: %v", err)
			}
			switch decide {
			case "recover":
				res, err := s.Recover(context.Background())
				if err != nil || len(res) != 1 || res[0].Action.Knob != actuators.KnobBacklight {
					t.Fatalf("Recover() = %v%s; want the backlight reverted", err, statuses(res))
				}
				if got := readFile(t, bl); got != "19200" {
					t.Errorf("brightness = %s; want 19200", got)
				}
			case "discard":
				if err := s.DiscardJournal(); err != nil {
					t.Fatal(err)
				}
				if got := readFile(t, bl); got != "30000" {
					t.Errorf("brightness = %s; want 30000, left as it is", got)
				}
			}
			// The governor's record was the damaged one: it stays.
			if got := readFile(t, gov); got != "performance" {
				t.Errorf("governor = %s; want performance (its record was lost)", got)
			}
			if s.Pending() {
				t.Error("Pending() = true after the decision")
			}
			apply(t, s, actuators.Applied, plan(actuators.KnobBacklight, "intel_backlight", "40000"))
		})
	}
}

// TestPendingJournal: changes left by a run that did not revert block
// Apply until Recover or DiscardJournal; Check still works.
func TestPendingJournal(t *testing.T) {
	cfg, dir := fixture(t)
	bl := filepath.Join(dir, "sys/class/backlight/intel_backlight/brightness")
	crashAfter(t, cfg, actuators.KnobBacklight, "intel_backlight", "30000")
	s := open(t, cfg)
	if !s.Pending() {
		t.Fatal("Pending() = false; want true")
	}
	res := s.Apply(context.Background(), plan(actuators.KnobBacklight, "intel_backlight", "50000"))
	if res[0].Status != actuators.Rejected || !errors.Is(res[0].Err, actuators.ErrRecoveryPending) {
		t.Errorf("Apply(pending) = %v, %v; want rejected, ErrRecoveryPending", res[0].Status, res[0].Err)
	}
	if got := readFile(t, bl); got != "30000" {
		t.Errorf("brightness = %s; want 30000", got)
	}
	if res := s.Check(context.Background(), plan(actuators.KnobBacklight, "intel_backlight", "50000")); res[0].Status != actuators.WouldApply {
		t.Errorf("Check(pending) = %v, %v; want would-apply", res[0].Status, res[0].Err)
	}
	if err := s.DiscardJournal(); err != nil {
		t.Fatal(err)
	}
	apply(t, s, actuators.Applied, plan(actuators.KnobBacklight, "intel_backlight", "50000"))
	revert(t, s)
	// Discarded: the original before the discard is 30000.
	if got := readFile(t, bl); got != "30000" {
		t.Errorf("brightness = %s; want 30000", got)
	}
	if res, err := s.Recover(context.Background()); err != nil || len(res) != 0 {
		t.Errorf("Recover(nothing pending) = %v, %v; want nothing", res, err)
	}
}

// TestJournalCompacts: knobs changed back and forth do not grow the
// journal without end, and revert still finds the first original.
func TestJournalCompacts(t *testing.T) {
	cfg, dir := fixture(t)
	s := open(t, cfg)
	for i := range 300 {
		v := "30000"
		if i%2 == 1 {
			v = "40000"
		}
		apply(t, s, actuators.Applied, plan(actuators.KnobBacklight, "intel_backlight", v))
	}
	fi, err := os.Stat(cfg.JournalPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 64*1024 {
		t.Errorf("journal is %d bytes after 300 changes of one knob; want it compacted", fi.Size())
	}
	rev := revert(t, s)
	if len(rev) != 1 || rev[0].Value != "19200" {
		t.Errorf("Revert() = %s; want one revert to 19200", statuses(rev))
	}
	if got := readFile(t, filepath.Join(dir, "sys/class/backlight/intel_backlight/brightness")); got != "19200" {
		t.Errorf("brightness = %s; want 19200", got)
	}
}

// TestClosed: a closed Set refuses everything.
func TestClosed(t *testing.T) {
	cfg, _ := fixture(t)
	s, err := actuators.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() = %v; want nil", err)
	}
	if res := s.Apply(context.Background(), plan(actuators.KnobBacklight, "intel_backlight", "1")); res[0].Status != actuators.Rejected || !errors.Is(res[0].Err, actuators.ErrClosed) {
		t.Errorf("Apply(closed) = %v, %v; want rejected, ErrClosed", res[0].Status, res[0].Err)
	}
	if _, err := s.Revert(context.Background()); !errors.Is(err, actuators.ErrClosed) {
		t.Errorf("Revert(closed) = %v; want ErrClosed", err)
	}
	if _, err := s.Inventory(context.Background()); !errors.Is(err, actuators.ErrClosed) {
		t.Errorf("Inventory(closed) = %v; want ErrClosed", err)
	}
}

// TestConcurrentUse drives one Set from several goroutines (run it with
// -race): the methods take turns, and revert still finds the first
// originals.
func TestConcurrentUse(t *testing.T) {
	cfg, dir := fixture(t)
	cfg.Logger = nil
	s := open(t, cfg)
	ctx := context.Background()
	done := make(chan error)
	for g := range 4 {
		go func() {
			var err error
			for i := range 20 {
				v := []string{"30000", "40000"}[(g+i)%2]
				for _, r := range s.Apply(ctx, plan(actuators.KnobBacklight, "intel_backlight", v, actuators.KnobGovernor, "", "performance")) {
					if !r.Status.OK() {
						err = r.Err
					}
				}
				s.Check(ctx, plan(actuators.KnobEPP, "cpu0", "power"))
				if _, ierr := s.Inventory(ctx); ierr != nil {
					err = ierr
				}
			}
			done <- err
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	revert(t, s)
	if got := readFile(t, filepath.Join(dir, "sys/class/backlight/intel_backlight/brightness")); got != "19200" {
		t.Errorf("brightness = %s; want 19200", got)
	}
	if got := readFile(t, filepath.Join(dir, "sys/devices/system/cpu/cpu3/cpufreq/scaling_governor")); got != "powersave" {
		t.Errorf("governor = %s; want powersave", got)
	}
}
