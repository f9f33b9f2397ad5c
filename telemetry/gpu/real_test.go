//go:build linux && cgo

package gpu_test

import (
	"errors"
	"testing"

	"github.com/krystalstack/gamesa/telemetry"
	"github.com/krystalstack/gamesa/telemetry/gpu"
)

// TestSystemLibrary runs against the machine's own libnvidia-ml.so.1. Without
// an NVIDIA driver it must say "not available" and not crash; with one it
// must read at least one named GPU.
func TestSystemLibrary(t *testing.T) {
	c := gpu.New(gpu.Options{})
	defer func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close() = %v; want nil", err)
		}
	}()

	for tick := range 2 { // the second call answers from the retry state
		s, err := collect(t, c, t0)
		switch {
		case errors.Is(err, telemetry.ErrNotAvailable):
			t.Logf("tick %d: no NVIDIA GPU here: %v", tick, err)
			if len(s.Gpus) != 0 {
				t.Errorf("tick %d: got %d GPUs with ErrNotAvailable; want none", tick, len(s.Gpus))
			}
		case err != nil:
			t.Errorf("tick %d: Collect() = %v; want nil or ErrNotAvailable", tick, err)
		default:
			if len(s.Gpus) == 0 {
				t.Fatalf("tick %d: Collect() = nil with no GPUs; want ErrNotAvailable", tick)
			}
			for _, g := range s.Gpus {
				t.Logf("tick %d: gpu %d %q %s: %.0f%% %.1f W %.0f °C", tick, g.GetIndex(), g.GetName(), g.GetUuid(), g.GetUtilizationPercent(), g.GetPowerWatts(), g.GetTemperatureCelsius())
				if g.GetName() == "" || g.GetMemoryTotalBytes() == 0 {
					t.Errorf("tick %d: gpu %d has no name or memory: %v", tick, g.GetIndex(), g)
				}
			}
		}
	}
}

// BenchmarkSystemLibrary is one Collect through the machine's own NVML: the
// cost the agent pays every tick on a GPU machine. It is skipped without one.
func BenchmarkSystemLibrary(b *testing.B) {
	c := gpu.New(gpu.Options{})
	defer c.Close()
	if _, err := collect(b, c, t0); err != nil {
		b.Skipf("no NVIDIA GPU here: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := collect(b, c, t0); err != nil {
			b.Fatal(err)
		}
	}
}
