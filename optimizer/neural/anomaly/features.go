package anomaly

import (
	"fmt"
	"math"
	"strings"

	"github.com/krystalstack/gamesa/optimizer/neural"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// The signals taken from each sample, in feature order. A feature vector
// is Window consecutive rows of them, oldest first: feature
// lag*Signals + signal.
//
// They are chosen so that each fault the detector is meant to catch breaks
// a relation that normal operation keeps:
//   - a stuck temperature sensor: sigTempRate stays 0 while sigPower moves
//     the package away from its equilibrium (normally C·dT/dt ≈ P − (T−Ta)/R);
//   - a failed fan: sigFan drops to 0 while sigTemp is well above the
//     point where the fan curve spins the fan, and the temperature climbs
//     at constant power;
//   - a runaway process: a single process holding a whole core (sigTopProc
//     or sigSecondProc at 100) with sigMaxCore at 100 and sigCPU, sigPower
//     raised, in a combination no workload shows.
//
// Process CPU is clipped at one core: what marks a runaway is one thread
// spinning, and unclipped a renderer's 800 % would set the scale so that
// the difference between 1 % and 100 % vanished in normalisation.
const (
	sigCPU        = iota // CPU busy over all cores, percent
	sigMaxCore           // the busiest core, percent
	sigTemp              // the hottest CPU temperature sensor, °C
	sigTempRate          // its change since the previous sample, °C/s
	sigPower             // package/system draw, W
	sigFan               // the fastest fan, rpm
	sigTopProc           // the busiest process, percent of one core, at most 100
	sigSecondProc        // the second busiest, likewise
)

// signalNames names the signals for error messages and reports.
var signalNames = [Signals]string{"cpu", "max_core", "temp", "temp_rate", "power", "fan", "top_proc", "second_proc"}

// stdFloor is the smallest spread the normaliser assumes per signal, in the
// signal's unit: without it a signal that barely moved in the data the
// normaliser was fitted on (the fan at an idle desk) would blow up the
// first ordinary change into a huge error.
var stdFloor = [Signals]float32{5, 5, 2, 0.1, 2, 200, 5, 5}

// stdCeil is the largest spread the normaliser assumes per signal. Only
// the fan has one: its speed is a function of temperature, so its whole
// range is signal, and scaling it by a spread that covers idle to full
// speed would make a stopped fan at idle (its slowest normal speed to
// zero) look like ordinary variation.
var stdCeil = [Signals]float32{
	math.MaxFloat32, math.MaxFloat32, math.MaxFloat32, math.MaxFloat32,
	math.MaxFloat32, 500, math.MaxFloat32, math.MaxFloat32,
}

// cpuTemp returns the hottest CPU temperature in s and whether there is
// one. Sensors of GPUs and drives are left out (their chip or name says
// "gpu" or "nvme"): they have their own thermal paths, and the GPU's is
// hotter than the CPU's in a game, which would hide the CPU's sensor.
func cpuTemp(s *gamesav1.Sample) (float64, bool) {
	var m neural.ListMask
	return hottestCPU(s.GetThermal(), cpuSensors(&m, s.GetThermal()))
}

// hottestCPU is cpuTemp over sensors ts whose CPU sensors cpu marks.
func hottestCPU(ts []*gamesav1.ThermalSensor, cpu []bool) (float64, bool) {
	t, ok := math.Inf(-1), false
	for i, s := range ts {
		if cpu[i] {
			t, ok = max(t, s.GetTemperatureCelsius()), true
		}
	}
	return t, ok
}

// cpuSensors marks which of a sample's thermal sensors are the CPU's
// (isCPUSensor), made again only when the sensor list changes.
func cpuSensors(m *neural.ListMask, ts []*gamesav1.ThermalSensor) []bool {
	return m.Of(len(ts),
		func(i int) (string, string) { return ts[i].GetChip(), ts[i].GetName() },
		func(i int) bool { return isCPUSensor(ts[i]) })
}

// isCPUSensor reports whether ts is one the detector reads as the CPU's.
// InjectStuckSensor freezes exactly these.
func isCPUSensor(ts *gamesav1.ThermalSensor) bool {
	for _, f := range [...]string{ts.GetChip(), ts.GetName()} {
		if containsFold(f, "gpu") || containsFold(f, "nvme") {
			return false
		}
	}
	return true
}

// containsFold reports whether s contains the lower-case ASCII word sub in
// any case, without the allocation of strings.ToLower (it runs for every
// sensor of every sample).
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// readSignals fills row with s's raw signals, except sigTempRate, which
// needs the previous sample; cpu marks s's CPU sensors. It reports an
// error wrapping neural.ErrNonFinite for a NaN or infinite input.
func readSignals(row *[Signals]float32, s *gamesav1.Sample, cpu []bool) error {
	if err := checkFolded(s, cpu); err != nil {
		return err
	}
	var maxCore float64
	for _, c := range s.GetCpu().GetCores() {
		maxCore = max(maxCore, c.GetUtilizationPercent())
	}
	var fan float64
	for _, f := range s.GetFans() {
		fan = max(fan, f.GetRpm())
	}
	var procs [2]float64
	for i, p := range s.GetProcesses().GetTop() {
		if i == len(procs) {
			break
		}
		procs[i] = min(p.GetCpuPercent(), 100)
	}
	temp, ok := hottestCPU(s.GetThermal(), cpu)
	if !ok {
		temp = 0 // no sensor: a constant, which the model learns as such
	}
	raw := [Signals]float64{
		sigCPU:        s.GetCpu().GetUtilizationPercent(),
		sigMaxCore:    maxCore,
		sigTemp:       temp,
		sigPower:      s.GetPower().GetTotalWatts(),
		sigFan:        fan,
		sigTopProc:    procs[0],
		sigSecondProc: procs[1],
	}
	for i, v := range raw {
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > math.MaxFloat32 {
			return fmt.Errorf("anomaly: signal %s = %v: %w", signalNames[i], v, neural.ErrNonFinite)
		}
		row[i] = float32(v)
	}
	return nil
}

// checkFolded reports a non-finite value among the inputs that readSignals
// reduces with max, which would hide a −Inf (and name no culprit).
func checkFolded(s *gamesav1.Sample, cpu []bool) error {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	for _, c := range s.GetCpu().GetCores() {
		if bad(c.GetUtilizationPercent()) {
			return fmt.Errorf("anomaly: core %d utilisation = %v: %w", c.GetId(), c.GetUtilizationPercent(), neural.ErrNonFinite)
		}
	}
	for _, f := range s.GetFans() {
		if bad(f.GetRpm()) {
			return fmt.Errorf("anomaly: fan %q rpm = %v: %w", f.GetName(), f.GetRpm(), neural.ErrNonFinite)
		}
	}
	for i, ts := range s.GetThermal() {
		if cpu[i] && bad(ts.GetTemperatureCelsius()) {
			return fmt.Errorf("anomaly: sensor %q = %v: %w", ts.GetName(), ts.GetTemperatureCelsius(), neural.ErrNonFinite)
		}
	}
	return nil
}
