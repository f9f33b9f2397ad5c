//go:build linux && cgo

package gpu

import (
	"math/bits"
	"strconv"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// reasonNames names the set bits of a clocks event (throttle) reason mask,
// lowest bit first. Bits this NVML version does not define come out as their
// hex value ("0x800"), so a newer driver's reasons still show up.
func reasonNames(mask uint64) []string {
	if mask == 0 {
		return nil
	}
	names := make([]string, 0, bits.OnesCount64(mask))
	for m := mask; m != 0; m &= m - 1 {
		bit := m & -m
		name := reasonName(bit)
		if name == "" {
			name = "0x" + strconv.FormatUint(bit, 16)
		}
		names = append(names, name)
	}
	return names
}

// reasonName names one bit of the mask, or returns "" for a bit NVML
// v0.13.4-1 does not define. The throttle-era aliases share these values.
func reasonName(bit uint64) string {
	switch bit {
	case nvml.ClocksEventReasonGpuIdle:
		return "gpu_idle"
	case nvml.ClocksEventReasonApplicationsClocksSetting:
		return "applications_clocks_setting"
	case nvml.ClocksEventReasonSwPowerCap:
		return "sw_power_cap"
	case nvml.ClocksThrottleReasonHwSlowdown:
		return "hw_slowdown"
	case nvml.ClocksEventReasonSyncBoost:
		return "sync_boost"
	case nvml.ClocksEventReasonSwThermalSlowdown:
		return "sw_thermal_slowdown"
	case nvml.ClocksThrottleReasonHwThermalSlowdown:
		return "hw_thermal_slowdown"
	case nvml.ClocksThrottleReasonHwPowerBrakeSlowdown:
		return "hw_power_brake_slowdown"
	case nvml.ClocksEventReasonDisplayClockSetting:
		return "display_clock_setting"
	case nvml.ClocksEventReasonBoardLimit:
		return "board_limit"
	case nvml.ClocksEventReasonReliability:
		return "reliability"
	}
	return ""
}
