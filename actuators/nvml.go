//go:build linux && cgo

package actuators

import (
	"fmt"
	"io/fs"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// NVML implements GPUPower over go-nvml. Build it with OpenNVML (the
// system's libnvidia-ml) or NewNVML (any nvml.Interface, such as go-nvml's
// mock), and Close it when done. Its methods may be called from several
// goroutines.
type NVML struct {
	mu  sync.Mutex
	lib nvml.Interface
	// initialised: Init succeeded and a Shutdown is owed.
	initialised bool
}

var _ GPUPower = (*NVML)(nil)

// OpenNVML loads the system's NVML library and initialises it. A machine
// without an NVIDIA driver answers an error wrapping ErrUnavailable.
func OpenNVML() (*NVML, error) {
	return NewNVML(nil)
}

// NewNVML initialises lib (nil: the system library). It exists only in
// cgo builds, because go-nvml's types do.
func NewNVML(lib nvml.Interface) (n *NVML, err error) {
	if lib == nil {
		lib = nvml.New()
	}
	defer func() {
		// go-nvml panics when the library cannot be loaded on some
		// paths; no GPU is never worth taking the agent down.
		if p := recover(); p != nil {
			n, err = nil, fmt.Errorf("nvml: init: %v: %w", p, ErrUnavailable)
		}
	}()
	if ret := lib.Init(); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("nvml: init: %w", nvmlErr(ret))
	}
	return &NVML{lib: lib, initialised: true}, nil
}

// Close shuts NVML down. Power limits stay as they are.
func (n *NVML) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.initialised {
		return nil
	}
	n.initialised = false
	if ret := n.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("nvml: shutdown: %w", nvmlErr(ret))
	}
	return nil
}

// call runs fn with NVML initialised, turning a go-nvml panic into an error.
func (n *NVML) call(fn func() error) (err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.initialised {
		return fmt.Errorf("nvml: %w", ErrClosed)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("nvml: %v", p)
		}
	}()
	return fn()
}

// Count returns the number of GPUs.
func (n *NVML) Count() (int, error) {
	var c int
	err := n.call(func() error {
		v, ret := n.lib.DeviceGetCount()
		if ret != nvml.SUCCESS {
			return fmt.Errorf("nvml: device count: %w", nvmlErr(ret))
		}
		c = v
		return nil
	})
	return c, err
}

func (n *NVML) device(index int) (nvml.Device, error) {
	d, ret := n.lib.DeviceGetHandleByIndex(index)
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("nvml: gpu%d: %w", index, nvmlErr(ret))
	}
	return d, nil
}

// PowerLimit returns the GPU's power management limit and its constraints,
// in mW.
func (n *NVML) PowerLimit(index int) (limit, lo, hi uint32, err error) {
	err = n.call(func() error {
		d, err := n.device(index)
		if err != nil {
			return err
		}
		var ret nvml.Return
		if limit, ret = d.GetPowerManagementLimit(); ret != nvml.SUCCESS {
			return fmt.Errorf("nvml: gpu%d: power limit: %w", index, nvmlErr(ret))
		}
		if lo, hi, ret = d.GetPowerManagementLimitConstraints(); ret != nvml.SUCCESS {
			return fmt.Errorf("nvml: gpu%d: power limit constraints: %w", index, nvmlErr(ret))
		}
		return nil
	})
	return limit, lo, hi, err
}

// SetPowerLimit sets the GPU's power management limit, in mW. It needs
// root; the driver keeps it until it is unloaded or the limit is set again.
func (n *NVML) SetPowerLimit(index int, mw uint32) error {
	return n.call(func() error {
		d, err := n.device(index)
		if err != nil {
			return err
		}
		if ret := d.SetPowerManagementLimit(mw); ret != nvml.SUCCESS {
			return fmt.Errorf("nvml: gpu%d: set power limit %d mW: %w", index, mw, nvmlErr(ret))
		}
		return nil
	})
}

// nvmlErr maps an NVML return code onto the package's errors.
func nvmlErr(ret nvml.Return) error {
	switch ret {
	case nvml.ERROR_NO_PERMISSION:
		return fmt.Errorf("%v: %w", ret, fs.ErrPermission)
	case nvml.ERROR_NOT_SUPPORTED, nvml.ERROR_LIBRARY_NOT_FOUND, nvml.ERROR_DRIVER_NOT_LOADED, nvml.ERROR_FUNCTION_NOT_FOUND:
		return fmt.Errorf("%v: %w", ret, ErrUnavailable)
	case nvml.ERROR_GPU_IS_LOST, nvml.ERROR_NOT_FOUND:
		return fmt.Errorf("%v: %w", ret, ErrGone)
	}
	return ret
}
