package dashboard

import (
	"strconv"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// The CSV export has one row per sample. The fixed columns come first; then
// one group of columns per core, temperature sensor, fan, RAPL domain, GPU
// and forecast horizon found anywhere in the range, in the order first
// seen, named kind[key].field. A cell is empty when the sample lacks that
// thing (a GPU that appeared later, insights before the models were ready):
// an empty cell is never a zero. Numbers round-trip exactly (shortest 'g').

var fixedColumns = []string{
	"time", "seq", "node_id", "source",
	"cpu_utilization_percent", "cpu_user_percent", "cpu_system_percent", "cpu_iowait_percent",
	"load1", "load5", "load15",
	"memory_used_percent", "memory_used_bytes", "memory_total_bytes",
	"power_total_watts", "on_ac",
	"anomaly_score", "anomaly_threshold", "anomalous",
	"workload_class", "workload_confidence",
}

var (
	coreFields     = []string{"utilization_percent", "frequency_mhz", "max_frequency_mhz"}
	raplFields     = []string{"watts", "long_term_limit_watts"}
	gpuFields      = []string{"utilization_percent", "memory_utilization_percent", "temperature_celsius", "power_watts", "power_limit_watts"}
	thermalFields  = []string{"celsius"}
	fanFields      = []string{"rpm"}
	forecastFields = []string{"celsius"}
)

// keyed is an ordered set of keys: the order in which they were first seen.
type keyed[K comparable] struct {
	order []K
	index map[K]int
}

func (k *keyed[K]) add(key K) {
	if k.index == nil {
		k.index = make(map[K]int)
	}
	if _, ok := k.index[key]; !ok {
		k.index[key] = len(k.order)
		k.order = append(k.order, key)
	}
}

// columns is the CSV layout of a range of samples.
type columns struct {
	cores     keyed[uint32]
	thermal   keyed[string]
	fans      keyed[string]
	rapl      keyed[string]
	gpus      keyed[uint32]
	forecasts keyed[uint32]
	head      []string
}

func raplKey(d *gamesav1.RAPLDomain) string { return d.GetZone() + "/" + d.GetName() }

// add widens the layout to cover s.
func (c *columns) add(s *gamesav1.Sample) {
	c.head = nil
	for _, x := range s.GetCpu().GetCores() {
		c.cores.add(x.GetId())
	}
	for _, x := range s.GetThermal() {
		c.thermal.add(x.GetName())
	}
	for _, x := range s.GetFans() {
		c.fans.add(x.GetName())
	}
	for _, x := range s.GetPower().GetRapl() {
		c.rapl.add(raplKey(x))
	}
	for _, x := range s.GetGpus() {
		c.gpus.add(x.GetIndex())
	}
	for _, x := range s.GetInsights().GetThermalForecast() {
		c.forecasts.add(x.GetHorizonSeconds())
	}
}

func group[K comparable](head []string, kind string, k *keyed[K], name func(K) string, fields []string) []string {
	for _, key := range k.order {
		for _, f := range fields {
			head = append(head, kind+"["+name(key)+"]."+f)
		}
	}
	return head
}

func idName(id uint32) string { return strconv.FormatUint(uint64(id), 10) }
func secName(h uint32) string { return strconv.FormatUint(uint64(h), 10) + "s" }
func strName(s string) string { return s }
func num(v float64) string    { return strconv.FormatFloat(v, 'g', -1, 64) }
func unum(v uint64) string    { return strconv.FormatUint(v, 10) }
func boolCell(b bool) string  { return strconv.FormatBool(b) }
func opt(ok bool, v string) string {
	if !ok {
		return ""
	}
	return v
}

// header returns the column names.
func (c *columns) header() []string {
	if c.head != nil {
		return c.head
	}
	h := append([]string(nil), fixedColumns...)
	h = group(h, "core", &c.cores, idName, coreFields)
	h = group(h, "temp", &c.thermal, strName, thermalFields)
	h = group(h, "fan", &c.fans, strName, fanFields)
	h = group(h, "rapl", &c.rapl, strName, raplFields)
	h = group(h, "gpu", &c.gpus, idName, gpuFields)
	h = group(h, "forecast", &c.forecasts, secName, forecastFields)
	c.head = h
	return h
}

// row appends s's cells to dst, in header order. Things s has that the
// layout lacks are left out; add s first to keep them.
func (c *columns) row(dst []string, s *gamesav1.Sample) []string {
	cpu, mem, pw, in := s.GetCpu(), s.GetMemory(), s.GetPower(), s.GetInsights()
	// The anomaly detector reports zeros until it is ready, and the
	// classifier an empty class: not readings, so empty cells.
	anomalyReady := in.GetAnomalyThreshold() > 0
	classReady := in.GetWorkloadClass() != ""
	dst = append(dst,
		s.GetTime().AsTime().UTC().Format(time.RFC3339Nano),
		unum(s.GetSeq()), s.GetNodeId(), s.GetSource(),
		num(cpu.GetUtilizationPercent()), num(cpu.GetUserPercent()), num(cpu.GetSystemPercent()), num(cpu.GetIowaitPercent()),
		num(s.GetLoad().GetLoad1()), num(s.GetLoad().GetLoad5()), num(s.GetLoad().GetLoad15()),
		num(mem.GetUsedPercent()), unum(mem.GetUsedBytes()), unum(mem.GetTotalBytes()),
		num(pw.GetTotalWatts()), boolCell(pw.GetOnAc()),
		opt(anomalyReady, num(in.GetAnomalyScore())), opt(anomalyReady, num(in.GetAnomalyThreshold())), opt(anomalyReady, boolCell(in.GetAnomalous())),
		opt(classReady, in.GetWorkloadClass()), opt(classReady, num(in.GetWorkloadConfidence())),
	)

	cores := make(map[uint32]*gamesav1.CPUCore, len(cpu.GetCores()))
	for _, x := range cpu.GetCores() {
		cores[x.GetId()] = x
	}
	for _, id := range c.cores.order {
		x, ok := cores[id]
		dst = append(dst, opt(ok, num(x.GetUtilizationPercent())), opt(ok, num(x.GetFrequencyMhz())), opt(ok, num(x.GetMaxFrequencyMhz())))
	}

	dst = cellsByName(dst, &c.thermal, s.GetThermal(), (*gamesav1.ThermalSensor).GetName, func(dst []string, x *gamesav1.ThermalSensor) []string {
		return append(dst, num(x.GetTemperatureCelsius()))
	}, len(thermalFields))
	dst = cellsByName(dst, &c.fans, s.GetFans(), (*gamesav1.Fan).GetName, func(dst []string, x *gamesav1.Fan) []string {
		return append(dst, num(x.GetRpm()))
	}, len(fanFields))
	dst = cellsByName(dst, &c.rapl, pw.GetRapl(), raplKey, func(dst []string, x *gamesav1.RAPLDomain) []string {
		return append(dst, num(x.GetWatts()), num(x.GetLongTermLimitWatts()))
	}, len(raplFields))
	dst = cellsByName(dst, &c.gpus, s.GetGpus(), (*gamesav1.GPU).GetIndex, func(dst []string, x *gamesav1.GPU) []string {
		return append(dst, num(x.GetUtilizationPercent()), num(x.GetMemoryUtilizationPercent()),
			num(x.GetTemperatureCelsius()), num(x.GetPowerWatts()), num(x.GetPowerLimitWatts()))
	}, len(gpuFields))
	dst = cellsByName(dst, &c.forecasts, in.GetThermalForecast(), (*gamesav1.ThermalForecast).GetHorizonSeconds, func(dst []string, x *gamesav1.ThermalForecast) []string {
		return append(dst, num(x.GetCelsius()))
	}, len(forecastFields))
	return dst
}

// cellsByName appends, for each key of the layout, the cells of the item
// with that key, or width empty cells when s has none.
func cellsByName[K comparable, T any](dst []string, k *keyed[K], items []T, key func(T) K, cells func([]string, T) []string, width int) []string {
	for _, want := range k.order {
		found := false
		for _, x := range items { // a handful of items: a scan beats a map
			if key(x) == want {
				dst = cells(dst, x)
				found = true
				break
			}
		}
		if !found {
			for range width {
				dst = append(dst, "")
			}
		}
	}
	return dst
}
