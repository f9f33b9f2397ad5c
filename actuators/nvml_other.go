//go:build !linux || !cgo

package actuators

import (
	"fmt"
	"runtime"
)

// NVML stands in for the go-nvml GPUPower in builds without cgo (or not on
// Linux): OpenNVML always fails with ErrUnavailable, so callers compile
// unchanged and run without GPUs.
type NVML struct{}

var _ GPUPower = (*NVML)(nil)

func nvmlUnavailable() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("nvml: not linux: %w", ErrUnavailable)
	}
	return fmt.Errorf("nvml: built without cgo: %w", ErrUnavailable)
}

// OpenNVML reports that NVML is not available in this build.
func OpenNVML() (*NVML, error) { return nil, nvmlUnavailable() }

// Close does nothing.
func (n *NVML) Close() error { return nil }

// Count reports that NVML is not available in this build.
func (n *NVML) Count() (int, error) { return 0, nvmlUnavailable() }

// PowerLimit reports that NVML is not available in this build.
func (n *NVML) PowerLimit(index int) (limit, lo, hi uint32, err error) {
	return 0, 0, 0, nvmlUnavailable()
}

// SetPowerLimit reports that NVML is not available in this build.
func (n *NVML) SetPowerLimit(index int, mw uint32) error { return nvmlUnavailable() }
