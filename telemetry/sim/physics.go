package sim

import "math"

// Model constants. They shape the curves; the Config scales them.
const (
	// vMin and vMax are the relative core voltage at MinMHz and MaxMHz.
	// Only their ratio matters (k absorbs the scale): all-core at MaxMHz
	// draws about 1.8× the power of all-core at BaseMHz with the defaults,
	// close to what a 45 W mobile part does at full turbo.
	vMin = 0.7
	vMax = 1.2
	// governorHeadroom is schedutil's rule: f = 1.25 · util · max.
	governorHeadroom = 1.25
	// bisectSteps finds the frequency ceiling to 3000 MHz/2^24, far below
	// anything a sample reports.
	bisectSteps = 24
	// gpuIdleClock and gpuMinClock are shares of MaxGraphicsMHz: the clock
	// at rest, and the lowest the thermal slowdown goes.
	gpuIdleClock = 0.2
	gpuMinClock  = 0.1
	// Load average time constants, as the kernel's (1, 5, 15 minutes).
	load1s, load5s, load15s = 60.0, 300.0, 900.0
)

// fanDuty returns the curve's duty at temperature t, as a fraction 0..1.
func fanDuty(curve []FanPoint, t float64) float64 {
	if t <= curve[0].TempC {
		return curve[0].DutyPercent / 100
	}
	for i := 1; i < len(curve); i++ {
		a, b := curve[i-1], curve[i]
		if t <= b.TempC {
			f := (t - a.TempC) / (b.TempC - a.TempC)
			return (a.DutyPercent + f*(b.DutyPercent-a.DutyPercent)) / 100
		}
	}
	return curve[len(curve)-1].DutyPercent / 100
}

// FanRPM is the fan speed the machine runs at a package temperature: the
// fan curve, interpolated, times FanMaxRPM. Code that models this machine
// from outside (the anomaly detector's fault injectors) uses it rather
// than a copy of the curve.
func (c Config) FanRPM(tempC float64) float64 {
	return fanDuty(c.FanCurve, tempC) * c.FanMaxRPM
}

// resistance is the package's effective thermal resistance at fan duty
// 0..1: the fan adds conductance on top of what the heatsink sheds with the
// fan stopped.
func (c *Config) resistance(duty float64) float64 {
	gStop := 1 / c.FanStoppedResistanceCPerW
	gFull := 1 / c.ThermalResistanceCPerW
	return 1 / (gStop + (gFull-gStop)*duty)
}

// rcStep advances a lumped RC body at temperature t, heated by p watts for
// h seconds, towards ambient amb. It is the exact solution for constant p,
// so it is stable for any h (explicit Euler is not once h > 2RC).
func rcStep(t, p, r, c, amb, h float64) float64 {
	inf := amb + p*r
	return inf + (t-inf)*math.Exp(-h/(r*c))
}

// thermalBudget is the most power that keeps an RC body starting at t0 at
// or below limit after h seconds: the power at which rcStep ends exactly
// on limit. Below the limit it exceeds the steady-state budget (the heat
// capacity absorbs a burst); above it, it is lower, so the body cools back.
func thermalBudget(t0, limit, r, c, amb, h float64) float64 {
	oneMinusA := -math.Expm1(-h / (r * c))
	if !(oneMinusA > 0) { // h too short to change anything
		if t0 <= limit {
			return math.Inf(1)
		}
		return (limit - amb) / r
	}
	a := 1 - oneMinusA
	return ((limit-t0*a)/oneMinusA - amb) / r
}

// dyn is the dynamic power of one fully busy core at f MHz, up to the
// factor k: f·V(f)², V rising linearly with f.
func (m *Machine) dyn(f float64) float64 {
	cfg := &m.cfg
	v := vMin + (vMax-vMin)*(f-cfg.MinMHz)/(cfg.MaxMHz-cfg.MinMHz)
	return f * v * v
}

// cpuPower is the package power with the current utilisation and governor
// targets when no core may exceed ceiling MHz.
func (m *Machine) cpuPower(ceiling float64) float64 {
	var p float64
	for c, u := range m.dem.util {
		p += u * m.dyn(min(m.target[c], ceiling))
	}
	return m.cfg.IdleWatts + m.k*p
}

// steadyTemp is the package temperature at which p watts flow out as fast
// as they come in, the fan following its curve.
func (m *Machine) steadyTemp(p float64) float64 {
	cfg := &m.cfg
	// T − amb − p·R(duty(T)) rises with T (R falls as the fan speeds up),
	// so bisect between the full-fan and the fan-stopped answers.
	lo := cfg.AmbientC + p*cfg.ThermalResistanceCPerW
	hi := cfg.AmbientC + p*cfg.FanStoppedResistanceCPerW
	for range 60 {
		mid := (lo + hi) / 2
		if mid-cfg.AmbientC-p*cfg.resistance(fanDuty(cfg.FanCurve, mid)) < 0 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// stepCPU runs the governor and the limiters for the demand in m.dem,
// advances the package temperature by h seconds and returns the package
// power, constant over the step. With h = 0 it only sets the instantaneous
// state (frequencies, ceiling).
func (m *Machine) stepCPU(h float64) float64 {
	cfg := &m.cfg
	for c, u := range m.dem.util {
		m.target[c] = min(max(governorHeadroom*u*cfg.MaxMHz, cfg.MinMHz), m.lim.maxMHz[c])
	}
	r := cfg.resistance(fanDuty(cfg.FanCurve, m.temp))
	limit := m.powerLimit(h)
	limit = min(limit, thermalBudget(m.temp, cfg.TjMaxC-cfg.ThrottleMarginC, r, cfg.ThermalCapacitanceJPerC, cfg.AmbientC, h))

	// The limiters act as one package-wide frequency ceiling, as RAPL and
	// the thermal control loop do: the highest ceiling whose power fits.
	ceiling := cfg.MaxMHz
	p := m.cpuPower(ceiling)
	if p > limit {
		lo, hi := cfg.MinMHz, cfg.MaxMHz
		if m.cpuPower(lo) <= limit {
			for range bisectSteps {
				mid := (lo + hi) / 2
				if m.cpuPower(mid) <= limit {
					lo = mid
				} else {
					hi = mid
				}
			}
		}
		// Else not even MinMHz fits (a cap below idle power, a cooler
		// too weak): run at MinMHz and exceed the limit, as hardware must.
		ceiling = lo
		p = m.cpuPower(ceiling)
	}
	m.ceiling = ceiling
	if h > 0 {
		m.temp = rcStep(m.temp, p, r, cfg.ThermalCapacitanceJPerC, cfg.AmbientC, h)
		m.raplAvg = raplAverage(m.raplAvg, p, cfg.PowerLimitWindow.Seconds(), h)
	}
	return p
}

// stepGPU is stepCPU for the GPU: clocks follow load, then drop as far as
// needed to hold SlowdownC.
func (m *Machine) stepGPU(h float64) {
	g := m.cfg.GPU
	u := m.dem.gpu
	want := gpuIdleClock + (1-gpuIdleClock)*min(1, 1.5*u)
	power := func(s float64) float64 { return g.IdleWatts + (g.TDPWatts-g.IdleWatts)*u*s*s*s }
	s := want
	thermal := thermalBudget(m.gpuTemp, g.SlowdownC, g.ThermalResistanceCPerW, g.ThermalCapacitanceJPerC, m.cfg.AmbientC, h)
	capW := m.gpuPowerLimit()
	budget := min(thermal, capW)
	if power(s) > budget && u > 0 {
		// Power ∝ s³ (clock × voltage²), so invert it directly.
		s = min(max(math.Cbrt((budget-g.IdleWatts)/((g.TDPWatts-g.IdleWatts)*u)), gpuMinClock), want)
	}
	m.gpuClock = s
	m.gpuThermal = s < want && thermal <= capW
	m.gpuCapped = s < want && capW < thermal
	m.gpuPower = power(s)
	if h > 0 {
		m.gpuTemp = rcStep(m.gpuTemp, m.gpuPower, g.ThermalResistanceCPerW, g.ThermalCapacitanceJPerC, m.cfg.AmbientC, h)
	}
}

// step advances the whole machine by h seconds under the demand in m.dem
// and adds what happened to the interval's accumulators.
func (m *Machine) step(h float64) {
	d := &m.dem
	a := &m.acc
	p := m.stepCPU(h)
	if m.cfg.GPU != nil {
		m.stepGPU(h)
	}
	a.energyJ += p * h

	var running, busyPct float64
	for c, u := range d.util {
		a.busy[c] += u * h
		a.sys[c] += u * d.sys * h
		a.iowait[c] += (1 - u) * d.iowait * h
		running += u
	}
	busyPct = 100 * running

	// The kernel folds the run queue into the load averages every 5 s;
	// the continuous form of the same exponential decay suits any h.
	for i, tau := range [3]float64{load1s, load5s, load15s} {
		e := math.Exp(-h / tau)
		m.load[i] = m.load[i]*e + running*(1-e)
	}

	a.diskR += d.diskR * h
	a.diskW += d.diskW * h
	a.diskBusy += min(1, d.diskR/diskReadBps+d.diskW/diskWriteBps) * h
	a.netRx += d.netRx * h
	a.netTx += d.netTx * h

	rest := max(busyPct-m.baseCPU, 0)
	for i := range m.procs {
		ps := &m.procs[i]
		switch {
		case ps.scen < 0:
			a.proc[i] += ps.baseCPU * h
		case ps.scen == d.scen:
			a.proc[i] += rest * ps.share[d.phase] * h
		}
	}
}
