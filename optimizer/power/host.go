package power

import (
	"strconv"
	"strings"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Host is what the planners need to know about the machine at one tick.
// HostFromSample fills it from a telemetry sample and a knob inventory;
// the caller adds GameCores.
type Host struct {
	// Knobs is the knob inventory: what the actuators report for a real
	// host (Set.Inventory), or the simulated machine's Knobs. Plans only
	// name knobs listed here that are writable and have no Owner.
	Knobs []*gamesav1.Knob
	// OnAC is true on mains power, and on a machine without a battery.
	OnAC bool
	// HasBattery says whether BatteryPercent means anything.
	HasBattery bool
	// BatteryPercent is the charge, 0..100.
	BatteryPercent float64
	// GameCores are the logical CPUs the foreground game runs on (the app
	// coordinator's choice); Gaming gives them its per-core settings. Empty
	// means every CPU.
	GameCores []int
	// DomainWatts is what each power domain draws now, keyed by the knob
	// target that limits it: "package-0" for a RAPL package, "gpu0" for an
	// NVIDIA GPU.
	DomainWatts map[string]float64
	// MaxCoreKHz is the fastest core's current frequency, kHz; 0 when
	// unknown. The cap controller's frequency fallback uses it to start
	// cutting from where the cores run rather than from their maximum.
	MaxCoreKHz float64
}

// HostFromSample reads a Host from a sample: AC and battery state, the
// draw of each RAPL package and GPU, and the fastest core's frequency.
// knobs becomes Host.Knobs; s may be nil.
func HostFromSample(s *gamesav1.Sample, knobs []*gamesav1.Knob) Host {
	var h Host
	h.ReadSample(s, knobs)
	return h
}

// ReadSample sets h to HostFromSample(s, knobs), reusing h's DomainWatts
// map: a caller that keeps one Host from tick to tick reads each sample
// without an allocation.
func (h *Host) ReadSample(s *gamesav1.Sample, knobs []*gamesav1.Knob) {
	watts := h.DomainWatts
	if watts == nil {
		watts = map[string]float64{}
	}
	clear(watts)
	*h = Host{Knobs: knobs, OnAC: true, DomainWatts: watts}
	p := s.GetPower()
	if p != nil {
		h.OnAC = p.GetOnAc()
	}
	var full, energy, pct float64
	for _, b := range p.GetBatteries() {
		h.HasBattery = true
		full += b.GetEnergyFullWh()
		energy += b.GetEnergyWh()
		pct += b.GetCapacityPercent()
	}
	if n := len(p.GetBatteries()); n > 0 {
		// Two batteries of different sizes (ThinkPads) are one store of
		// energy; where the sizes are unknown, the plain mean will do.
		h.BatteryPercent = pct / float64(n)
		if full > 0 {
			h.BatteryPercent = 100 * energy / full
		}
	}
	for _, d := range p.GetRapl() {
		// Top-level zones only ("intel-rapl:0"): a subzone's draw is part
		// of its package's.
		if strings.HasPrefix(d.GetName(), "package-") && strings.Count(d.GetZone(), ":") == 1 {
			h.DomainWatts[d.GetName()] += d.GetWatts()
		}
	}
	for _, g := range s.GetGpus() {
		h.DomainWatts[gpuTarget(g.GetIndex())] = g.GetPowerWatts()
	}
	for _, c := range s.GetCpu().GetCores() {
		h.MaxCoreKHz = max(h.MaxCoreKHz, 1000*c.GetFrequencyMhz())
	}
}

// gpuTargets are the first GPUs' knob targets, written once.
var gpuTargets = func() (t [16]string) {
	for i := range t {
		t[i] = "gpu" + strconv.Itoa(i)
	}
	return t
}()

// gpuTarget is GPU i's knob target, "gpu0".
func gpuTarget(i uint32) string {
	if int(i) < len(gpuTargets) {
		return gpuTargets[i]
	}
	return "gpu" + strconv.FormatUint(uint64(i), 10)
}

// MeasuredWatts is the draw a node's power cap covers in a sample: the
// CPU packages (Power.total_watts, the sum of the top-level RAPL domains)
// and the GPUs.
func MeasuredWatts(s *gamesav1.Sample) float64 {
	w := s.GetPower().GetTotalWatts()
	for _, g := range s.GetGpus() {
		w += g.GetPowerWatts()
	}
	return w
}
