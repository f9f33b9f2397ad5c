//go:build linux && cgo

package gpu

import (
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestReasonNames(t *testing.T) {
	tests := []struct {
		mask uint64
		want []string
	}{
		{0, nil},
		{0x1, []string{"gpu_idle"}},
		{0x2, []string{"applications_clocks_setting"}},
		{0x4, []string{"sw_power_cap"}},
		{0x8, []string{"hw_slowdown"}},
		{0x10, []string{"sync_boost"}},
		{0x20, []string{"sw_thermal_slowdown"}},
		{0x40, []string{"hw_thermal_slowdown"}},
		{0x80, []string{"hw_power_brake_slowdown"}},
		{0x100, []string{"display_clock_setting"}},
		{0x200, []string{"board_limit"}},
		{0x400, []string{"reliability"}},
		{0x800, []string{"0x800"}},
		{0x4 | 0x40 | 0x1, []string{"gpu_idle", "sw_power_cap", "hw_thermal_slowdown"}},
		{1 << 63, []string{"0x8000000000000000"}},
	}
	for _, tt := range tests {
		if got := reasonNames(tt.mask); !slices.Equal(got, tt.want) {
			t.Errorf("reasonNames(%#x) = %q; want %q", tt.mask, got, tt.want)
		}
	}
}

// FuzzReasonNames: one distinct name per set bit, and the names give the
// mask back.
func FuzzReasonNames(f *testing.F) {
	for _, m := range []uint64{0, 1, 0x7ff, 0x800, 0xffff_ffff_ffff_ffff} {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, mask uint64) {
		names := reasonNames(mask)
		if len(names) != bits.OnesCount64(mask) {
			t.Fatalf("reasonNames(%#x) = %q; want %d names", mask, names, bits.OnesCount64(mask))
		}
		var back uint64
		for _, n := range names {
			bit := nameBit(n)
			if bit == 0 || back&bit != 0 {
				t.Fatalf("reasonNames(%#x) = %q: name %q is unknown or repeated", mask, names, n)
			}
			back |= bit
		}
		if back != mask {
			t.Fatalf("reasonNames(%#x) = %q, which gives back %#x", mask, names, back)
		}
	})
}

// nameBit inverts reasonName for the test.
func nameBit(name string) uint64 {
	if hex, ok := strings.CutPrefix(name, "0x"); ok {
		b, err := strconv.ParseUint(hex, 16, 64)
		if err != nil || reasonName(b) != "" {
			return 0 // a known bit must come out by name
		}
		return b
	}
	for i := range 64 {
		if reasonName(1<<i) == name {
			return 1 << i
		}
	}
	return 0
}
