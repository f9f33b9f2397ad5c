package rules

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Config says which names the rule language accepts beyond its fixed
// features: the app classes (from the app coordinator), the workload
// classes (from the workload model) and the forecast horizons (from the
// thermal model).
type Config struct {
	// AppClasses are the classes app.foreground.class may equal, each
	// with an app.running.<class> feature, and the classes app actions
	// may target.
	AppClasses []string
	// WorkloadClasses are the values workload.class may equal.
	WorkloadClasses []string
	// ForecastHorizons are the horizons, in seconds, that get a
	// thermal.forecast_<N>s feature.
	ForecastHorizons []uint32
}

// DefaultConfig returns the classes of the app coordinator and of the
// workload model, and the thermal model's horizons.
func DefaultConfig() Config {
	return Config{
		AppClasses:       []string{"game", "voice", "browser", "ide", "compile", "render", "stream", "service"},
		WorkloadClasses:  []string{"game", "render", "compile", "browser", "idle"},
		ForecastHorizons: []uint32{10, 30, 60},
	}
}

// Validate reports names that a rule could not spell or that repeat.
func (c Config) Validate() error {
	for _, list := range []struct {
		what  string
		names []string
	}{{"app class", c.AppClasses}, {"workload class", c.WorkloadClasses}} {
		seen := map[string]bool{}
		for _, n := range list.names {
			if !isIdent(n) || strings.Contains(n, ".") {
				return fmt.Errorf("%w: %s %q is not a lower-case identifier", ErrConfig, list.what, n)
			}
			if seen[n] {
				return fmt.Errorf("%w: %s %q listed twice", ErrConfig, list.what, n)
			}
			seen[n] = true
		}
	}
	seen := map[uint32]bool{}
	for _, h := range c.ForecastHorizons {
		if h == 0 || seen[h] {
			return fmt.Errorf("%w: forecast horizon %d is zero or listed twice", ErrConfig, h)
		}
		seen[h] = true
	}
	return nil
}

// Type is a feature's type: what its conditions may compare it with.
type Type int

// The feature types.
const (
	// Number features take <, <=, >, >=, == and != against a number.
	Number Type = iota
	// Bool features take == and != against true or false.
	Bool
	// String features take == and != against one of their choices.
	String
)

// String names the type as error messages do.
func (t Type) String() string {
	switch t {
	case Number:
		return "number"
	case Bool:
		return "bool"
	case String:
		return "string"
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// FeatureInfo describes one feature a condition may name.
type FeatureInfo struct {
	Name string
	Type Type
	// Doc says where the value comes from and its unit.
	Doc string
	// Choices are a String feature's values.
	Choices []string
}

// The fixed features' slots. Horizons and app classes follow them.
const (
	fCPUUtil = iota
	fCPUUser
	fCPUSystem
	fCPUIOWait
	fCPUSteal
	fCPUFreq
	fLoad1
	fLoad5
	fLoad15
	fProcsRunning
	fProcsBlocked
	fCtxSwitches
	fMemUsed
	fMemAvail
	fSwapUsed
	fThermalMax
	fFanMax
	fPowerWatts
	fOnAC
	fBattery
	fDischarging
	fGPUUtil
	fGPUMemUtil
	fGPUTemp
	fGPUPower
	fDiskBusy
	fDiskRead
	fDiskWrite
	fNetRx
	fNetTx
	fProcsTotal
	fThreads
	fAnomalyScore
	fAnomalyThreshold
	fAnomalous
	fWorkloadClass
	fWorkloadConf
	fForeground
	numFixed
)

// fixedFeatures documents the fixed slots, in slot order. A function, not
// a var, so that no caller can change the table under another.
func fixedFeatures() [numFixed]FeatureInfo {
	return [numFixed]FeatureInfo{
		fCPUUtil:          {"cpu.utilization", Number, "busy time over all cores, 0..100", nil},
		fCPUUser:          {"cpu.user", Number, "user time, 0..100", nil},
		fCPUSystem:        {"cpu.system", Number, "system time, 0..100", nil},
		fCPUIOWait:        {"cpu.iowait", Number, "iowait time, 0..100", nil},
		fCPUSteal:         {"cpu.steal", Number, "steal time, 0..100", nil},
		fCPUFreq:          {"cpu.frequency_mhz", Number, "mean current frequency of the cores that report one, MHz", nil},
		fLoad1:            {"load.load1", Number, "1-minute load average", nil},
		fLoad5:            {"load.load5", Number, "5-minute load average", nil},
		fLoad15:           {"load.load15", Number, "15-minute load average", nil},
		fProcsRunning:     {"load.procs_running", Number, "runnable tasks", nil},
		fProcsBlocked:     {"load.procs_blocked", Number, "tasks blocked on I/O", nil},
		fCtxSwitches:      {"load.context_switches_per_second", Number, "context switches per second", nil},
		fMemUsed:          {"memory.used_percent", Number, "used memory, 0..100", nil},
		fMemAvail:         {"memory.available_percent", Number, "available memory, 0..100", nil},
		fSwapUsed:         {"memory.swap_used_percent", Number, "used swap, 0..100; 0 without swap", nil},
		fThermalMax:       {"thermal.max_celsius", Number, "hottest sensor, °C", nil},
		fFanMax:           {"fan.max_rpm", Number, "fastest fan, RPM", nil},
		fPowerWatts:       {"power.total_watts", Number, "system draw, W; absent when unknown", nil},
		fOnAC:             {"power.on_ac", Bool, "AC adapter online (true without a battery)", nil},
		fBattery:          {"power.battery_percent", Number, "lowest battery charge, 0..100; absent without a battery", nil},
		fDischarging:      {"power.discharging", Bool, "a battery is discharging", nil},
		fGPUUtil:          {"gpu.utilization", Number, "busiest GPU, 0..100", nil},
		fGPUMemUtil:       {"gpu.memory_utilization", Number, "busiest GPU memory, 0..100", nil},
		fGPUTemp:          {"gpu.temperature_celsius", Number, "hottest GPU, °C", nil},
		fGPUPower:         {"gpu.power_watts", Number, "all GPUs' draw, W", nil},
		fDiskBusy:         {"disk.busy_percent", Number, "busiest disk, 0..100", nil},
		fDiskRead:         {"disk.read_bytes_per_second", Number, "all disks, B/s", nil},
		fDiskWrite:        {"disk.write_bytes_per_second", Number, "all disks, B/s", nil},
		fNetRx:            {"net.rx_bytes_per_second", Number, "all interfaces, B/s", nil},
		fNetTx:            {"net.tx_bytes_per_second", Number, "all interfaces, B/s", nil},
		fProcsTotal:       {"processes.total", Number, "processes", nil},
		fThreads:          {"processes.threads", Number, "threads", nil},
		fAnomalyScore:     {"anomaly.score", Number, "anomaly detector's reconstruction error; absent until ready", nil},
		fAnomalyThreshold: {"anomaly.threshold", Number, "anomaly detector's adaptive threshold; absent until ready", nil},
		fAnomalous:        {"anomaly.anomalous", Bool, "the detector flags the sample; absent until ready", nil},
		fWorkloadClass:    {"workload.class", String, "workload model's class; absent until a window is full", nil},
		fWorkloadConf:     {"workload.confidence", Number, "workload model's confidence, 0..1", nil},
		fForeground:       {"app.foreground.class", String, "the foreground app's class; absent when none is known", nil},
	}
}

// Schema is the table of features for one Config: each name's slot in a
// Features vector and its type. It is immutable and safe for concurrent
// use. Rule sets compiled against one Schema evaluate Features built by
// it.
type Schema struct {
	infos         []FeatureInfo
	byName        map[string]int
	horizons      []uint32
	forecastSlots []int
	runningSlots  []int
	appClasses    []string
}

// NewSchema builds the feature table for cfg.
func NewSchema(cfg Config) (*Schema, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Schema{byName: map[string]int{}, horizons: slices.Clone(cfg.ForecastHorizons), appClasses: slices.Clone(cfg.AppClasses)}
	fixed := fixedFeatures()
	s.infos = append(s.infos, fixed[:]...)
	s.infos[fWorkloadClass].Choices = slices.Clone(cfg.WorkloadClasses)
	s.infos[fForeground].Choices = slices.Clone(cfg.AppClasses)
	for _, h := range cfg.ForecastHorizons {
		s.forecastSlots = append(s.forecastSlots, len(s.infos))
		s.infos = append(s.infos, FeatureInfo{Name: fmt.Sprintf("thermal.forecast_%ds", h), Type: Number,
			Doc: fmt.Sprintf("thermal model's CPU package forecast %d s ahead, °C; absent until the model has history", h)})
	}
	for _, c := range cfg.AppClasses {
		s.runningSlots = append(s.runningSlots, len(s.infos))
		s.infos = append(s.infos, FeatureInfo{Name: "app.running." + c, Type: Bool,
			Doc: fmt.Sprintf("an app of class %s runs (foreground or background)", c)})
	}
	for i, fi := range s.infos {
		s.byName[fi.Name] = i
	}
	return s, nil
}

// Features lists every feature, in slot order.
func (s *Schema) Features() []FeatureInfo {
	out := slices.Clone(s.infos)
	for i := range out {
		out[i].Choices = slices.Clone(out[i].Choices)
	}
	return out
}

// Lookup returns a feature's description.
func (s *Schema) Lookup(name string) (FeatureInfo, bool) {
	i, ok := s.byName[name]
	if !ok {
		return FeatureInfo{}, false
	}
	return s.infos[i], true
}

func (s *Schema) isAppClass(c string) bool { return slices.Contains(s.appClasses, c) }

// code is a String feature's value as its slot holds it: the index of the
// choice, or len(choices) for a value no rule can name (so != holds for
// it and == never does).
func (s *Schema) code(slot int, v string) float64 {
	ch := s.infos[slot].Choices
	if i := slices.Index(ch, v); i >= 0 {
		return float64(i)
	}
	return float64(len(ch))
}

// Apps is what the app coordinator knows about the apps of the moment.
type Apps struct {
	// Foreground is the class of the app the user is in; empty when
	// unknown.
	Foreground string
	// Running lists the classes of every app that runs, foreground
	// included; a class may repeat.
	Running []string
}

// Features is one sample as rules see it: a value per feature of a
// Schema, with absent values for what the sample lacks. A condition on an
// absent feature is false, whatever its operator; `not` of it is true.
//
// Build one per sample (or reuse one with Extract) and hand it to
// Engine.Evaluate; it is not safe to change while an evaluation reads it.
type Features struct {
	schema *Schema
	v      []float64 // NaN = absent; bools 0/1; strings as code()
}

// NewFeatures returns a vector with every feature absent.
func (s *Schema) NewFeatures() *Features {
	f := &Features{schema: s, v: make([]float64, len(s.infos))}
	f.Reset()
	return f
}

// Schema returns the schema f was built for.
func (f *Features) Schema() *Schema { return f.schema }

// Reset marks every feature absent.
func (f *Features) Reset() {
	for i := range f.v {
		f.v[i] = math.NaN()
	}
}

// Set sets a feature from text as a condition would spell its value
// ("85.5", "true", "game"); an empty text marks it absent. Tests and
// callers with values of their own use it.
func (f *Features) Set(name, text string) error {
	slot, ok := f.schema.byName[name]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownFeature, name)
	}
	if text == "" {
		f.v[slot] = math.NaN()
		return nil
	}
	fi := f.schema.infos[slot]
	switch fi.Type {
	case Number:
		x, err := strconv.ParseFloat(text, 64)
		if err != nil || math.IsNaN(x) {
			return fmt.Errorf("%w: %s wants a number, got %q", ErrType, name, text)
		}
		f.v[slot] = x
	case Bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return fmt.Errorf("%w: %s wants true or false, got %q", ErrType, name, text)
		}
		f.v[slot] = b2f(b)
	case String:
		f.v[slot] = f.schema.code(slot, text)
	}
	return nil
}

// Value returns a feature's value as text, and false when it is absent or
// unknown.
func (f *Features) Value(name string) (string, bool) {
	slot, ok := f.schema.byName[name]
	if !ok || math.IsNaN(f.v[slot]) {
		return "", false
	}
	return f.text(slot), true
}

// text formats a present slot's value.
func (f *Features) text(slot int) string { return formatValue(f.schema, slot, f.v[slot]) }

func formatValue(s *Schema, slot int, x float64) string {
	if fi := &s.infos[slot]; fi.Type == String && !math.IsNaN(x) {
		if i := int(x); i >= 0 && i < len(fi.Choices) {
			return fi.Choices[i] // as it is, not a copy
		}
	}
	var buf [32]byte
	return string(appendValue(buf[:0], s, slot, x))
}

// appendValue appends formatValue's text to b.
func appendValue(b []byte, s *Schema, slot int, x float64) []byte {
	if math.IsNaN(x) {
		return append(b, "absent"...)
	}
	fi := &s.infos[slot]
	switch fi.Type {
	case Bool:
		return strconv.AppendBool(b, x != 0)
	case String:
		if i := int(x); i >= 0 && i < len(fi.Choices) {
			return append(b, fi.Choices[i]...)
		}
		return append(b, "(other)"...)
	}
	return strconv.AppendFloat(b, x, 'g', 6, 64)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Extract fills dst (which must come from s.NewFeatures) from a sample
// and the app coordinator's view. What the sample lacks is absent: no
// battery, no GPU, no insights yet. It allocates nothing.
func (s *Schema) Extract(dst *Features, sample *gamesav1.Sample, apps Apps) {
	dst.Reset()
	v := dst.v
	if c := sample.GetCpu(); c != nil {
		v[fCPUUtil], v[fCPUUser], v[fCPUSystem] = c.GetUtilizationPercent(), c.GetUserPercent(), c.GetSystemPercent()
		v[fCPUIOWait], v[fCPUSteal] = c.GetIowaitPercent(), c.GetStealPercent()
		sum, n := 0.0, 0
		for _, core := range c.GetCores() {
			if f := core.GetFrequencyMhz(); f > 0 {
				sum += f
				n++
			}
		}
		if n > 0 {
			v[fCPUFreq] = sum / float64(n)
		}
	}
	if l := sample.GetLoad(); l != nil {
		v[fLoad1], v[fLoad5], v[fLoad15] = l.GetLoad1(), l.GetLoad5(), l.GetLoad15()
		v[fProcsRunning], v[fProcsBlocked] = float64(l.GetProcsRunning()), float64(l.GetProcsBlocked())
		v[fCtxSwitches] = float64(l.GetContextSwitchesPerSecond())
	}
	if m := sample.GetMemory(); m != nil && m.GetTotalBytes() > 0 {
		v[fMemUsed] = m.GetUsedPercent()
		v[fMemAvail] = 100 * float64(m.GetAvailableBytes()) / float64(m.GetTotalBytes())
		v[fSwapUsed] = 0
		if t := m.GetSwapTotalBytes(); t > 0 {
			v[fSwapUsed] = 100 * float64(t-min(t, m.GetSwapFreeBytes())) / float64(t)
		}
	}
	v[fThermalMax] = maxOf(sample.GetThermal(), (*gamesav1.ThermalSensor).GetTemperatureCelsius)
	v[fFanMax] = maxOf(sample.GetFans(), (*gamesav1.Fan).GetRpm)
	if p := sample.GetPower(); p != nil {
		if w := p.GetTotalWatts(); w > 0 {
			v[fPowerWatts] = w
		}
		v[fOnAC] = b2f(p.GetOnAc())
		if bs := p.GetBatteries(); len(bs) > 0 {
			lowest, dis := math.Inf(1), false
			for _, b := range bs {
				lowest = min(lowest, b.GetCapacityPercent())
				dis = dis || b.GetStatus() == "Discharging"
			}
			v[fBattery], v[fDischarging] = lowest, b2f(dis)
		} else {
			v[fDischarging] = 0
		}
	}
	if gs := sample.GetGpus(); len(gs) > 0 {
		v[fGPUUtil] = maxOf(gs, (*gamesav1.GPU).GetUtilizationPercent)
		v[fGPUMemUtil] = maxOf(gs, (*gamesav1.GPU).GetMemoryUtilizationPercent)
		v[fGPUTemp] = maxOf(gs, (*gamesav1.GPU).GetTemperatureCelsius)
		v[fGPUPower] = sumOf(gs, (*gamesav1.GPU).GetPowerWatts)
	}
	if ds := sample.GetDisks(); len(ds) > 0 {
		v[fDiskBusy] = maxOf(ds, (*gamesav1.Disk).GetBusyPercent)
		v[fDiskRead] = sumOf(ds, (*gamesav1.Disk).GetReadBytesPerSecond)
		v[fDiskWrite] = sumOf(ds, (*gamesav1.Disk).GetWriteBytesPerSecond)
	}
	if ns := sample.GetNet(); len(ns) > 0 {
		v[fNetRx] = sumOf(ns, (*gamesav1.NetInterface).GetRxBytesPerSecond)
		v[fNetTx] = sumOf(ns, (*gamesav1.NetInterface).GetTxBytesPerSecond)
	}
	if p := sample.GetProcesses(); p != nil {
		v[fProcsTotal], v[fThreads] = float64(p.GetTotal()), float64(p.GetThreads())
	}
	if in := sample.GetInsights(); in != nil {
		// Both are 0 until the detector is ready; a ready detector has a
		// positive threshold.
		if in.GetAnomalyThreshold() > 0 {
			v[fAnomalyScore], v[fAnomalyThreshold] = in.GetAnomalyScore(), in.GetAnomalyThreshold()
			v[fAnomalous] = b2f(in.GetAnomalous())
		}
		if c := in.GetWorkloadClass(); c != "" {
			v[fWorkloadClass] = s.code(fWorkloadClass, c)
			v[fWorkloadConf] = in.GetWorkloadConfidence()
		}
		for _, tf := range in.GetThermalForecast() {
			if i := slices.Index(s.horizons, tf.GetHorizonSeconds()); i >= 0 {
				v[s.forecastSlots[i]] = tf.GetCelsius()
			}
		}
	}
	if apps.Foreground != "" {
		v[fForeground] = s.code(fForeground, apps.Foreground)
	}
	for i, slot := range s.runningSlots {
		v[slot] = b2f(slices.Contains(apps.Running, s.appClasses[i]))
	}
}

func maxOf[T any](xs []T, get func(T) float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	m := math.Inf(-1)
	for _, x := range xs {
		m = max(m, get(x))
	}
	return m
}

func sumOf[T any](xs []T, get func(T) float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += get(x)
	}
	return s
}
