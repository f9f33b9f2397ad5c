package power_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/krystalstack/gamesa/optimizer/power"
)

func TestParseMode(t *testing.T) {
	tests := []struct {
		in   string
		want power.Mode
		ok   bool
	}{
		{"gaming", power.Gaming, true},
		{"GAMING", power.Gaming, true},
		{"balanced", power.Balanced, true},
		{"max-battery", power.MaxBattery, true},
		{"max battery", power.MaxBattery, true},
		{" Max_Performance\n", power.MaxPerformance, true},
		{"MAX_BATTERY", power.MaxBattery, true},
		{"", 0, false},
		{"turbo", 0, false},
		{"maxbattery", 0, false},
		{"gaming!", 0, false},
		{"Mode(2)", 0, false},
	}
	for _, tt := range tests {
		got, err := power.ParseMode(tt.in)
		if tt.ok {
			if err != nil || got != tt.want {
				t.Errorf("ParseMode(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			continue
		}
		if !errors.Is(err, power.ErrUnknownMode) {
			t.Errorf("ParseMode(%q) = %v, %v; want an error wrapping ErrUnknownMode", tt.in, got, err)
			continue
		}
		for _, name := range []string{"max_battery", "balanced", "max_performance", "gaming"} {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("ParseMode(%q) error %q; want it to list %q", tt.in, err, name)
			}
		}
	}
}

func TestModeNames(t *testing.T) {
	want := []string{"MAX_BATTERY", "BALANCED", "MAX_PERFORMANCE", "GAMING"}
	modes := power.Modes()
	if len(modes) != len(want) {
		t.Fatalf("Modes() = %v; want %d modes", modes, len(want))
	}
	for i, m := range modes {
		if m.String() != want[i] || !m.Valid() {
			t.Errorf("Modes()[%d] = %q (valid %v); want %q", i, m, m.Valid(), want[i])
		}
		back, err := power.ParseMode(m.String())
		if err != nil || back != m {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", m, back, err, m)
		}
		text, err := m.MarshalText()
		if err != nil || string(text) != want[i] {
			t.Errorf("%v.MarshalText() = %q, %v; want %q", m, text, err, want[i])
		}
		var u power.Mode
		if err := u.UnmarshalText([]byte(strings.ToLower(want[i]))); err != nil || u != m {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", strings.ToLower(want[i]), u, err, m)
		}
	}
	var zero power.Mode
	if zero != power.Balanced {
		t.Errorf("zero Mode = %v; want BALANCED", zero)
	}
	bad := power.Mode(9)
	if bad.Valid() || bad.String() != "Mode(9)" {
		t.Errorf("Mode(9): valid %v, %q; want invalid, \"Mode(9)\"", bad.Valid(), bad)
	}
	if _, err := bad.MarshalText(); !errors.Is(err, power.ErrUnknownMode) {
		t.Errorf("Mode(9).MarshalText() error = %v; want ErrUnknownMode", err)
	}
	u := power.Gaming
	if err := u.UnmarshalText([]byte("warp")); err == nil || u != power.Gaming {
		t.Errorf("UnmarshalText(warp) = %v, mode %v; want an error and the mode unchanged", err, u)
	}
}
