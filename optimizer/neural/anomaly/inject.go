package anomaly

import (
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Fault names a kind of fault the detector is evaluated on.
type Fault int

// The faults. FaultNone marks a clean stream.
const (
	FaultNone Fault = iota
	// FaultStuckSensor: the CPU temperature sensors freeze at one value
	// while the load, and the real temperature, go on changing.
	FaultStuckSensor
	// FaultFanFailure: every fan stops and the package heats towards the
	// equilibrium of the fan-stopped thermal resistance at the same load.
	FaultFanFailure
	// FaultRunaway: a process appears that spins one previously idle core
	// at 100 %, with the power, heat and load that adds.
	FaultRunaway
)

// Faults lists the injectable faults, in order.
func Faults() []Fault { return []Fault{FaultStuckSensor, FaultFanFailure, FaultRunaway} }

func (f Fault) String() string {
	switch f {
	case FaultNone:
		return "none"
	case FaultStuckSensor:
		return "stuck-sensor"
	case FaultFanFailure:
		return "fan-failure"
	case FaultRunaway:
		return "runaway-process"
	default:
		return fmt.Sprintf("fault(%d)", int(f))
	}
}

// Thermal is the lumped RC model the injectors use so that an injected
// fault heats the machine the way physics would: C·dT/dt = P − (T − Ta)/R.
type Thermal struct {
	AmbientC                  float64
	ResistanceCPerW           float64 // with the fan following its curve
	FanStoppedResistanceCPerW float64
	CapacitanceJPerC          float64
	// CoreWatts is what one core at 100 % adds to the package power.
	CoreWatts float64
	// FanRPM maps a package temperature to the fan speed its curve sets;
	// nil leaves the fans of a runaway stream as recorded.
	FanRPM func(tempC float64) float64
}

// Validate reports a Thermal the injectors cannot integrate.
func (th Thermal) Validate() error {
	for _, v := range []float64{th.ResistanceCPerW, th.FanStoppedResistanceCPerW, th.CapacitanceJPerC} {
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("anomaly: thermal model %+v: resistances and capacitance must be positive", th)
		}
	}
	if math.IsNaN(th.AmbientC) || math.IsInf(th.AmbientC, 0) || !(th.CoreWatts >= 0) || math.IsInf(th.CoreWatts, 0) {
		return fmt.Errorf("anomaly: thermal model %+v: ambient and core watts must be finite", th)
	}
	return nil
}

// Inject returns a copy of samples with fault f from index onset on. The
// samples before onset are shared with the input, the rest are edited
// clones; the input is never changed. th is needed by FaultFanFailure and
// FaultRunaway.
func Inject(f Fault, samples []*gamesav1.Sample, onset int, th Thermal) ([]*gamesav1.Sample, error) {
	if onset < 1 || onset >= len(samples) {
		return nil, fmt.Errorf("anomaly: inject %s at %d: onset must be within 1..%d", f, onset, len(samples)-1)
	}
	if f != FaultStuckSensor {
		if err := th.Validate(); err != nil {
			return nil, err
		}
	}
	out := slices.Clone(samples)
	for i := onset; i < len(out); i++ {
		out[i] = proto.Clone(samples[i]).(*gamesav1.Sample)
	}
	switch f {
	case FaultStuckSensor:
		injectStuck(out, onset)
	case FaultFanFailure:
		injectFan(out, onset, th)
	case FaultRunaway:
		injectRunaway(out, onset, th)
	default:
		return nil, fmt.Errorf("anomaly: cannot inject %s", f)
	}
	return out, nil
}

// injectStuck freezes every CPU sensor at its value just before onset.
func injectStuck(out []*gamesav1.Sample, onset int) {
	frozen := map[string]float64{}
	for _, ts := range out[onset-1].GetThermal() {
		frozen[ts.GetName()] = ts.GetTemperatureCelsius()
	}
	for _, s := range out[onset:] {
		for _, ts := range s.GetThermal() {
			if v, ok := frozen[ts.GetName()]; ok && isCPUSensor(ts) {
				ts.TemperatureCelsius = v
			}
		}
	}
}

// seconds is the interval between two samples, at least a millisecond.
func seconds(a, b *gamesav1.Sample) float64 {
	return max(b.GetTime().AsTime().Sub(a.GetTime().AsTime()).Seconds(), 1e-3)
}

// rcStep advances temperature t by h seconds under power p, exactly for
// constant p over the step.
func rcStep(t, p, r, c, amb, h float64) float64 {
	eq := amb + p*r
	return eq + (t-eq)*math.Exp(-h/(r*c))
}

// shiftCPUTemps adds d to every CPU sensor of s, holding each at its
// throttle point (MaxCelsius, when known), as the CPU would.
func shiftCPUTemps(s *gamesav1.Sample, d float64) {
	for _, ts := range s.GetThermal() {
		if !isCPUSensor(ts) {
			continue
		}
		v := ts.TemperatureCelsius + d
		if m := ts.GetMaxCelsius(); m > 0 && v > m && ts.TemperatureCelsius <= m {
			v = m
		}
		ts.TemperatureCelsius = v
	}
}

// injectFan stops the fans and integrates the package temperature with
// the fan-stopped resistance from the recorded temperature at onset; the
// difference to the recorded one is added to every CPU sensor.
func injectFan(out []*gamesav1.Sample, onset int, th Thermal) {
	t, _ := cpuTemp(out[onset-1])
	for i := onset; i < len(out); i++ {
		s := out[i]
		t = rcStep(t, s.GetPower().GetTotalWatts(), th.FanStoppedResistanceCPerW, th.CapacitanceJPerC, th.AmbientC, seconds(out[i-1], s))
		rec, _ := cpuTemp(s)
		shiftCPUTemps(s, t-rec)
		for _, f := range s.GetFans() {
			f.Rpm = 0
		}
	}
}

// runawayPID is the injected process's pid, above any the simulated
// machine uses.
const runawayPID = 99999

// injectRunaway makes the least busy core of the sample before onset run
// at 100 % from onset on, for a new process, and adds its power (within
// the package's power limit), its heat (an RC response of the extra
// power), the fan's answer to that heat, and its share of the load.
func injectRunaway(out []*gamesav1.Sample, onset int, th Thermal) {
	core := 0
	cores := out[onset-1].GetCpu().GetCores()
	for i, c := range cores {
		if c.GetUtilizationPercent() < cores[core].GetUtilizationPercent() {
			core = i
		}
	}
	var dT float64
	var dLoad [3]float64
	for i := onset; i < len(out); i++ {
		s := out[i]
		h := seconds(out[i-1], s)
		cpu := s.GetCpu()
		n := float64(len(cpu.GetCores()))
		if core < len(cpu.GetCores()) {
			c := cpu.Cores[core]
			d := 100 - c.UtilizationPercent
			c.UtilizationPercent, c.UserPercent = 100, c.UserPercent+d
			cpu.UtilizationPercent += d / n
			cpu.UserPercent += d / n
		}
		p := s.GetPower()
		dP := th.CoreWatts
		if limit := packageLimit(p); limit > 0 {
			dP = max(0, min(dP, limit-p.GetTotalWatts()))
		}
		if p != nil {
			p.TotalWatts += dP
			if len(p.Rapl) > 0 {
				p.Rapl[0].Watts += dP
			}
		}
		dT = rcStep(dT, dP, th.ResistanceCPerW, th.CapacitanceJPerC, 0, h)
		shiftCPUTemps(s, dT)
		if th.FanRPM != nil {
			t, _ := cpuTemp(s)
			for _, f := range s.GetFans() {
				f.Rpm = th.FanRPM(t)
			}
		}
		if l := s.GetLoad(); l != nil {
			// The kernel's exponential decay of the run queue, towards
			// one more runnable task.
			for k, tau := range [3]float64{60, 300, 900} {
				dLoad[k] = 1 + (dLoad[k]-1)*math.Exp(-h/tau)
			}
			l.Load1 += dLoad[0]
			l.Load5 += dLoad[1]
			l.Load15 += dLoad[2]
			l.ProcsRunning++
		}
		addProcess(s.GetProcesses(), &gamesav1.Process{
			Pid: runawayPID, Ppid: 1, Name: "runaway", Cmdline: "./runaway", User: "player", Uid: 1000,
			CpuPercent: 100, RssBytes: 8 << 20, State: "R", Threads: 1,
		})
	}
}

// packageLimit is the long-term power limit of the first RAPL domain, 0
// for none.
func packageLimit(p *gamesav1.Power) float64 {
	if r := p.GetRapl(); len(r) > 0 {
		return r[0].GetLongTermLimitWatts()
	}
	return 0
}

// addProcess inserts p into the busiest-first list, keeping its length.
func addProcess(ps *gamesav1.Processes, p *gamesav1.Process) {
	if ps == nil {
		return
	}
	ps.Total++
	ps.Threads += p.Threads
	n := len(ps.Top)
	i := 0
	for i < n && ps.Top[i].GetCpuPercent() >= p.CpuPercent {
		i++
	}
	ps.Top = slices.Insert(ps.Top, i, p)
	if n > 0 {
		ps.Top = ps.Top[:n]
	}
}
