//go:build linux && cgo

package actuators_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"

	"github.com/krystalstack/gamesa/actuators"
)

// fakeGPU is a GPU whose power limit the mock keeps, as the driver would.
type fakeGPU struct {
	limit, min, max uint32
	setErr          nvml.Return
	sets            int
}

func (g *fakeGPU) device() *mock.Device {
	return &mock.Device{
		GetPowerManagementLimitFunc: func() (uint32, nvml.Return) { return g.limit, nvml.SUCCESS },
		GetPowerManagementLimitConstraintsFunc: func() (uint32, uint32, nvml.Return) {
			return g.min, g.max, nvml.SUCCESS
		},
		SetPowerManagementLimitFunc: func(v uint32) nvml.Return {
			if g.setErr != nvml.SUCCESS {
				return g.setErr
			}
			if v < g.min || v > g.max {
				return nvml.ERROR_INVALID_ARGUMENT
			}
			g.limit = v
			g.sets++
			return nvml.SUCCESS
		},
	}
}

// fakeNVML is go-nvml's mock over gpus; lost marks GPUs that fell off.
func fakeNVML(gpus []*fakeGPU, lost map[int]bool, shutdowns *int) *mock.Interface {
	return &mock.Interface{
		InitFunc:           func() nvml.Return { return nvml.SUCCESS },
		ShutdownFunc:       func() nvml.Return { *shutdowns++; return nvml.SUCCESS },
		DeviceGetCountFunc: func() (int, nvml.Return) { return len(gpus), nvml.SUCCESS },
		DeviceGetHandleByIndexFunc: func(i int) (nvml.Device, nvml.Return) {
			if i < 0 || i >= len(gpus) {
				return nil, nvml.ERROR_INVALID_ARGUMENT
			}
			if lost[i] {
				return nil, nvml.ERROR_GPU_IS_LOST
			}
			return gpus[i].device(), nvml.SUCCESS
		},
	}
}

func TestNVMLPowerLimit(t *testing.T) {
	gpus := []*fakeGPU{
		{limit: 450000, min: 150000, max: 600000},
		{limit: 400000, min: 100000, max: 400000},
	}
	lost := map[int]bool{}
	shutdowns := 0
	n, err := actuators.NewNVML(fakeNVML(gpus, lost, &shutdowns))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := fixture(t)
	cfg.GPUs = n
	s := open(t, cfg)

	inv, err := s.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, k := range inv {
		if k.Name == actuators.KnobNVMLPower {
			listed = append(listed, k.Target+"="+k.Value+"["+k.Min+","+k.Max+"]"+k.Unit)
		}
	}
	if want := "gpu0=450000[150000,600000]mW gpu1=400000[100000,400000]mW"; strings.Join(listed, " ") != want {
		t.Errorf("Inventory() GPUs = %v; want %s", listed, want)
	}

	res := apply(t, s, actuators.Applied, plan(
		actuators.KnobNVMLPower, "gpu0", "300000",
		actuators.KnobNVMLPower, "gpu1", "50000"))
	if gpus[0].limit != 300000 {
		t.Errorf("gpu0 limit = %d; want 300000", gpus[0].limit)
	}
	if gpus[1].limit != 100000 || res[1].Note == "" {
		t.Errorf("gpu1 limit = %d, note %q; want 100000, clamped to the device's minimum", gpus[1].limit, res[1].Note)
	}
	apply(t, s, actuators.Unchanged, plan(actuators.KnobNVMLPower, "gpu0", "300000"))

	bad := s.Apply(context.Background(), plan(
		actuators.KnobNVMLPower, "gpu2", "300000",
		actuators.KnobNVMLPower, "gpu", "300000"))
	if bad[0].Status != actuators.Unavailable || bad[1].Status != actuators.Rejected {
		t.Errorf("Apply(gpu2, gpu) = %v, %v; want unavailable, rejected", bad[0].Status, bad[1].Status)
	}

	gpus[0].setErr = nvml.ERROR_NO_PERMISSION
	denied := s.Apply(context.Background(), plan(actuators.KnobNVMLPower, "gpu0", "250000"))
	if denied[0].Status != actuators.Denied {
		t.Errorf("Apply(no permission) = %v, %v; want denied", denied[0].Status, denied[0].Err)
	}
	gpus[0].setErr = nvml.SUCCESS

	// gpu1 falls off the bus before the revert: skipped, not retried.
	lost[1] = true
	rev, err := s.Revert(context.Background())
	if err != nil {
		t.Fatalf("Revert() = %v%s", err, statuses(rev))
	}
	if gpus[0].limit != 450000 {
		t.Errorf("gpu0 limit after Revert = %d; want 450000", gpus[0].limit)
	}
	for _, r := range rev {
		want := actuators.Applied
		if r.Action.Target == "gpu1" {
			want = actuators.Skipped
		}
		if r.Status != want {
			t.Errorf("Revert(%s) = %v, %v; want %v", r.Action.Target, r.Status, r.Err, want)
		}
	}
	if err := n.Close(); err != nil || shutdowns != 1 {
		t.Errorf("Close() = %v, %d shutdowns; want nil, 1", err, shutdowns)
	}
	if _, err := n.Count(); !errors.Is(err, actuators.ErrClosed) {
		t.Errorf("Count() after Close = %v; want ErrClosed", err)
	}
}

func TestNVMLInitFails(t *testing.T) {
	lib := &mock.Interface{InitFunc: func() nvml.Return { return nvml.ERROR_DRIVER_NOT_LOADED }}
	if _, err := actuators.NewNVML(lib); !errors.Is(err, actuators.ErrUnavailable) {
		t.Errorf("NewNVML(no driver) = %v; want ErrUnavailable", err)
	}
	panicky := &mock.Interface{InitFunc: func() nvml.Return { panic("libnvidia-ml.so.1: cannot open shared object file") }}
	if _, err := actuators.NewNVML(panicky); !errors.Is(err, actuators.ErrUnavailable) {
		t.Errorf("NewNVML(panics) = %v; want ErrUnavailable", err)
	}
}
