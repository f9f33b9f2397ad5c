//go:build linux && cgo

package gpu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

// Collector reads every NVIDIA GPU of the machine into Sample.gpus through
// NVML. It implements telemetry.Collector; build it with New or
// NewWithLibrary.
type Collector struct {
	lib   nvml.Interface
	retry time.Duration
	log   *slog.Logger

	// mu lets Close run from another goroutine than Collect.
	mu sync.Mutex
	// initialised: lib.Init succeeded and a Shutdown is owed.
	initialised bool
	// memV2 and eventReasons say whether to call the newer NVML entry
	// points; they start from a symbol lookup and drop to the older ones
	// for good when the newer ones turn out to be missing.
	memV2, eventReasons bool
	// devices are the cached handles, in index order; nil means enumerate.
	devices []*device
	// stale: a handle may be invalid (a GPU was lost, or its handle could
	// not be had), so enumerate again before the next read.
	stale bool
	// failErr is the answer until retryAt, after NVML was not usable.
	failErr error
	retryAt time.Time
	// lastFail is the last failure logged at Info, so that a machine
	// without a GPU logs its reason once rather than every interval.
	lastFail string
}

// device is one GPU's handle and what does not change while it is attached.
type device struct {
	index int
	h     nvml.Device
	// static: name, uuid and the power limit constraints are read (or
	// unsupported); until then they are read again on every call.
	static     bool
	name, uuid string
	minLimitW  float64
	maxLimitW  float64
}

var _ telemetry.Collector = (*Collector)(nil)

// New returns a Collector over the system's NVML library
// (libnvidia-ml.so.1), loaded on the first Collect.
func New(opts Options) *Collector {
	return NewWithLibrary(nil, opts)
}

// NewWithLibrary returns a Collector over lib, typically a go-nvml mock in
// tests; nil means the system library, as New. It exists only in cgo builds
// because go-nvml's types do.
func NewWithLibrary(lib nvml.Interface, opts Options) *Collector {
	if lib == nil {
		lib = nvml.New()
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = DefaultRetryInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Collector{lib: lib, retry: opts.RetryInterval, log: opts.Logger}
}

// Collect appends one GPU message per NVIDIA GPU to s.Gpus, in index order.
func (c *Collector) Collect(ctx context.Context, s *gamesav1.Sample) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()

	now := s.GetTime().AsTime()
	if c.failErr != nil {
		// A wait longer than the interval means the clock went back; retry
		// rather than stay silent until it catches up.
		if wait := c.retryAt.Sub(now); wait > 0 && wait <= c.retry {
			return c.failErr
		}
		c.failErr = nil
	}
	if !c.initialised {
		if err := c.init(); err != nil {
			return c.fail(now, err)
		}
	}

	var errs []error
	if c.devices == nil || c.stale {
		enumErrs, err := c.enumerate()
		if err != nil {
			if errors.Is(err, telemetry.ErrNotAvailable) {
				return c.fail(now, err)
			}
			return err
		}
		errs = enumErrs
	}

	s.Gpus = slices.Grow(s.Gpus, len(c.devices))
	for _, d := range c.devices {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		g, r := c.read(d)
		errs = append(errs, r.errs...)
		if r.reinit {
			// NVML was shut down under us (another user's Shutdown): start
			// over on the next call.
			c.initialised, c.devices, c.stale = false, nil, false
			break
		}
		if r.lost {
			c.stale = true
			c.log.Warn("nvml: GPU lost", "index", d.index, "uuid", d.uuid)
			continue
		}
		s.Gpus = append(s.Gpus, g)
	}
	return errors.Join(errs...)
}

// Close shuts NVML down if Collect initialised it. A later Collect starts
// over.
func (c *Collector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.initialised {
		return nil
	}
	c.initialised, c.devices, c.stale = false, nil, false
	ret, err := call(c.lib.Shutdown)
	if err != nil {
		return fmt.Errorf("nvml shutdown: %w", err)
	}
	if ret != nvml.SUCCESS {
		return fmt.Errorf("nvml shutdown: %w", ret)
	}
	return nil
}

// fail remembers err as the answer until the retry interval has passed.
func (c *Collector) fail(now time.Time, err error) error {
	if msg := err.Error(); msg != c.lastFail {
		c.lastFail = msg
		c.log.Info("nvml: GPUs not readable", "err", err, "retry_in", c.retry)
	} else {
		c.log.Debug("nvml: GPUs still not readable", "err", err)
	}
	c.failErr, c.retryAt = err, now.Add(c.retry)
	return err
}

// init loads and initialises NVML and finds which newer entry points the
// loaded library has.
func (c *Collector) init() error {
	ret, err := call(c.lib.Init)
	if err != nil {
		return fmt.Errorf("nvml init: %w", err)
	}
	switch ret {
	case nvml.SUCCESS:
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return fmt.Errorf("nvml init: no NVIDIA driver (libnvidia-ml.so.1 not loadable, %w): %w", ret, telemetry.ErrNotAvailable)
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return fmt.Errorf("nvml init: NVIDIA kernel driver not loaded (%w): %w", ret, telemetry.ErrNotAvailable)
	case nvml.ERROR_NO_PERMISSION:
		return fmt.Errorf("nvml init: no permission to use the NVIDIA driver (%w): %w", ret, telemetry.ErrNotAvailable)
	default:
		return fmt.Errorf("nvml init: %w", ret)
	}
	c.initialised = true
	// With the system library, calling a symbol the driver lacks is a fatal
	// dynamic-linker error, not a Go panic, so look before calling.
	c.memV2 = c.hasSymbol("nvmlDeviceGetMemoryInfo_v2")
	c.eventReasons = c.hasSymbol("nvmlDeviceGetCurrentClocksEventReasons")
	return nil
}

// hasSymbol reports whether the loaded library exports name. A library that
// cannot answer (a test double without Extensions) is taken to have every
// symbol: calling a missing method of a double panics, which is recovered.
func (c *Collector) hasSymbol(name string) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = true
		}
	}()
	ext := c.lib.Extensions()
	if ext == nil {
		return true
	}
	return ext.LookupSymbol(name) == nil
}

// enumerate caches a handle per GPU. Handles that cannot be had are returned
// as errors and leave the list stale, so the next call tries again. An error
// wrapping ErrNotAvailable means there is no GPU at all.
func (c *Collector) enumerate() ([]error, error) {
	var n int
	ret, err := call(func() (r nvml.Return) {
		n, r = c.lib.DeviceGetCount()
		return r
	})
	if err != nil {
		return nil, fmt.Errorf("nvml: device count: %w", err)
	}
	if ret != nvml.SUCCESS {
		if ret == nvml.ERROR_UNINITIALIZED {
			c.initialised = false
		}
		return nil, fmt.Errorf("nvml: device count: %w", ret)
	}
	if n <= 0 {
		c.devices, c.stale = nil, false
		return nil, fmt.Errorf("nvml: no NVIDIA GPU: %w", telemetry.ErrNotAvailable)
	}

	var errs []error
	devices := make([]*device, 0, n)
	stale := false
	for i := range n {
		var h nvml.Device
		ret, err := call(func() (r nvml.Return) {
			h, r = c.lib.DeviceGetHandleByIndex(i)
			return r
		})
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("gpu %d: handle: %w", i, err))
		case ret != nvml.SUCCESS:
			errs = append(errs, fmt.Errorf("gpu %d: handle: %w", i, ret))
		case h == nil:
			errs = append(errs, fmt.Errorf("gpu %d: handle: library returned none", i))
		default:
			devices = append(devices, &device{index: i, h: h})
			continue
		}
		stale = true
	}
	if !stale {
		// Happens once at start and once after each recovery.
		c.log.Info("nvml: GPUs enumerated", "count", len(devices))
		c.lastFail = ""
	}
	c.devices, c.stale = devices, stale
	return errs, nil
}

// reading gathers the outcome of one GPU's queries.
type reading struct {
	index int
	errs  []error
	// lost: the GPU fell off the bus; skip its remaining queries.
	lost bool
	// reinit: NVML reports itself uninitialised.
	reinit bool
}

// query runs one NVML query for field; f stores the values when it returns
// SUCCESS. NOT_SUPPORTED leaves the field 0 without error.
func (r *reading) query(field string, f func() nvml.Return) {
	if r.lost || r.reinit {
		return
	}
	ret, err := call(f)
	r.record(field, ret, err)
}

// record classifies a query's outcome.
func (r *reading) record(field string, ret nvml.Return, err error) {
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("gpu %d: %s: %w", r.index, field, err))
		return
	}
	switch ret {
	case nvml.SUCCESS, nvml.ERROR_NOT_SUPPORTED:
		return
	case nvml.ERROR_GPU_IS_LOST, nvml.ERROR_GPU_NOT_FOUND:
		r.lost = true
	case nvml.ERROR_UNINITIALIZED:
		r.reinit = true
	}
	r.errs = append(r.errs, fmt.Errorf("gpu %d: %s: %w", r.index, field, ret))
}

// queryNewer runs newer if *use is set and falls back to older for good when
// newer is missing from the library (it panics, as a double does, or NVML
// answers FUNCTION_NOT_FOUND or ARGUMENT_VERSION_MISMATCH).
func (r *reading) queryNewer(field string, use *bool, newer, older func() nvml.Return, log *slog.Logger) {
	if r.lost || r.reinit {
		return
	}
	if *use {
		ret, err := call(newer)
		if err == nil && ret != nvml.ERROR_FUNCTION_NOT_FOUND && ret != nvml.ERROR_ARGUMENT_VERSION_MISMATCH {
			r.record(field, ret, nil)
			return
		}
		*use = false
		log.Debug("nvml: newer query unavailable, using the older one", "field", field, "ret", ret, "err", err)
	}
	r.query(field, older)
}

// read queries one GPU. The returned message holds what could be read.
func (c *Collector) read(d *device) (*gamesav1.GPU, reading) {
	r := reading{index: d.index}
	h := d.h
	if !d.static {
		c.readStatic(d, &r)
	}
	g := &gamesav1.GPU{
		Index:              uint32(d.index),
		Uuid:               d.uuid,
		Name:               d.name,
		MinPowerLimitWatts: d.minLimitW,
		MaxPowerLimitWatts: d.maxLimitW,
	}

	r.query("utilization", func() nvml.Return {
		u, ret := h.GetUtilizationRates()
		if ret == nvml.SUCCESS {
			g.UtilizationPercent = float64(u.Gpu)
			g.MemoryUtilizationPercent = float64(u.Memory)
		}
		return ret
	})
	r.queryNewer("memory", &c.memV2, func() nvml.Return {
		// v2 counts memory reserved by the driver as used, as nvidia-smi
		// does; v1 leaves it out.
		m, ret := h.GetMemoryInfo_v2()
		if ret == nvml.SUCCESS {
			g.MemoryUsedBytes, g.MemoryTotalBytes = m.Used, m.Total
		}
		return ret
	}, func() nvml.Return {
		m, ret := h.GetMemoryInfo()
		if ret == nvml.SUCCESS {
			g.MemoryUsedBytes, g.MemoryTotalBytes = m.Used, m.Total
		}
		return ret
	}, c.log)
	r.query("temperature", func() nvml.Return {
		t, ret := h.GetTemperature(nvml.TEMPERATURE_GPU)
		if ret == nvml.SUCCESS {
			g.TemperatureCelsius = float64(t)
		}
		return ret
	})
	r.query("power usage", func() nvml.Return {
		mw, ret := h.GetPowerUsage()
		if ret == nvml.SUCCESS {
			g.PowerWatts = milliwatts(mw)
		}
		return ret
	})
	r.query("power limit", func() nvml.Return {
		mw, ret := h.GetEnforcedPowerLimit()
		if ret == nvml.SUCCESS {
			g.PowerLimitWatts = milliwatts(mw)
		}
		return ret
	})
	r.query("graphics clock", func() nvml.Return {
		mhz, ret := h.GetClockInfo(nvml.CLOCK_GRAPHICS)
		if ret == nvml.SUCCESS {
			g.GraphicsClockMhz = mhz
		}
		return ret
	})
	r.query("sm clock", func() nvml.Return {
		mhz, ret := h.GetClockInfo(nvml.CLOCK_SM)
		if ret == nvml.SUCCESS {
			g.SmClockMhz = mhz
		}
		return ret
	})
	r.query("memory clock", func() nvml.Return {
		mhz, ret := h.GetClockInfo(nvml.CLOCK_MEM)
		if ret == nvml.SUCCESS {
			g.MemoryClockMhz = mhz
		}
		return ret
	})
	r.query("fan speed", func() nvml.Return {
		// nvmlDeviceGetFanSpeed reads fan 0 and exists in every driver,
		// unlike _v2. NVML documents that it may exceed 100 %; it is
		// passed on as read.
		pct, ret := h.GetFanSpeed()
		if ret == nvml.SUCCESS {
			g.FanSpeedPercent = pct
		}
		return ret
	})
	setReasons := func(mask uint64) {
		g.ThrottleReasonsMask = mask
		g.ThrottleReasons = reasonNames(mask)
	}
	r.queryNewer("clocks event reasons", &c.eventReasons, func() nvml.Return {
		mask, ret := h.GetCurrentClocksEventReasons()
		if ret == nvml.SUCCESS {
			setReasons(mask)
		}
		return ret
	}, func() nvml.Return {
		// Drivers before R535 name the same mask "throttle reasons".
		mask, ret := h.GetCurrentClocksThrottleReasons()
		if ret == nvml.SUCCESS {
			setReasons(mask)
		}
		return ret
	}, c.log)
	r.query("performance state", func() nvml.Return {
		p, ret := h.GetPerformanceState()
		// PSTATE_UNKNOWN (32) has no place in 0..15; it is left 0 like an
		// unsupported field.
		if ret == nvml.SUCCESS && p >= nvml.PSTATE_0 && p <= nvml.PSTATE_15 {
			g.Pstate = uint32(p)
		}
		return ret
	})
	return g, r
}

// readStatic fills what does not change while the GPU stays attached. A
// failure other than NOT_SUPPORTED leaves d.static unset, so the next call
// asks again.
func (c *Collector) readStatic(d *device, r *reading) {
	before := len(r.errs)
	h := d.h
	r.query("name", func() nvml.Return {
		name, ret := h.GetName()
		if ret == nvml.SUCCESS {
			d.name = name
		}
		return ret
	})
	r.query("uuid", func() nvml.Return {
		uuid, ret := h.GetUUID()
		if ret == nvml.SUCCESS {
			d.uuid = uuid
		}
		return ret
	})
	r.query("power limit constraints", func() nvml.Return {
		minMW, maxMW, ret := h.GetPowerManagementLimitConstraints()
		if ret == nvml.SUCCESS {
			d.minLimitW, d.maxLimitW = milliwatts(minMW), milliwatts(maxMW)
		}
		return ret
	})
	d.static = len(r.errs) == before && !r.lost && !r.reinit
}

// call runs f, turning a panic inside go-nvml into an error: the library is
// a dlopened C library behind generated bindings, and one bad symbol must not
// take the agent down.
func call(f func() nvml.Return) (ret nvml.Return, err error) {
	defer func() {
		if p := recover(); p != nil {
			ret, err = nvml.ERROR_UNKNOWN, fmt.Errorf("nvml panicked: %v", p)
		}
	}()
	return f(), nil
}

func milliwatts(mw uint32) float64 {
	return float64(mw) / 1000
}
