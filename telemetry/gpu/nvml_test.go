//go:build linux && cgo

package gpu_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
	"github.com/krystalstack/gamesa/telemetry/gpu"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// reservedBytes is what GetMemoryInfo_v2 counts as used on top of
// GetMemoryInfo, so a test can tell which of the two was read.
const reservedBytes = 512 << 20

// gpuValues is what a fake GPU reports, in NVML's units.
type gpuValues struct {
	name, uuid                 string
	util, memUtil              uint32
	memUsed, memTotal          uint64 // as GetMemoryInfo_v2 reports them
	temp                       uint32
	powerMW, limitMW           uint32
	minLimitMW, maxLimitMW     uint32
	graphicsMHz, smMHz, memMHz uint32
	fan                        uint32
	reasons                    uint64
	pstate                     nvml.Pstates
	wantReasons                []string
	wantPower, wantLimit       float64
	wantMinLimit, wantMaxLimit float64
}

var (
	rtx4090 = gpuValues{
		name: "NVIDIA GeForce RTX 4090", uuid: "GPU-6b0f1b8e-0000-4000-8000-000000000000",
		util: 37, memUtil: 12,
		memUsed: 2 << 30, memTotal: 24 << 30,
		temp:    61,
		powerMW: 123456, limitMW: 450000, minLimitMW: 150000, maxLimitMW: 600000,
		graphicsMHz: 2520, smMHz: 2521, memMHz: 10501,
		fan:         45,
		reasons:     nvml.ClocksEventReasonGpuIdle | nvml.ClocksEventReasonSwPowerCap,
		pstate:      nvml.PSTATE_2,
		wantReasons: []string{"gpu_idle", "sw_power_cap"},
		wantPower:   123.456, wantLimit: 450, wantMinLimit: 150, wantMaxLimit: 600,
	}
	a100 = gpuValues{
		name: "NVIDIA A100-SXM4-80GB", uuid: "GPU-1c2d3e4f-1111-4111-8111-111111111111",
		util: 100, memUtil: 80,
		memUsed: 70 << 30, memTotal: 80 << 30,
		temp:    83,
		powerMW: 398250, limitMW: 400000, minLimitMW: 100000, maxLimitMW: 400000,
		graphicsMHz: 1410, smMHz: 1411, memMHz: 1593,
		fan:         0,
		reasons:     nvml.ClocksEventReasonSwPowerCap | nvml.ClocksThrottleReasonHwThermalSlowdown | 0x1000,
		pstate:      nvml.PSTATE_8,
		wantReasons: []string{"sw_power_cap", "hw_thermal_slowdown", "0x1000"},
		wantPower:   398.25, wantLimit: 400, wantMinLimit: 100, wantMaxLimit: 400,
	}
)

// want is the message a GPU with values v at index should produce.
func (v gpuValues) want(index uint32) *gamesav1.GPU {
	return &gamesav1.GPU{
		Index:                    index,
		Uuid:                     v.uuid,
		Name:                     v.name,
		UtilizationPercent:       float64(v.util),
		MemoryUtilizationPercent: float64(v.memUtil),
		MemoryUsedBytes:          v.memUsed,
		MemoryTotalBytes:         v.memTotal,
		TemperatureCelsius:       float64(v.temp),
		PowerWatts:               v.wantPower,
		PowerLimitWatts:          v.wantLimit,
		MinPowerLimitWatts:       v.wantMinLimit,
		MaxPowerLimitWatts:       v.wantMaxLimit,
		GraphicsClockMhz:         v.graphicsMHz,
		SmClockMhz:               v.smMHz,
		MemoryClockMhz:           v.memMHz,
		FanSpeedPercent:          v.fan,
		ThrottleReasonsMask:      v.reasons,
		ThrottleReasons:          v.wantReasons,
		Pstate:                   uint32(v.pstate),
	}
}

// newDevice returns a mock GPU that answers every query the collector makes.
func newDevice(v gpuValues) *mock.Device {
	ok := nvml.SUCCESS
	return &mock.Device{
		GetNameFunc: func() (string, nvml.Return) { return v.name, ok },
		GetUUIDFunc: func() (string, nvml.Return) { return v.uuid, ok },
		GetPowerManagementLimitConstraintsFunc: func() (uint32, uint32, nvml.Return) {
			return v.minLimitMW, v.maxLimitMW, ok
		},
		GetUtilizationRatesFunc: func() (nvml.Utilization, nvml.Return) {
			return nvml.Utilization{Gpu: v.util, Memory: v.memUtil}, ok
		},
		GetMemoryInfo_v2Func: func() (nvml.Memory_v2, nvml.Return) {
			return nvml.Memory_v2{Total: v.memTotal, Reserved: reservedBytes, Used: v.memUsed, Free: v.memTotal - v.memUsed}, ok
		},
		GetMemoryInfoFunc: func() (nvml.Memory, nvml.Return) {
			return nvml.Memory{Total: v.memTotal, Used: v.memUsed - reservedBytes, Free: v.memTotal - v.memUsed}, ok
		},
		GetTemperatureFunc: func(s nvml.TemperatureSensors) (uint32, nvml.Return) {
			if s != nvml.TEMPERATURE_GPU {
				return 0, nvml.ERROR_INVALID_ARGUMENT
			}
			return v.temp, ok
		},
		GetPowerUsageFunc:         func() (uint32, nvml.Return) { return v.powerMW, ok },
		GetEnforcedPowerLimitFunc: func() (uint32, nvml.Return) { return v.limitMW, ok },
		GetClockInfoFunc: func(ct nvml.ClockType) (uint32, nvml.Return) {
			switch ct {
			case nvml.CLOCK_GRAPHICS:
				return v.graphicsMHz, ok
			case nvml.CLOCK_SM:
				return v.smMHz, ok
			case nvml.CLOCK_MEM:
				return v.memMHz, ok
			}
			return 0, nvml.ERROR_INVALID_ARGUMENT
		},
		GetFanSpeedFunc:                     func() (uint32, nvml.Return) { return v.fan, ok },
		GetCurrentClocksEventReasonsFunc:    func() (uint64, nvml.Return) { return v.reasons, ok },
		GetCurrentClocksThrottleReasonsFunc: func() (uint64, nvml.Return) { return v.reasons, ok },
		GetPerformanceStateFunc:             func() (nvml.Pstates, nvml.Return) { return v.pstate, ok },
	}
}

// fakeLibrary is a mock NVML with a list of GPUs a test may change between
// calls: handles[i] nil answers handleErr[i].
type fakeLibrary struct {
	*mock.Interface
	handles   []nvml.Device
	handleErr []nvml.Return
	missing   map[string]bool // symbols LookupSymbol reports missing
}

func newLibrary(devs ...*mock.Device) *fakeLibrary {
	l := &fakeLibrary{missing: map[string]bool{}}
	for _, d := range devs {
		l.handles = append(l.handles, d)
		l.handleErr = append(l.handleErr, nvml.SUCCESS)
	}
	l.Interface = &mock.Interface{
		InitFunc:     func() nvml.Return { return nvml.SUCCESS },
		ShutdownFunc: func() nvml.Return { return nvml.SUCCESS },
		ExtensionsFunc: func() nvml.ExtendedInterface {
			return &mock.ExtendedInterface{LookupSymbolFunc: func(s string) error {
				if l.missing[s] {
					return errors.New("undefined symbol " + s)
				}
				return nil
			}}
		},
		DeviceGetCountFunc: func() (int, nvml.Return) { return len(l.handles), nvml.SUCCESS },
		DeviceGetHandleByIndexFunc: func(i int) (nvml.Device, nvml.Return) {
			if i < 0 || i >= len(l.handles) {
				return nil, nvml.ERROR_INVALID_ARGUMENT
			}
			if l.handleErr[i] != nvml.SUCCESS {
				return nil, l.handleErr[i]
			}
			return l.handles[i], nvml.SUCCESS
		},
	}
	return l
}

func newCollector(t testing.TB, lib nvml.Interface, opts gpu.Options) *gpu.Collector {
	t.Helper()
	c := gpu.NewWithLibrary(lib, opts)
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close() = %v; want nil", err)
		}
	})
	return c
}

// collect runs one Collect at the given sample time.
func collect(t testing.TB, c *gpu.Collector, at time.Time) (*gamesav1.Sample, error) {
	t.Helper()
	s := &gamesav1.Sample{Time: timestamppb.New(at)}
	return s, c.Collect(context.Background(), s)
}

func checkGPUs(t *testing.T, got []*gamesav1.GPU, want ...*gamesav1.GPU) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d GPUs; want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("GPU %d =\n%s\nwant\n%s", i, prototext.Format(got[i]), prototext.Format(want[i]))
		}
	}
}

func TestCollectTwoGPUs(t *testing.T) {
	d0, d1 := newDevice(rtx4090), newDevice(a100)
	lib := newLibrary(d0, d1)
	c := newCollector(t, lib, gpu.Options{})

	for tick := range 3 {
		s, err := collect(t, c, t0.Add(time.Duration(tick)*time.Second))
		if err != nil {
			t.Fatalf("tick %d: Collect() = %v; want nil", tick, err)
		}
		checkGPUs(t, s.Gpus, rtx4090.want(0), a100.want(1))
	}

	// Handles and what never changes are read once; readings every tick.
	if n := len(lib.InitCalls()); n != 1 {
		t.Errorf("Init called %d times; want 1", n)
	}
	if n := len(lib.DeviceGetHandleByIndexCalls()); n != 2 {
		t.Errorf("DeviceGetHandleByIndex called %d times; want 2", n)
	}
	for i, d := range []*mock.Device{d0, d1} {
		if n := len(d.GetNameCalls()); n != 1 {
			t.Errorf("gpu %d: GetName called %d times; want 1", i, n)
		}
		if n := len(d.GetUtilizationRatesCalls()); n != 3 {
			t.Errorf("gpu %d: GetUtilizationRates called %d times; want 3", i, n)
		}
		// The library has the newer entry points, so the older ones stay unused.
		if n := len(d.GetMemoryInfoCalls()); n != 0 {
			t.Errorf("gpu %d: GetMemoryInfo called %d times; want 0 (v2 preferred)", i, n)
		}
		if n := len(d.GetCurrentClocksThrottleReasonsCalls()); n != 0 {
			t.Errorf("gpu %d: GetCurrentClocksThrottleReasons called %d times; want 0", i, n)
		}
	}
}

func TestNewerQueriesFallBack(t *testing.T) {
	v1 := rtx4090.want(0)
	v1.MemoryUsedBytes = rtx4090.memUsed - reservedBytes

	tests := []struct {
		name string
		// setup breaks the newer entry points one way or another.
		setup func(l *fakeLibrary, d *mock.Device)
		// newerCalls is how often each newer query may run in two ticks.
		newerCalls int
	}{
		{
			name: "symbols missing from the driver",
			setup: func(l *fakeLibrary, d *mock.Device) {
				l.missing["nvmlDeviceGetMemoryInfo_v2"] = true
				l.missing["nvmlDeviceGetCurrentClocksEventReasons"] = true
			},
			newerCalls: 0,
		},
		{
			name: "newer queries answer FUNCTION_NOT_FOUND",
			setup: func(l *fakeLibrary, d *mock.Device) {
				d.GetMemoryInfo_v2Func = func() (nvml.Memory_v2, nvml.Return) {
					return nvml.Memory_v2{Used: 1}, nvml.ERROR_FUNCTION_NOT_FOUND
				}
				d.GetCurrentClocksEventReasonsFunc = func() (uint64, nvml.Return) {
					return 0xffff, nvml.ERROR_FUNCTION_NOT_FOUND
				}
			},
			newerCalls: 1,
		},
		{
			name: "double without the newer methods or Extensions",
			setup: func(l *fakeLibrary, d *mock.Device) {
				l.ExtensionsFunc = nil
				d.GetMemoryInfo_v2Func = nil
				d.GetCurrentClocksEventReasonsFunc = nil
			},
			newerCalls: 0, // nil mock methods panic before recording a call
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDevice(rtx4090)
			lib := newLibrary(d)
			tt.setup(lib, d)
			c := newCollector(t, lib, gpu.Options{})
			for tick := range 2 {
				s, err := collect(t, c, t0.Add(time.Duration(tick)*time.Second))
				if err != nil {
					t.Fatalf("tick %d: Collect() = %v; want nil", tick, err)
				}
				checkGPUs(t, s.Gpus, v1)
			}
			if n := len(d.GetMemoryInfo_v2Calls()); n != tt.newerCalls {
				t.Errorf("GetMemoryInfo_v2 called %d times; want %d", n, tt.newerCalls)
			}
			if n := len(d.GetCurrentClocksEventReasonsCalls()); n != tt.newerCalls {
				t.Errorf("GetCurrentClocksEventReasons called %d times; want %d", n, tt.newerCalls)
			}
			if n := len(d.GetMemoryInfoCalls()); n != 2 {
				t.Errorf("GetMemoryInfo called %d times; want 2", n)
			}
		})
	}
}

// fieldCases break one field of a GPU: fail() gives the NVML answer (or
// panics), and zero clears in the expected message what the field fills.
var fieldCases = []struct {
	field   string
	breakIt func(d *mock.Device, fail func() nvml.Return)
	zero    func(g *gamesav1.GPU)
}{
	{
		field: "name",
		breakIt: func(d *mock.Device, fail func() nvml.Return) {
			d.GetNameFunc = func() (string, nvml.Return) { return "garbage", fail() }
		},
		zero: func(g *gamesav1.GPU) { g.Name = "" },
	},
	{
		field: "uuid",
		breakIt: func(d *mock.Device, fail func() nvml.Return) {
			d.GetUUIDFunc = func() (string, nvml.Return) { return "garbage", fail() }
		},
		zero: func(g *gamesav1.GPU) { g.Uuid = "" },
	},
	{
		field: "power limit constraints",
		breakIt: func(d *mock.Device, fail func() nvml.Return) {
			d.GetPowerManagementLimitConstraintsFunc = func() (uint32, uint32, nvml.Return) { return 9, 9, fail() }
		},
		zero: func(g *gamesav1.GPU) { g.MinPowerLimitWatts, g.MaxPowerLimitWatts = 0, 0 },
	},
	{
		field: "utilization",
		breakIt: func(d *mock.Device, fail func() nvml.Return) {
			d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
				return nvml.Utilization{Gpu: 9, Memory: 9}, fail()
			}
		},
		zero: func(g *gamesav1.GPU) { g.UtilizationPercent, g.MemoryUtilizationPercent = 0, 0 },
	},
	{
		field: "memory",
		breakIt: func(d *mock.Device, fail func() nvml.Return) {
			d.GetMemoryInfo_v2Func = func() (nvml.Memory_v2, nvml.Return) { return nvml.Memory_v2{Used: 9, Total: 9}, fail() }
			d.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) { return nvml.Memory{Used: 9, Total: 9}, fail() }
		},
		zero: func(g *gamesav1.GPU) { g.MemoryUsedBytes, g.MemoryTotalBytes = 0, 0 },
	},
	{
		field: "temperature",
		breakIt: func(d *mock.Device, fail func() nvml.Return) {
			d.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 9, fail() }
		},
		zero: func(g *gamesav1.GPU) { g.TemperatureCelsius = 0 },
	},
	{
		field: "power usage",
		breakIt: func(d *mock.Device, fail func() nvml.Return) {
			d.GetPowerUsageFunc = func() (uint32, nvml.Return) { return 9, fail() }
		},
		zero: func(g *gamesav1.GPU) { g.PowerWatts = 0 },
	},
	{
		field: "power limit",
		breakIt: func(d *mock.Device, fail func() nvml.Return) {
			d.GetEnforcedPowerLimitFunc = func() (uint32, nvml.Return) { return 9, fail() }
		},
		zero: func(g *gamesav1.GPU) { g.PowerLimitWatts = 0 },
	},
	{
		field: "sm clock",
		breakIt: func(d *mock.Device, fail func() nvml.Return) {
			orig := d.GetClockInfoFunc
			d.GetClockInfoFunc = func(ct nvml.ClockType) (uint32, nvml.Return) {
				if ct == nvml.CLOCK_SM {
					return 9, fail()
				}
				return orig(ct)
			}
		},
		zero: func(g *gamesav1.GPU) { g.SmClockMhz = 0 },
	},
	{
		field: "fan speed",
		breakIt: func(d *mock.Device, fail func() nvml.Return) {
			d.GetFanSpeedFunc = func() (uint32, nvml.Return) { return 9, fail() }
		},
		zero: func(g *gamesav1.GPU) { g.FanSpeedPercent = 0 },
	},
	{
		field: "clocks event reasons",
		breakIt: func(d *mock.Device, fail func() nvml.Return) {
			d.GetCurrentClocksEventReasonsFunc = func() (uint64, nvml.Return) { return 9, fail() }
			d.GetCurrentClocksThrottleReasonsFunc = func() (uint64, nvml.Return) { return 9, fail() }
		},
		zero: func(g *gamesav1.GPU) { g.ThrottleReasonsMask, g.ThrottleReasons = 0, nil },
	},
	{
		field: "performance state",
		breakIt: func(d *mock.Device, fail func() nvml.Return) {
			d.GetPerformanceStateFunc = func() (nvml.Pstates, nvml.Return) { return 9, fail() }
		},
		zero: func(g *gamesav1.GPU) { g.Pstate = 0 },
	},
}

// TestFieldNotSupported: a field the GPU lacks is 0, and not an error.
func TestFieldNotSupported(t *testing.T) {
	for _, fc := range fieldCases {
		t.Run(fc.field, func(t *testing.T) {
			d1 := newDevice(a100)
			fc.breakIt(d1, func() nvml.Return { return nvml.ERROR_NOT_SUPPORTED })
			c := newCollector(t, newLibrary(newDevice(rtx4090), d1), gpu.Options{})

			s, err := collect(t, c, t0)
			if err != nil {
				t.Fatalf("Collect() = %v; want nil", err)
			}
			want := a100.want(1)
			fc.zero(want)
			checkGPUs(t, s.Gpus, rtx4090.want(0), want)
		})
	}
}

// TestFieldFails: a failing or panicking field is reported with the GPU
// index and field name; everything else is still filled.
func TestFieldFails(t *testing.T) {
	modes := []struct {
		name    string
		fail    func() nvml.Return
		wantErr string
		wantIs  error
	}{
		{"error", func() nvml.Return { return nvml.ERROR_UNKNOWN }, "ERROR_UNKNOWN", nvml.ERROR_UNKNOWN},
		{"panic", func() nvml.Return { panic("nil symbol") }, "panicked: nil symbol", nil},
	}
	for _, m := range modes {
		for _, fc := range fieldCases {
			t.Run(m.name+"/"+fc.field, func(t *testing.T) {
				d1 := newDevice(a100)
				fc.breakIt(d1, m.fail)
				c := newCollector(t, newLibrary(newDevice(rtx4090), d1), gpu.Options{})

				s, err := collect(t, c, t0)
				if err == nil {
					t.Fatalf("Collect() = nil; want an error for gpu 1 %s", fc.field)
				}
				if prefix := "gpu 1: " + fc.field + ": "; !strings.Contains(err.Error(), prefix) || !strings.Contains(err.Error(), m.wantErr) {
					t.Errorf("Collect() = %q; want it to name %q and %q", err, prefix, m.wantErr)
				}
				if m.wantIs != nil && !errors.Is(err, m.wantIs) {
					t.Errorf("Collect() = %v; want errors.Is(err, %v)", err, m.wantIs)
				}
				if errors.Is(err, telemetry.ErrNotAvailable) {
					t.Errorf("Collect() = %v; a failing field is not ErrNotAvailable", err)
				}
				want := a100.want(1)
				fc.zero(want)
				checkGPUs(t, s.Gpus, rtx4090.want(0), want)
			})
		}
	}
}

// TestStaticFieldRetried: name, uuid and constraints are cached once read,
// and asked again while they fail.
func TestStaticFieldRetried(t *testing.T) {
	d := newDevice(rtx4090)
	fails := 1
	d.GetNameFunc = func() (string, nvml.Return) {
		if fails > 0 {
			fails--
			return "", nvml.ERROR_TIMEOUT
		}
		return rtx4090.name, nvml.SUCCESS
	}
	c := newCollector(t, newLibrary(d), gpu.Options{})

	s, err := collect(t, c, t0)
	if !errors.Is(err, nvml.ERROR_TIMEOUT) {
		t.Fatalf("tick 0: Collect() = %v; want ERROR_TIMEOUT", err)
	}
	noName := rtx4090.want(0)
	noName.Name = ""
	checkGPUs(t, s.Gpus, noName)

	for tick := 1; tick < 3; tick++ {
		s, err = collect(t, c, t0.Add(time.Duration(tick)*time.Second))
		if err != nil {
			t.Fatalf("tick %d: Collect() = %v; want nil", tick, err)
		}
		checkGPUs(t, s.Gpus, rtx4090.want(0))
	}
	if n := len(d.GetNameCalls()); n != 2 {
		t.Errorf("GetName called %d times; want 2 (failed once, then cached)", n)
	}
	if n := len(d.GetUUIDCalls()); n != 2 {
		t.Errorf("GetUUID called %d times; want 2 (asked again with the name)", n)
	}
}

func TestInitFails(t *testing.T) {
	const retry = 10 * time.Second
	tests := []struct {
		name         string
		init         func() nvml.Return
		notAvailable bool
		wantErr      string
	}{
		{"library not found", func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }, true, "no NVIDIA driver"},
		{"driver not loaded", func() nvml.Return { return nvml.ERROR_DRIVER_NOT_LOADED }, true, "driver not loaded"},
		{"no permission", func() nvml.Return { return nvml.ERROR_NO_PERMISSION }, true, "no permission"},
		{"version mismatch", func() nvml.Return { return nvml.ERROR_LIB_RM_VERSION_MISMATCH }, false, "ERROR_LIB_RM_VERSION_MISMATCH"},
		{"panic", func() nvml.Return { panic("dlopen went wrong") }, false, "panicked: dlopen went wrong"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lib := newLibrary(newDevice(rtx4090))
			lib.InitFunc = tt.init
			c := newCollector(t, lib, gpu.Options{RetryInterval: retry})

			steps := []struct {
				at        time.Duration
				wantInits int
			}{
				{0, 1},
				{retry - time.Second, 1}, // within the interval: the old answer
				{retry, 2},
				{retry + time.Second, 2},
			}
			for _, st := range steps {
				s, err := collect(t, c, t0.Add(st.at))
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("at +%v: Collect() = %v; want an error containing %q", st.at, err, tt.wantErr)
				}
				if got := errors.Is(err, telemetry.ErrNotAvailable); got != tt.notAvailable {
					t.Errorf("at +%v: errors.Is(%v, ErrNotAvailable) = %v; want %v", st.at, err, got, tt.notAvailable)
				}
				if len(s.Gpus) != 0 {
					t.Errorf("at +%v: got %d GPUs; want none", st.at, len(s.Gpus))
				}
				if n := len(lib.InitCalls()); n != st.wantInits {
					t.Errorf("at +%v: Init called %d times; want %d", st.at, n, st.wantInits)
				}
			}

			// The driver shows up: found at the next retry, not before.
			lib.InitFunc = func() nvml.Return { return nvml.SUCCESS }
			if _, err := collect(t, c, t0.Add(2*retry-time.Second)); err == nil {
				t.Errorf("before the retry: Collect() = nil; want the old error")
			}
			s, err := collect(t, c, t0.Add(2*retry))
			if err != nil {
				t.Fatalf("at the retry: Collect() = %v; want nil", err)
			}
			checkGPUs(t, s.Gpus, rtx4090.want(0))
			if n := len(lib.ShutdownCalls()); n != 0 {
				t.Errorf("Shutdown called %d times before Close; want 0", n)
			}
		})
	}
}

func TestInitRetryTiming(t *testing.T) {
	tests := []struct {
		name      string
		opts      gpu.Options
		next      time.Duration // second call, after t0
		wantInits int
	}{
		{"default interval, too early", gpu.Options{}, gpu.DefaultRetryInterval - time.Millisecond, 1},
		{"default interval, due", gpu.Options{}, gpu.DefaultRetryInterval, 2},
		{"negative interval means default", gpu.Options{RetryInterval: -time.Second}, time.Second, 1},
		{"clock went back", gpu.Options{}, -time.Hour, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lib := newLibrary()
			lib.InitFunc = func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }
			c := newCollector(t, lib, tt.opts)
			for _, at := range []time.Duration{0, tt.next} {
				if _, err := collect(t, c, t0.Add(at)); !errors.Is(err, telemetry.ErrNotAvailable) {
					t.Fatalf("at %+v: Collect() = %v; want ErrNotAvailable", at, err)
				}
			}
			if n := len(lib.InitCalls()); n != tt.wantInits {
				t.Errorf("Init called %d times; want %d", n, tt.wantInits)
			}
		})
	}
}

func TestZeroGPUs(t *testing.T) {
	lib := newLibrary()
	c := newCollector(t, lib, gpu.Options{})

	for _, at := range []time.Duration{0, 30 * time.Second} {
		s, err := collect(t, c, t0.Add(at))
		if !errors.Is(err, telemetry.ErrNotAvailable) || !strings.Contains(err.Error(), "no NVIDIA GPU") {
			t.Fatalf("at +%v: Collect() = %v; want ErrNotAvailable saying no NVIDIA GPU", at, err)
		}
		if len(s.Gpus) != 0 {
			t.Errorf("at +%v: got %d GPUs; want none", at, len(s.Gpus))
		}
	}
	if n := len(lib.DeviceGetCountCalls()); n != 1 {
		t.Errorf("DeviceGetCount called %d times within the retry interval; want 1", n)
	}

	// A GPU appears (eGPU plugged in, driver bound): found at the retry,
	// without initialising NVML again.
	lib.handles, lib.handleErr = []nvml.Device{newDevice(rtx4090)}, []nvml.Return{nvml.SUCCESS}
	s, err := collect(t, c, t0.Add(gpu.DefaultRetryInterval))
	if err != nil {
		t.Fatalf("after the interval: Collect() = %v; want nil", err)
	}
	checkGPUs(t, s.Gpus, rtx4090.want(0))
	if n := len(lib.InitCalls()); n != 1 {
		t.Errorf("Init called %d times; want 1", n)
	}
}

func TestGPULostAndBack(t *testing.T) {
	for _, lost := range []nvml.Return{nvml.ERROR_GPU_IS_LOST, nvml.ERROR_GPU_NOT_FOUND} {
		t.Run(lost.String(), func(t *testing.T) {
			d1 := newDevice(a100)
			d1.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 0, lost }
			lib := newLibrary(newDevice(rtx4090), d1)
			c := newCollector(t, lib, gpu.Options{})

			// Tick 0: GPU 1 falls off the bus mid-read.
			s, err := collect(t, c, t0)
			if !errors.Is(err, lost) || !strings.Contains(err.Error(), "gpu 1: temperature") {
				t.Fatalf("tick 0: Collect() = %v; want %v naming gpu 1: temperature", err, lost)
			}
			checkGPUs(t, s.Gpus, rtx4090.want(0))
			if n := len(d1.GetPowerUsageCalls()); n != 0 {
				t.Errorf("a lost GPU was still asked for power %d times; want 0", n)
			}

			// Tick 1: enumerated again; its handle cannot be had yet.
			lib.handleErr[1] = lost
			s, err = collect(t, c, t0.Add(time.Second))
			if !errors.Is(err, lost) || !strings.Contains(err.Error(), "gpu 1: handle") {
				t.Fatalf("tick 1: Collect() = %v; want %v naming gpu 1: handle", err, lost)
			}
			checkGPUs(t, s.Gpus, rtx4090.want(0))

			// Tick 2: the GPU is back after a reset, as a fresh handle.
			lib.handles[1], lib.handleErr[1] = newDevice(a100), nvml.SUCCESS
			s, err = collect(t, c, t0.Add(2*time.Second))
			if err != nil {
				t.Fatalf("tick 2: Collect() = %v; want nil", err)
			}
			checkGPUs(t, s.Gpus, rtx4090.want(0), a100.want(1))

			// Tick 3: settled; no more enumeration.
			before := len(lib.DeviceGetHandleByIndexCalls())
			if _, err := collect(t, c, t0.Add(3*time.Second)); err != nil {
				t.Fatalf("tick 3: Collect() = %v; want nil", err)
			}
			if n := len(lib.DeviceGetHandleByIndexCalls()) - before; n != 0 {
				t.Errorf("tick 3: DeviceGetHandleByIndex called %d times; want 0", n)
			}
			if n := len(lib.InitCalls()); n != 1 {
				t.Errorf("Init called %d times; want 1", n)
			}
		})
	}
}

// TestUninitialisedStartsOver: NVML shut down under the collector (another
// user's Shutdown) is initialised again on the next call.
func TestUninitialisedStartsOver(t *testing.T) {
	d := newDevice(rtx4090)
	uninit := true
	d.GetPowerUsageFunc = func() (uint32, nvml.Return) {
		if uninit {
			return 0, nvml.ERROR_UNINITIALIZED
		}
		return rtx4090.powerMW, nvml.SUCCESS
	}
	lib := newLibrary(d)
	c := newCollector(t, lib, gpu.Options{})

	if _, err := collect(t, c, t0); !errors.Is(err, nvml.ERROR_UNINITIALIZED) {
		t.Fatalf("tick 0: Collect() = %v; want ERROR_UNINITIALIZED", err)
	}
	uninit = false
	s, err := collect(t, c, t0.Add(time.Second))
	if err != nil {
		t.Fatalf("tick 1: Collect() = %v; want nil", err)
	}
	checkGPUs(t, s.Gpus, rtx4090.want(0))
	if n := len(lib.InitCalls()); n != 2 {
		t.Errorf("Init called %d times; want 2", n)
	}
}

func TestLibraryPanicsRecovered(t *testing.T) {
	tests := []struct {
		name  string
		setup func(l *fakeLibrary)
		want  []*gamesav1.GPU
	}{
		{
			name: "DeviceGetCount",
			setup: func(l *fakeLibrary) {
				l.DeviceGetCountFunc = func() (int, nvml.Return) { panic("count") }
			},
		},
		{
			name: "DeviceGetHandleByIndex",
			setup: func(l *fakeLibrary) {
				orig := l.DeviceGetHandleByIndexFunc
				l.DeviceGetHandleByIndexFunc = func(i int) (nvml.Device, nvml.Return) {
					if i == 1 {
						panic("handle")
					}
					return orig(i)
				}
			},
			want: []*gamesav1.GPU{rtx4090.want(0)},
		},
		{
			name: "every device method",
			setup: func(l *fakeLibrary) {
				l.handles[1] = &mock.Device{} // every method panics
			},
			want: []*gamesav1.GPU{rtx4090.want(0), {Index: 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lib := newLibrary(newDevice(rtx4090), newDevice(a100))
			tt.setup(lib)
			c := newCollector(t, lib, gpu.Options{})
			s, err := collect(t, c, t0)
			if err == nil || !strings.Contains(err.Error(), "panicked") {
				t.Fatalf("Collect() = %v; want an error saying the library panicked", err)
			}
			checkGPUs(t, s.Gpus, tt.want...)
		})
	}
}

func TestClose(t *testing.T) {
	lib := newLibrary(newDevice(rtx4090))
	c := gpu.NewWithLibrary(lib, gpu.Options{})

	if err := c.Close(); err != nil {
		t.Fatalf("Close() before Collect = %v; want nil", err)
	}
	if n := len(lib.ShutdownCalls()); n != 0 {
		t.Errorf("Shutdown called %d times before any Collect; want 0", n)
	}
	if _, err := collect(t, c, t0); err != nil {
		t.Fatalf("Collect() = %v; want nil", err)
	}
	for range 2 {
		if err := c.Close(); err != nil {
			t.Fatalf("Close() = %v; want nil", err)
		}
	}
	if n := len(lib.ShutdownCalls()); n != 1 {
		t.Errorf("Shutdown called %d times after two Close; want 1", n)
	}

	// A later Collect starts over.
	s, err := collect(t, c, t0.Add(time.Second))
	if err != nil {
		t.Fatalf("Collect() after Close = %v; want nil", err)
	}
	checkGPUs(t, s.Gpus, rtx4090.want(0))
	if n := len(lib.InitCalls()); n != 2 {
		t.Errorf("Init called %d times; want 2", n)
	}

	lib.ShutdownFunc = func() nvml.Return { return nvml.ERROR_UNKNOWN }
	if err := c.Close(); !errors.Is(err, nvml.ERROR_UNKNOWN) {
		t.Errorf("Close() = %v; want ERROR_UNKNOWN", err)
	}
}

func TestCollectCancelled(t *testing.T) {
	lib := newLibrary(newDevice(rtx4090))
	c := newCollector(t, lib, gpu.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := &gamesav1.Sample{Time: timestamppb.New(t0)}
	if err := c.Collect(ctx, s); !errors.Is(err, context.Canceled) {
		t.Fatalf("Collect(cancelled) = %v; want context.Canceled", err)
	}
	if n := len(lib.InitCalls()); n != 0 {
		t.Errorf("Init called %d times with a cancelled context; want 0", n)
	}
}

func BenchmarkCollect(b *testing.B) {
	c := newCollector(b, newLibrary(newDevice(rtx4090), newDevice(a100)), gpu.Options{})
	if _, err := collect(b, c, t0); err != nil {
		b.Fatalf("Collect() = %v; want nil", err)
	}
	ctx := context.Background()
	ts := timestamppb.New(t0)
	b.ReportAllocs()
	for b.Loop() {
		s := &gamesav1.Sample{Time: ts}
		if err := c.Collect(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLogsStateChanges: a machine without a driver logs its reason once,
// not once per retry; finding the GPUs is logged too.
func TestLogsStateChanges(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	lib := newLibrary(newDevice(rtx4090))
	lib.InitFunc = func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }
	c := newCollector(t, lib, gpu.Options{Logger: log})

	// The errors are TestInitFails' business; here only the log matters.
	for i := range 3 {
		collect(t, c, t0.Add(time.Duration(i)*gpu.DefaultRetryInterval))
	}
	lib.InitFunc = func() nvml.Return { return nvml.SUCCESS }
	collect(t, c, t0.Add(3*gpu.DefaultRetryInterval))

	out := buf.String()
	if n := len(lib.InitCalls()); n != 4 {
		t.Fatalf("Init called %d times; want 4", n)
	}
	if n := strings.Count(out, "GPUs not readable"); n != 1 {
		t.Errorf("logged %d times that GPUs are not readable; want 1:\n%s", n, out)
	}
	if !strings.Contains(out, `msg="nvml: GPUs enumerated" count=1`) {
		t.Errorf("log does not say the GPU was found:\n%s", out)
	}
}

// TestCloseWhileCollecting: Close may come from another goroutine (the
// agent shutting down) while the loop is still collecting.
func TestCloseWhileCollecting(t *testing.T) {
	lib := newLibrary(newDevice(rtx4090), newDevice(a100))
	c := gpu.NewWithLibrary(lib, gpu.Options{})
	done := make(chan error)
	go func() {
		var err error
		for i := range 200 {
			if _, e := collect(t, c, t0.Add(time.Duration(i)*time.Second)); e != nil {
				err = e
			}
		}
		done <- err
	}()
	for range 20 {
		if err := c.Close(); err != nil {
			t.Errorf("Close() = %v; want nil", err)
		}
	}
	if err := <-done; err != nil {
		t.Errorf("Collect() while closing = %v; want nil", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("final Close() = %v; want nil", err)
	}
	if inits, shutdowns := len(lib.InitCalls()), len(lib.ShutdownCalls()); inits != shutdowns {
		t.Errorf("Init called %d times, Shutdown %d; want them equal", inits, shutdowns)
	}
}
