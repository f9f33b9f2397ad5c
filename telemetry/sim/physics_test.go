package sim

import (
	"context"
	"math"
	"testing"
	"time"
)

func TestFanDuty(t *testing.T) {
	curve := []FanPoint{{TempC: 40, DutyPercent: 20}, {TempC: 60, DutyPercent: 40}, {TempC: 80, DutyPercent: 100}}
	tests := []struct {
		tempC, want float64
	}{
		{-10, 0.2}, // below the first point: its duty
		{40, 0.2},
		{50, 0.3},
		{60, 0.4},
		{70, 0.7},
		{80, 1},
		{120, 1}, // above the last point: its duty
	}
	for _, tt := range tests {
		if got := fanDuty(curve, tt.tempC); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("fanDuty(%v °C) = %v; want %v", tt.tempC, got, tt.want)
		}
	}
	if got := fanDuty([]FanPoint{{TempC: 50, DutyPercent: 35}}, 90); got != 0.35 {
		t.Errorf("fanDuty(one-point curve) = %v; want 0.35", got)
	}
}

func TestResistance(t *testing.T) {
	cfg := DefaultConfig()
	if got := cfg.resistance(0); math.Abs(got-cfg.FanStoppedResistanceCPerW) > 1e-12 {
		t.Errorf("resistance(duty 0) = %v; want FanStoppedResistanceCPerW %v", got, cfg.FanStoppedResistanceCPerW)
	}
	if got := cfg.resistance(1); math.Abs(got-cfg.ThermalResistanceCPerW) > 1e-12 {
		t.Errorf("resistance(duty 1) = %v; want ThermalResistanceCPerW %v", got, cfg.ThermalResistanceCPerW)
	}
	for d := 0.1; d <= 1; d += 0.1 {
		if !(cfg.resistance(d) < cfg.resistance(d-0.1)) {
			t.Errorf("resistance(%.1f) = %v ≥ resistance(%.1f) = %v; want more fan, less resistance", d, cfg.resistance(d), d-0.1, cfg.resistance(d-0.1))
		}
	}
}

// TestRCStep compares the exact step with many small explicit-Euler steps.
func TestRCStep(t *testing.T) {
	const r, c, amb, p = 1.5, 20.0, 30.0, 40.0
	for _, h := range []float64{0.1, 1, 10, 1000} {
		euler := 50.0
		n := int(h / 1e-4)
		for range n {
			euler += h / float64(n) * (p - (euler-amb)/r) / c
		}
		if got := rcStep(50, p, r, c, amb, h); math.Abs(got-euler) > 1e-3 {
			t.Errorf("rcStep(h = %v) = %v; want %v (fine Euler)", h, got, euler)
		}
	}
	// Far longer than τ, it lands on the steady state instead of blowing up.
	if got := rcStep(50, p, r, c, amb, 1e9); math.Abs(got-(amb+p*r)) > 1e-9 {
		t.Errorf("rcStep(h = 1e9) = %v; want the steady state %v", got, amb+p*r)
	}
}

// TestThermalBudget: the budget is the power that ends the step exactly on
// the limit.
func TestThermalBudget(t *testing.T) {
	const r, c, amb, limit = 1.5, 20.0, 30.0, 90.0
	for _, tt := range []struct{ t0, h float64 }{{40, 1}, {89, 1}, {90, 1}, {95, 1}, {60, 0.01}, {60, 100}} {
		p := thermalBudget(tt.t0, limit, r, c, amb, tt.h)
		if got := rcStep(tt.t0, p, r, c, amb, tt.h); math.Abs(got-limit) > 1e-6 {
			t.Errorf("rcStep(%v °C, budget %v W, %v s) = %v °C; want the limit %v", tt.t0, p, tt.h, got, limit)
		}
	}
	if got := thermalBudget(60, limit, r, c, amb, 0); !math.IsInf(got, 1) {
		t.Errorf("thermalBudget(below the limit, h = 0) = %v; want +Inf", got)
	}
	if got, want := thermalBudget(95, limit, r, c, amb, 0), (limit-amb)/r; got != want {
		t.Errorf("thermalBudget(above the limit, h = 0) = %v; want the steady-state budget %v", got, want)
	}
}

// TestPowerCalibration: every core busy at BaseMHz draws TDPWatts, idle
// cores draw IdleWatts, and power rises with frequency.
func TestPowerCalibration(t *testing.T) {
	cfg := DefaultConfig()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for c := range m.dem.util {
		m.dem.util[c] = 1
		m.target[c] = cfg.MaxMHz
	}
	if got := m.cpuPower(cfg.BaseMHz); math.Abs(got-cfg.TDPWatts) > 1e-9 {
		t.Errorf("all cores busy at BaseMHz: %v W; want TDPWatts %v", got, cfg.TDPWatts)
	}
	prev := 0.0
	for f := cfg.MinMHz; f <= cfg.MaxMHz; f += 100 {
		p := m.cpuPower(f)
		if !(p > prev) {
			t.Errorf("power at %v MHz = %v ≤ %v at %v MHz; want it rising with frequency", f, p, prev, f-100)
		}
		prev = p
	}
	for c := range m.dem.util {
		m.dem.util[c] = 0
	}
	if got := m.cpuPower(cfg.MaxMHz); got != cfg.IdleWatts {
		t.Errorf("idle cores: %v W; want IdleWatts %v", got, cfg.IdleWatts)
	}
}

// TestCatchUpBounded: one call integrates at most MaxCatchUp, in steps of
// at most a second, however long the gap.
func TestCatchUpBounded(t *testing.T) {
	m, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := time.Unix(1_700_000_000, 500_000_000)
	for _, gap := range []time.Duration{0, 300 * time.Millisecond, time.Second, 90 * time.Second, 2 * time.Hour, 50 * 365 * 24 * time.Hour} {
		start = start.Add(gap)
		if _, err := m.Sample(ctx, start); err != nil {
			t.Fatalf("Sample after %v: %v", gap, err)
		}
		maxSteps := int(min(gap, MaxCatchUp)/time.Second) + 1
		if m.steps > maxSteps {
			t.Errorf("gap %v: %d steps; want at most %d", gap, m.steps, maxSteps)
		}
	}
}

// TestSpacingInvariance: the workload at each second is the same however
// the caller spaces its calls, so the temperature path is too.
func TestSpacingInvariance(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CycleStep = 20 * time.Second
	ctx := context.Background()
	temps := func(step time.Duration) float64 {
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var last float64
		for at := time.Duration(0); at <= 200*time.Second; at += step {
			s, err := m.Sample(ctx, time.Unix(1_700_000_000, 0).Add(at))
			if err != nil {
				t.Fatal(err)
			}
			last = s.Thermal[0].TemperatureCelsius
		}
		return last
	}
	every1, every10, every100 := temps(time.Second), temps(10*time.Second), temps(100*time.Second)
	if every1 != every10 || every1 != every100 {
		t.Errorf("package after 200 s sampled every 1 s, 10 s, 100 s: %v, %v, %v °C; want equal", every1, every10, every100)
	}
}

func TestFanRPMFollowsTheCurve(t *testing.T) {
	c := DefaultConfig()
	first, last := c.FanCurve[0], c.FanCurve[len(c.FanCurve)-1]
	a, b := c.FanCurve[0], c.FanCurve[1]
	mid := (a.TempC + b.TempC) / 2
	for _, tc := range []struct{ temp, want float64 }{
		{first.TempC - 20, first.DutyPercent / 100 * c.FanMaxRPM},
		{mid, (a.DutyPercent + b.DutyPercent) / 200 * c.FanMaxRPM},
		{last.TempC + 20, last.DutyPercent / 100 * c.FanMaxRPM},
	} {
		if got := c.FanRPM(tc.temp); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("FanRPM(%v) = %v; want %v", tc.temp, got, tc.want)
		}
	}
}
