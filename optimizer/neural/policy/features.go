package policy

import (
	"strings"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Feature layout. The features are scaled by hand to about 0..1 (trends to
// about −1..1) with constants from Config rather than with a fitted
// normaliser, so that a model trained on the simulated laptop reads a real
// host's samples on the same scale.
const (
	// NumFeatures is the policy's input width.
	NumFeatures = 64
	// Window is how many recent samples the features look at.
	Window = 4
	// perSample features are repeated for each sample of the window,
	// newest first; the window-wide features follow them.
	perSample = 12
)

// state is what the features need from one sample, extracted once.
type state struct {
	t                    float64 // seconds (Unix)
	util, maxCoreUtil    float64 // 0..1
	busyCores            float64 // share of cores over 50 % busy
	freqMHz, ceilingMHz  float64 // mean over cores
	tempC, critC         float64 // hottest CPU sensor and its critical point
	watts, capWatts      float64 // package power and the limit in force (0: none)
	fan                  float64 // 0..1 of the fan's maximum
	load1PerCore         float64
	gpuUtil, gpuTempC    float64
	gpuWatts             float64
	iowait, sys, memUsed float64 // 0..1
	diskBusy             float64 // 0..1 of the busiest disk
	workGHz              float64 // Σ util·frequency over cores, core-GHz
	cores                int
}

// extract reads s. Missing parts read as zero: a host without RAPL has no
// power, one without sensors no temperature.
func extract(s *gamesav1.Sample, cfg *Config) state {
	var st state
	st.t = float64(s.GetTime().GetSeconds()) + float64(s.GetTime().GetNanos())/1e9
	cpu := s.GetCpu()
	st.util = cpu.GetUtilizationPercent() / 100
	st.iowait = cpu.GetIowaitPercent() / 100
	st.sys = cpu.GetSystemPercent() / 100
	cores := cpu.GetCores()
	st.cores = len(cores)
	for _, c := range cores {
		u := c.GetUtilizationPercent() / 100
		st.maxCoreUtil = max(st.maxCoreUtil, u)
		if u > 0.5 {
			st.busyCores++
		}
		st.freqMHz += c.GetFrequencyMhz()
		st.ceilingMHz += c.GetMaxFrequencyMhz()
		st.workGHz += u * c.GetFrequencyMhz() / 1000
	}
	if n := float64(len(cores)); n > 0 {
		st.busyCores /= n
		st.freqMHz /= n
		st.ceilingMHz /= n
		st.load1PerCore = s.GetLoad().GetLoad1() / n
	}
	st.critC = cfg.TjMaxC
	first := true
	for _, th := range s.GetThermal() {
		if isGPUSensor(th) {
			continue
		}
		if t := th.GetTemperatureCelsius(); first || t > st.tempC {
			st.tempC, first = t, false
			if c := th.GetCriticalCelsius(); c > 0 {
				st.critC = c
			}
		}
	}
	for _, f := range s.GetFans() {
		if m := f.GetMaxRpm(); m > 0 {
			st.fan = max(st.fan, f.GetRpm()/m)
		}
	}
	p := s.GetPower()
	st.watts = p.GetTotalWatts()
	for _, d := range p.GetRapl() {
		if strings.HasPrefix(d.GetName(), "package") {
			if st.watts == 0 {
				st.watts += d.GetWatts()
			}
			if l := d.GetLongTermLimitWatts(); l > 0 && (st.capWatts == 0 || l < st.capWatts) {
				st.capWatts = l
			}
		}
	}
	for _, g := range s.GetGpus() {
		st.gpuUtil = max(st.gpuUtil, g.GetUtilizationPercent()/100)
		st.gpuTempC = max(st.gpuTempC, g.GetTemperatureCelsius())
		st.gpuWatts += g.GetPowerWatts()
	}
	st.memUsed = s.GetMemory().GetUsedPercent() / 100
	for _, d := range s.GetDisks() {
		st.diskBusy = max(st.diskBusy, d.GetBusyPercent()/100)
	}
	return st
}

// isGPUSensor reports a thermal sensor that belongs to a GPU, which the
// CPU power cap does not cool: its chip or label says "gpu" (amdgpu too),
// or its chip "nouveau", in any case.
func isGPUSensor(th *gamesav1.ThermalSensor) bool {
	return containsFold(th.GetChip(), "gpu") || containsFold(th.GetLabel(), "gpu") || containsFold(th.GetChip(), "nouveau")
}

// containsFold reports whether s contains the lower-case ASCII word sub in
// any case: strings.Contains(strings.ToLower(s), sub) without the copy,
// for every sensor of every sample.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// features writes the 64 inputs for a window of states, newest first
// (len 1..Window; a short window repeats its oldest state).
func features(dst []float32, win []state, cfg *Config) {
	dst = dst[:NumFeatures]
	at := func(i int) *state { return &win[min(i, len(win)-1)] }
	limit := cfg.TempLimitC
	for k := range Window {
		st := at(k)
		capW := st.capWatts
		if capW <= 0 {
			capW = cfg.MaxCapWatts
		}
		f := dst[k*perSample : (k+1)*perSample]
		f[0] = float32(st.util)
		f[1] = float32(st.maxCoreUtil)
		f[2] = float32(st.busyCores)
		f[3] = float32(st.freqMHz / cfg.RefMHz)
		f[4] = float32(st.ceilingMHz / cfg.RefMHz)
		f[5] = float32(st.tempC / 100)
		f[6] = float32((limit - st.tempC) / 20)
		f[7] = float32((st.critC - st.tempC) / 50)
		f[8] = float32(st.watts / cfg.MaxCapWatts)
		f[9] = float32(capW / cfg.MaxCapWatts)
		f[10] = float32(st.fan)
		f[11] = float32(st.load1PerCore)
	}
	now, old := at(0), at(Window-1)
	var tempSlope, powerSlope, utilSlope float64
	if dt := now.t - old.t; dt > 0 {
		tempSlope = (now.tempC - old.tempC) / dt
		powerSlope = (now.watts - old.watts) / dt / cfg.MaxCapWatts
		utilSlope = (now.util - old.util) / dt
	}
	var meanUtil, maxTemp, over float64
	for k := range Window {
		st := at(k)
		meanUtil += st.util / Window
		maxTemp = max(maxTemp, st.tempC)
		if st.tempC > limit {
			over += 1.0 / Window
		}
	}
	f := dst[Window*perSample:]
	f[0] = float32(tempSlope / 2) // °C/s: a few per second at most
	f[1] = float32(powerSlope * 5)
	f[2] = float32(utilSlope * 5)
	f[3] = float32(now.gpuUtil)
	f[4] = float32(now.gpuTempC / 100)
	f[5] = float32(now.gpuWatts / 100)
	f[6] = float32(now.iowait)
	f[7] = float32(now.sys)
	f[8] = float32(now.memUsed)
	f[9] = float32(now.diskBusy)
	f[10] = float32(max(now.tempC-limit, 0) / 10)
	f[11] = float32(2 * efficiency(now, cfg))
	f[12] = float32(now.workGHz / max(float64(now.cores), 1) / (cfg.RefMHz / 1000))
	f[13] = float32(meanUtil)
	f[14] = float32(maxTemp / 100)
	f[15] = float32(over)
}
