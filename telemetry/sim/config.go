package sim

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Scenario names accepted by Config.Scenario and Machine.SetScenario.
const (
	ScenarioIdle    = "idle"
	ScenarioGame    = "game"
	ScenarioRender  = "render"
	ScenarioCompile = "compile"
	ScenarioBrowser = "browser"
	// ScenarioCycle rotates through the other scenarios, one Config.CycleStep
	// each, in the order idle, game, render, compile, browser. The rotation
	// is a function of the wall-clock time passed to Sample, so machines that
	// share a CycleStep change scenario together.
	ScenarioCycle = "cycle"
)

// MaxCatchUp bounds the simulated time one Sample call integrates. A longer
// gap since the previous call is simulated only for its last MaxCatchUp (the
// thermal state, with a time constant of seconds to minutes, has long
// forgotten the rest); counters advance as if that window's average rates
// had held for the whole gap. This bounds the work of one call to about
// MaxCatchUp/1s integration steps.
const MaxCatchUp = time.Hour

var (
	// ErrTimeBackwards is returned by Sample when now is before the previous
	// call's now. The machine's state is left as it was, so a later call with
	// a proper time goes on from the previous sample.
	ErrTimeBackwards = errors.New("sim: time went backwards")
	// ErrUnknownScenario is returned for a scenario name that is not one of
	// Scenarios().
	ErrUnknownScenario = errors.New("sim: unknown scenario")
	// ErrNoKnob is returned by Apply for an action whose knob or target
	// the simulated machine does not have (see Inventory).
	ErrNoKnob = errors.New("sim: no such knob")
	// ErrKnobValue is returned by Apply for a value that is not a number
	// within the knob's min..max.
	ErrKnobValue = errors.New("sim: knob value out of range")
)

// Scenarios lists the scenario names in the order the cycle visits them,
// followed by "cycle".
func Scenarios() []string {
	return []string{ScenarioIdle, ScenarioGame, ScenarioRender, ScenarioCompile, ScenarioBrowser, ScenarioCycle}
}

// scenarioIndex maps a name to its index in Scenarios().
func scenarioIndex(name string) (int, error) {
	for i, s := range Scenarios() {
		if s == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w %q (want one of %s)", ErrUnknownScenario, name, strings.Join(Scenarios(), ", "))
}

// FanPoint is one point of a fan curve: at TempC the fan runs at
// DutyPercent. Between points the duty is interpolated linearly; below the
// first point it is the first point's duty, above the last the last's.
type FanPoint struct {
	TempC       float64
	DutyPercent float64
}

// GPUConfig describes the optional simulated GPU. It has its own lumped RC
// thermal model (its heat does not reach the CPU package) and slows its
// clocks to stay at or below SlowdownC.
type GPUConfig struct {
	// Name as NVML reports it.
	Name string
	// IdleWatts is the board power at rest; TDPWatts at full load and clocks,
	// which is also its power limit.
	IdleWatts float64
	TDPWatts  float64
	// MemoryTotalBytes is the framebuffer size.
	MemoryTotalBytes uint64
	// MaxGraphicsMHz is the boost clock; MemoryMHz the memory clock under load.
	MaxGraphicsMHz float64
	MemoryMHz      float64
	// ThermalResistanceCPerW (°C/W, die to ambient) and
	// ThermalCapacitanceJPerC (J/°C) form the GPU's RC model.
	ThermalResistanceCPerW  float64
	ThermalCapacitanceJPerC float64
	// SlowdownC is the temperature the GPU holds by lowering its clocks.
	SlowdownC float64
}

// Config describes a simulated machine. Start from DefaultConfig and change
// what differs; New rejects a Config that fails Validate.
//
// The CPU package is one lumped RC: C·dT/dt = P − (T − AmbientC)/R_eff,
// where the fan lowers R_eff by adding conductance:
//
//	1/R_eff = 1/FanStoppedResistanceCPerW
//	        + (1/ThermalResistanceCPerW − 1/FanStoppedResistanceCPerW)·duty
//
// with duty in 0..1 from FanCurve. Package power is
// IdleWatts + Σ_cores k·u·f·V(f)², with V rising linearly from MinMHz to
// MaxMHz and k chosen so that every core busy at BaseMHz draws TDPWatts
// (Intel's definition of TDP). TDPWatts is also the sustained power limit
// (PL1): all-core turbo settles near BaseMHz, a single busy core reaches
// MaxMHz.
type Config struct {
	// NodeID goes into every Sample.
	NodeID string
	// Seed drives all noise: the same Seed and the same sequence of times
	// give the same samples.
	Seed uint64
	// Scenario is the workload at start, one of Scenarios().
	Scenario string
	// CycleStep is how long the "cycle" scenario stays on each workload; a
	// whole number of seconds.
	CycleStep time.Duration

	// CPUModel is reported as Sample.cpu.model.
	CPUModel string
	// Cores is the number of logical cores.
	Cores int
	// MinMHz ≤ BaseMHz ≤ MaxMHz, MinMHz < MaxMHz. MaxMHz is the top turbo
	// frequency, BaseMHz the frequency at which all cores draw TDPWatts.
	MinMHz  float64
	BaseMHz float64
	MaxMHz  float64
	// IdleWatts is the package power with every core idle; TDPWatts see above.
	IdleWatts float64
	TDPWatts  float64
	// PowerLimitWindow is the time window of the package's long-term power
	// limit (RAPL PL1, set with SetPowerCap or the rapl.pl1_uw knob): the
	// package keeps its power averaged exponentially over this window at
	// or below the limit, so it may burst above the limit (up to the
	// short-term limit, TDPWatts unless rapl.pl2_uw lowers it) after a
	// lull, and drops below it for a while after the limit is lowered, as
	// RAPL hardware does. 0 holds the limit within every step, like a
	// window shorter than the one-second step; it is the default because
	// the data sets recorded from the simulation were made that way.
	PowerLimitWindow time.Duration

	// AmbientC is the temperature the package cools towards: for a laptop,
	// the air inside the chassis rather than the room.
	AmbientC float64
	// ThermalResistanceCPerW is the package-to-ambient resistance with the
	// fan at full duty; FanStoppedResistanceCPerW (≥ it) with the fan stopped.
	ThermalResistanceCPerW    float64
	FanStoppedResistanceCPerW float64
	// ThermalCapacitanceJPerC is the lumped heat capacity.
	ThermalCapacitanceJPerC float64
	// TjMaxC is the junction limit. Above TjMaxC − ThrottleMarginC the
	// frequency ceiling drops until the temperature is back at that threshold.
	TjMaxC          float64
	ThrottleMarginC float64
	// FanCurve maps package temperature to fan duty; temperatures strictly
	// increasing, duties within 0..100 and never decreasing.
	FanCurve []FanPoint
	// FanMaxRPM is the fan speed at 100 % duty.
	FanMaxRPM float64

	// MemoryTotalBytes and SwapTotalBytes size the memory report.
	MemoryTotalBytes uint64
	SwapTotalBytes   uint64
	// TopProcesses is how many processes Sample lists, busiest first.
	TopProcesses int

	// GPU is the simulated GPU; nil for none.
	GPU *GPUConfig
}

// DefaultConfig returns a laptop like the ASUS GL553VD (Intel Core
// i7-7700HQ, 4 cores / 8 threads, GeForce GTX 1050), running the "cycle"
// scenario.
//
// The package's thermal constants are fitted to that laptop's sensor logs:
// a least-squares fit of the lumped RC model, CPU package power → CPU
// package temperature, over four whole days (2020-04-06, -04-12, -05-02,
// -05-08; 1 Hz) gave R = 1.68 °C/W, C = 25.0 J/°C (τ = 42 s) and an
// effective ambient of 37.4 °C. On the held-out day 2020-04-28 the RMSE is
// 6.3 °C against the raw sensor, 5.8 °C against its 31 s average; most of
// it is one offset for the whole day (−5.2 °C: the room was warmer), and
// 3.5 °C is left without it. TestThermalFit reproduces the fit. The small
// C reflects the fast die-to-heatsink path that dominates 1 Hz data. The
// logs carry no fan speed, so FanStoppedResistanceCPerW and the fan curve
// are chosen, not fitted; the fitted R serves as the full-fan resistance,
// which the laptop's fan reaches under the sustained loads that determine
// R. The GPU's RC is chosen too (the logs have no GPU power).
//
// Data: Hardware Performance Archive, ASUS GL553VD OpenHardwareMonitor logs, CC-BY-4.0.
func DefaultConfig() Config {
	return Config{
		NodeID:    "sim",
		Seed:      1,
		Scenario:  ScenarioCycle,
		CycleStep: 60 * time.Second,

		CPUModel: "Intel(R) Core(TM) i7-7700HQ CPU @ 2.80GHz (simulated)",
		Cores:    8,
		MinMHz:   800,
		BaseMHz:  2800,
		MaxMHz:   3800,
		// The logs' lowest package power is 1.7–2.3 W a day.
		IdleWatts: 2,
		TDPWatts:  45,

		AmbientC:                  37.4,
		ThermalResistanceCPerW:    1.68,
		FanStoppedResistanceCPerW: 2.3,
		ThermalCapacitanceJPerC:   25.0,
		TjMaxC:                    100,
		ThrottleMarginC:           5,
		FanCurve: []FanPoint{
			{TempC: 45, DutyPercent: 25},
			{TempC: 60, DutyPercent: 40},
			{TempC: 75, DutyPercent: 70},
			{TempC: 85, DutyPercent: 100},
		},
		FanMaxRPM: 4800,

		MemoryTotalBytes: 16 << 30,
		SwapTotalBytes:   2 << 30,
		TopProcesses:     10,

		GPU: &GPUConfig{
			Name:                    "NVIDIA GeForce GTX 1050",
			IdleWatts:               3,
			TDPWatts:                50,
			MemoryTotalBytes:        4 << 30,
			MaxGraphicsMHz:          1493,
			MemoryMHz:               3504,
			ThermalResistanceCPerW:  0.9,
			ThermalCapacitanceJPerC: 60,
			SlowdownC:               87,
		},
	}
}

// Validate reports every field that is out of range, each error naming the
// field and its value.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, v any, why string) {
		errs = append(errs, fmt.Errorf("sim: %s = %v: %s", field, v, why))
	}
	// !(x > y) rather than x <= y throughout, so that NaN fails too.
	positive := func(field string, v float64) {
		if !(v > 0) || math.IsInf(v, 0) {
			bad(field, v, "must be a positive number")
		}
	}
	finite := func(field string, v float64) bool {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			bad(field, v, "must be a finite number")
			return false
		}
		return true
	}

	if c.NodeID == "" {
		bad("NodeID", `""`, "must not be empty")
	}
	if _, err := scenarioIndex(c.Scenario); err != nil {
		errs = append(errs, fmt.Errorf("sim: Scenario: %w", err))
	}
	if c.CycleStep < time.Second || c.CycleStep%time.Second != 0 {
		bad("CycleStep", c.CycleStep, "must be a whole number of seconds, at least 1s")
	}
	if c.Cores < 1 || c.Cores > 4096 {
		bad("Cores", c.Cores, "must be within 1..4096")
	}
	positive("MinMHz", c.MinMHz)
	positive("BaseMHz", c.BaseMHz)
	positive("MaxMHz", c.MaxMHz)
	if !(c.MaxMHz > c.MinMHz) {
		bad("MaxMHz", c.MaxMHz, fmt.Sprintf("must be above MinMHz (%v)", c.MinMHz))
	}
	if !(c.BaseMHz >= c.MinMHz && c.BaseMHz <= c.MaxMHz) {
		bad("BaseMHz", c.BaseMHz, fmt.Sprintf("must be within MinMHz..MaxMHz (%v..%v)", c.MinMHz, c.MaxMHz))
	}
	if !(c.IdleWatts >= 0) || math.IsInf(c.IdleWatts, 0) {
		bad("IdleWatts", c.IdleWatts, "must be a finite number ≥ 0")
	}
	positive("TDPWatts", c.TDPWatts)
	if !(c.TDPWatts > c.IdleWatts) {
		bad("TDPWatts", c.TDPWatts, fmt.Sprintf("must be above IdleWatts (%v)", c.IdleWatts))
	}
	if c.PowerLimitWindow < 0 || c.PowerLimitWindow > MaxCatchUp {
		bad("PowerLimitWindow", c.PowerLimitWindow, fmt.Sprintf("must be within 0..%v", MaxCatchUp))
	}

	ambientOK := finite("AmbientC", c.AmbientC)
	positive("ThermalResistanceCPerW", c.ThermalResistanceCPerW)
	if !(c.FanStoppedResistanceCPerW >= c.ThermalResistanceCPerW) || math.IsInf(c.FanStoppedResistanceCPerW, 0) {
		bad("FanStoppedResistanceCPerW", c.FanStoppedResistanceCPerW,
			fmt.Sprintf("must be finite and ≥ ThermalResistanceCPerW (%v): the fan only ever helps", c.ThermalResistanceCPerW))
	}
	positive("ThermalCapacitanceJPerC", c.ThermalCapacitanceJPerC)
	if finite("TjMaxC", c.TjMaxC) && ambientOK && !(c.TjMaxC > c.AmbientC) {
		bad("TjMaxC", c.TjMaxC, fmt.Sprintf("must be above AmbientC (%v)", c.AmbientC))
	}
	if !(c.ThrottleMarginC >= 0) || !(c.TjMaxC-c.ThrottleMarginC > c.AmbientC) {
		bad("ThrottleMarginC", c.ThrottleMarginC,
			fmt.Sprintf("must be ≥ 0 and leave TjMaxC − ThrottleMarginC above AmbientC (%v)", c.AmbientC))
	}
	if len(c.FanCurve) == 0 {
		bad("FanCurve", "[]", "needs at least one point")
	}
	for i, p := range c.FanCurve {
		if !finite(fmt.Sprintf("FanCurve[%d].TempC", i), p.TempC) {
			continue
		}
		if !(p.DutyPercent >= 0 && p.DutyPercent <= 100) {
			bad(fmt.Sprintf("FanCurve[%d].DutyPercent", i), p.DutyPercent, "must be within 0..100")
		}
		if i == 0 {
			continue
		}
		prev := c.FanCurve[i-1]
		if !(p.TempC > prev.TempC) {
			bad(fmt.Sprintf("FanCurve[%d].TempC", i), p.TempC, fmt.Sprintf("must be above FanCurve[%d].TempC (%v)", i-1, prev.TempC))
		}
		if p.DutyPercent < prev.DutyPercent {
			bad(fmt.Sprintf("FanCurve[%d].DutyPercent", i), p.DutyPercent,
				fmt.Sprintf("must not be below FanCurve[%d].DutyPercent (%v): more heat never means less fan", i-1, prev.DutyPercent))
		}
	}
	positive("FanMaxRPM", c.FanMaxRPM)
	if c.MemoryTotalBytes == 0 {
		bad("MemoryTotalBytes", 0, "must be positive")
	}
	if c.TopProcesses < 1 {
		bad("TopProcesses", c.TopProcesses, "must be at least 1")
	}
	if g := c.GPU; g != nil {
		if g.Name == "" {
			bad("GPU.Name", `""`, "must not be empty")
		}
		if !(g.IdleWatts >= 0) || math.IsInf(g.IdleWatts, 0) {
			bad("GPU.IdleWatts", g.IdleWatts, "must be a finite number ≥ 0")
		}
		positive("GPU.TDPWatts", g.TDPWatts)
		if !(g.TDPWatts > g.IdleWatts) {
			bad("GPU.TDPWatts", g.TDPWatts, fmt.Sprintf("must be above GPU.IdleWatts (%v)", g.IdleWatts))
		}
		if g.MemoryTotalBytes == 0 {
			bad("GPU.MemoryTotalBytes", 0, "must be positive")
		}
		positive("GPU.MaxGraphicsMHz", g.MaxGraphicsMHz)
		positive("GPU.MemoryMHz", g.MemoryMHz)
		positive("GPU.ThermalResistanceCPerW", g.ThermalResistanceCPerW)
		positive("GPU.ThermalCapacitanceJPerC", g.ThermalCapacitanceJPerC)
		if finite("GPU.SlowdownC", g.SlowdownC) && ambientOK && !(g.SlowdownC > c.AmbientC) {
			bad("GPU.SlowdownC", g.SlowdownC, fmt.Sprintf("must be above AmbientC (%v)", c.AmbientC))
		}
	}
	return errors.Join(errs...)
}

// clone returns c with its own copies of the slice and pointer fields, so
// that a caller changing its Config after New does not reach the Machine.
func (c Config) clone() Config {
	c.FanCurve = append([]FanPoint(nil), c.FanCurve...)
	if c.GPU != nil {
		g := *c.GPU
		c.GPU = &g
	}
	return c
}
