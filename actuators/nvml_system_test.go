//go:build linux && cgo

package actuators_test

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/krystalstack/gamesa/actuators"
)

// TestSystemNVML runs against the machine's own libnvidia-ml.so.1 and only
// reads: without a driver OpenNVML must say ErrUnavailable; with one, every
// GPU's power limit must lie inside its own constraints, the Set must list it
// as a knob, and a dry run (Check) of a limit below the minimum must clamp to
// that minimum without touching the device.
func TestSystemNVML(t *testing.T) {
	n, err := actuators.OpenNVML()
	if errors.Is(err, actuators.ErrUnavailable) {
		t.Skipf("no NVIDIA driver here: %v", err)
	}
	if err != nil {
		t.Fatalf("OpenNVML() = %v; want nil or ErrUnavailable", err)
	}
	defer func() {
		if err := n.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	}()
	count, err := n.Count()
	if err != nil || count < 1 {
		t.Fatalf("Count() = %d, %v; want at least one GPU", count, err)
	}
	cfg, _ := fixture(t)
	cfg.GPUs = n
	s := open(t, cfg)
	inv, err := s.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for _, k := range inv {
		if k.Name == actuators.KnobNVMLPower {
			listed[k.Target] = k.Value
		}
	}
	for i := range count {
		cur, lo, hi, err := n.PowerLimit(i)
		if errors.Is(err, actuators.ErrUnavailable) {
			t.Logf("gpu%d: no power limit: %v", i, err)
			continue
		}
		if err != nil {
			t.Fatalf("PowerLimit(%d) = %v", i, err)
		}
		t.Logf("gpu%d: power limit %d mW in [%d, %d]", i, cur, lo, hi)
		if lo == 0 || lo > cur || cur > hi {
			t.Errorf("gpu%d: limit %d outside [%d, %d]", i, cur, lo, hi)
		}
		target := "gpu" + strconv.Itoa(i)
		if listed[target] != strconv.FormatUint(uint64(cur), 10) {
			t.Errorf("Inventory() %s = %q; want %d", target, listed[target], cur)
		}
		res := s.Check(context.Background(), plan(actuators.KnobNVMLPower, target, strconv.FormatUint(uint64(lo/2), 10)))
		if len(res) != 1 || res[0].Err != nil || res[0].Note == "" {
			t.Errorf("Check(%s = %d) = %+v; want a dry run clamped to %d", target, lo/2, res, lo)
		}
		if after, _, _, _ := n.PowerLimit(i); after != cur {
			t.Errorf("gpu%d: limit %d after a dry run; want %d unchanged", i, after, cur)
		}
	}
}
