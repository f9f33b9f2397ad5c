package node

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// metrics is the node's Prometheus registry: the agent's own counters, Go and
// process metrics, and every value of the latest sample as a labelled gauge.
// The sample gauges are built at scrape time from the sample the loop already
// took, so a scrape never reads the machine and never sees half a sample.
type metrics struct {
	reg          *prometheus.Registry
	samples      prometheus.Counter
	sampleErrors prometheus.Counter
	recordErrors prometheus.Counter
	tickSeconds  prometheus.Histogram
}

func newMetrics(n *Node) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		samples: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gamesa_samples_total", Help: "Samples taken by the local loop.",
		}),
		sampleErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gamesa_sample_errors_total", Help: "Ticks whose sample could not be taken at all.",
		}),
		recordErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gamesa_history_record_errors_total", Help: "Samples the on-disk recorder failed to write.",
		}),
		tickSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gamesa_tick_duration_seconds",
			Help:    "Wall time of one tick: sample, record, publish.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, 1},
		}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.samples, m.sampleErrors, m.recordErrors, m.tickSeconds,
		&sampleCollector{n: n},
		&clusterCollector{n: n},
	)
	return m
}

func (m *metrics) observeTick(d time.Duration) {
	m.samples.Inc()
	m.tickSeconds.Observe(d.Seconds())
}

// desc builds a descriptor for a gauge of the sample collector.
func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("gamesa_"+name, help, labels, nil)
}

// Sample gauges. Names follow Prometheus conventions: base units (bytes,
// seconds, hertz, celsius, watts) and ratios 0..1 rather than percentages.
var (
	descCPUUtil      = desc("cpu_utilization_ratio", "Busy share of all cores since the previous sample.", "mode")
	descCoreUtil     = desc("cpu_core_utilization_ratio", "Busy share of one logical core.", "core")
	descCoreFreq     = desc("cpu_core_frequency_hertz", "Current frequency of one logical core.", "core")
	descLoad         = desc("load_average", "Run-queue load average.", "window")
	descProcsRunning = desc("procs_running", "Runnable tasks.")
	descProcsBlocked = desc("procs_blocked", "Tasks blocked on I/O.")
	descCtxSwitches  = desc("context_switches_per_second", "Context switches per second.")
	descMemory       = desc("memory_bytes", "Memory by kind, from /proc/meminfo.", "kind")
	descTemp         = desc("temperature_celsius", "A temperature sensor.", "sensor", "kind", "chip", "label")
	descTempCrit     = desc("temperature_critical_celsius", "A sensor's critical limit.", "sensor")
	descFan          = desc("fan_rpm", "Fan speed.", "fan", "chip", "label")
	descRAPLWatts    = desc("rapl_power_watts", "Average power of a RAPL domain since the previous sample.", "zone", "domain")
	descRAPLLimit    = desc("rapl_power_limit_watts", "A RAPL power limit.", "zone", "domain", "constraint")
	descPowerTotal   = desc("power_watts", "Best estimate of the machine's draw.")
	descOnAC         = desc("power_on_ac", "1 when running from mains power.")
	descBattCap      = desc("battery_capacity_ratio", "Battery charge.", "battery", "status")
	descBattPower    = desc("battery_power_watts", "Battery charge or discharge power.", "battery")
	descBattEnergy   = desc("battery_energy_wh", "Battery energy now.", "battery")
	descGPUUtil      = desc("gpu_utilization_ratio", "GPU busy share.", "gpu", "name")
	descGPUMemUtil   = desc("gpu_memory_utilization_ratio", "GPU memory controller busy share.", "gpu", "name")
	descGPUMem       = desc("gpu_memory_bytes", "GPU memory.", "gpu", "name", "kind")
	descGPUTemp      = desc("gpu_temperature_celsius", "GPU temperature.", "gpu", "name")
	descGPUPower     = desc("gpu_power_watts", "GPU power draw.", "gpu", "name")
	descGPULimit     = desc("gpu_power_limit_watts", "GPU enforced power limit.", "gpu", "name")
	descGPUClock     = desc("gpu_clock_hertz", "GPU clocks.", "gpu", "name", "clock")
	descGPUThrottle  = desc("gpu_throttle_reasons", "Bit mask of active clock event (throttle) reasons.", "gpu", "name")
	descDiskBytes    = desc("disk_bytes_per_second", "Disk throughput.", "device", "direction")
	descDiskOps      = desc("disk_ops_per_second", "Disk operations.", "device", "direction")
	descDiskBusy     = desc("disk_busy_ratio", "Share of time with I/O in flight.", "device")
	descNetBytes     = desc("network_bytes_per_second", "Interface throughput.", "interface", "direction")
	descNetPackets   = desc("network_packets_per_second", "Interface packet rate.", "interface", "direction")
	descNetErrors    = desc("network_errors_total", "Interface errors since boot.", "interface", "direction")
	descProcs        = desc("processes", "Processes on the machine.")
	descThreads      = desc("threads", "Threads on the machine.")
	descProcCPU      = desc("process_cpu_ratio", "CPU of a top process; 1 = one full core.", "pid", "name", "user")
	descProcRSS      = desc("process_resident_bytes", "Resident memory of a top process.", "pid", "name", "user")
	descCollectorUp  = desc("collector_up", "1 when the collector read its data in the latest sample.", "collector", "state")
	descCollectorDur = desc("collector_duration_seconds", "Time the collector took in the latest sample.", "collector")
	descSampleTime   = desc("sample_timestamp_seconds", "Unix time of the latest sample.")
	descForecast     = desc("thermal_forecast_celsius", "Forecast CPU package temperature.", "horizon")
	descAnomaly      = desc("anomaly_score", "Anomaly detector reconstruction error.")
	descAnomalyThr   = desc("anomaly_threshold", "The anomaly detector's adaptive threshold.")
	descAnomalous    = desc("anomalous", "1 when the latest sample is judged anomalous.")
	descWorkload     = desc("workload_class_confidence", "The workload classifier's confidence in its class.", "class")
	descModelSamples = desc("model_training_samples", "Samples a model has trained on.", "model")
	descModelLoss    = desc("model_loss", "Mean loss of a model's latest online training steps.", "model")
	descWatchers     = desc("watchers", "Open WatchTelemetry streams.")
	descCutOff       = desc("watchers_cut_off_total", "WatchTelemetry streams ended for reading too slowly.")
)

// sampleCollector exports the latest sample. It is an unchecked collector
// (Describe sends nothing) because the label sets follow the machine:
// sensors, disks and top processes come and go.
type sampleCollector struct{ n *Node }

func (c *sampleCollector) Describe(chan<- *prometheus.Desc) {}

func (c *sampleCollector) Collect(ch chan<- prometheus.Metric) {
	watching, cutOff := c.n.hub.stats()
	ch <- gauge(descWatchers, float64(watching))
	ch <- prometheus.MustNewConstMetric(descCutOff, prometheus.CounterValue, float64(cutOff))
	s := c.n.latest.Load()
	if s == nil {
		return
	}
	e := emitter{ch: ch}
	e.sample(s)
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

type emitter struct{ ch chan<- prometheus.Metric }

func (e emitter) g(d *prometheus.Desc, v float64, labels ...string) { e.ch <- gauge(d, v, labels...) }

func (e emitter) sample(s *gamesav1.Sample) {
	e.g(descSampleTime, float64(s.GetTime().AsTime().UnixNano())/1e9)
	e.cpu(s.GetCpu(), s.GetLoad())
	e.memory(s.GetMemory())
	e.thermal(s)
	e.power(s.GetPower())
	e.gpus(s.GetGpus())
	e.io(s)
	e.processes(s.GetProcesses())
	e.insights(s.GetInsights())
	for _, st := range s.GetCollectors() {
		up := 0.0
		if st.GetState() == gamesav1.CollectorState_COLLECTOR_STATE_OK {
			up = 1
		}
		e.g(descCollectorUp, up, st.GetName(), stateName(st.GetState()))
		e.g(descCollectorDur, st.GetDuration().AsDuration().Seconds(), st.GetName())
	}
}

// stateName is the short form of a collector state used in labels and the CLI.
func stateName(s gamesav1.CollectorState) string {
	switch s {
	case gamesav1.CollectorState_COLLECTOR_STATE_OK:
		return "ok"
	case gamesav1.CollectorState_COLLECTOR_STATE_NOT_AVAILABLE:
		return "not_available"
	case gamesav1.CollectorState_COLLECTOR_STATE_ERROR:
		return "error"
	default:
		return "unknown"
	}
}

func (e emitter) cpu(c *gamesav1.CPU, l *gamesav1.Load) {
	if c != nil {
		e.g(descCPUUtil, c.GetUtilizationPercent()/100, "total")
		e.g(descCPUUtil, c.GetUserPercent()/100, "user")
		e.g(descCPUUtil, c.GetSystemPercent()/100, "system")
		e.g(descCPUUtil, c.GetIowaitPercent()/100, "iowait")
		e.g(descCPUUtil, c.GetStealPercent()/100, "steal")
		for _, core := range c.GetCores() {
			id := strconv.FormatUint(uint64(core.GetId()), 10)
			e.g(descCoreUtil, core.GetUtilizationPercent()/100, id)
			if f := core.GetFrequencyMhz(); f > 0 {
				e.g(descCoreFreq, f*1e6, id)
			}
		}
	}
	if l != nil {
		e.g(descLoad, l.GetLoad1(), "1m")
		e.g(descLoad, l.GetLoad5(), "5m")
		e.g(descLoad, l.GetLoad15(), "15m")
		e.g(descProcsRunning, float64(l.GetProcsRunning()))
		e.g(descProcsBlocked, float64(l.GetProcsBlocked()))
		e.g(descCtxSwitches, float64(l.GetContextSwitchesPerSecond()))
	}
}

func (e emitter) memory(m *gamesav1.Memory) {
	if m == nil {
		return
	}
	for _, kv := range []struct {
		kind string
		v    uint64
	}{
		{"total", m.GetTotalBytes()}, {"available", m.GetAvailableBytes()}, {"used", m.GetUsedBytes()},
		{"free", m.GetFreeBytes()}, {"buffers", m.GetBuffersBytes()}, {"cached", m.GetCachedBytes()},
		{"dirty", m.GetDirtyBytes()}, {"swap_total", m.GetSwapTotalBytes()}, {"swap_free", m.GetSwapFreeBytes()},
	} {
		e.g(descMemory, float64(kv.v), kv.kind)
	}
}

func (e emitter) thermal(s *gamesav1.Sample) {
	for _, t := range s.GetThermal() {
		e.g(descTemp, t.GetTemperatureCelsius(), t.GetName(), t.GetKind(), t.GetChip(), t.GetLabel())
		if c := t.GetCriticalCelsius(); c > 0 {
			e.g(descTempCrit, c, t.GetName())
		}
	}
	for _, f := range s.GetFans() {
		e.g(descFan, f.GetRpm(), f.GetName(), f.GetChip(), f.GetLabel())
	}
}

func (e emitter) power(p *gamesav1.Power) {
	if p == nil {
		return
	}
	for _, d := range p.GetRapl() {
		e.g(descRAPLWatts, d.GetWatts(), d.GetZone(), d.GetName())
		if w := d.GetLongTermLimitWatts(); w > 0 {
			e.g(descRAPLLimit, w, d.GetZone(), d.GetName(), "long_term")
		}
		if w := d.GetShortTermLimitWatts(); w > 0 {
			e.g(descRAPLLimit, w, d.GetZone(), d.GetName(), "short_term")
		}
	}
	e.g(descPowerTotal, p.GetTotalWatts())
	onAC := 0.0
	if p.GetOnAc() {
		onAC = 1
	}
	e.g(descOnAC, onAC)
	for _, b := range p.GetBatteries() {
		e.g(descBattCap, b.GetCapacityPercent()/100, b.GetName(), b.GetStatus())
		e.g(descBattPower, b.GetPowerWatts(), b.GetName())
		e.g(descBattEnergy, b.GetEnergyWh(), b.GetName())
	}
}

func (e emitter) gpus(gs []*gamesav1.GPU) {
	for _, g := range gs {
		id, name := strconv.FormatUint(uint64(g.GetIndex()), 10), g.GetName()
		e.g(descGPUUtil, g.GetUtilizationPercent()/100, id, name)
		e.g(descGPUMemUtil, g.GetMemoryUtilizationPercent()/100, id, name)
		e.g(descGPUMem, float64(g.GetMemoryUsedBytes()), id, name, "used")
		e.g(descGPUMem, float64(g.GetMemoryTotalBytes()), id, name, "total")
		e.g(descGPUTemp, g.GetTemperatureCelsius(), id, name)
		e.g(descGPUPower, g.GetPowerWatts(), id, name)
		e.g(descGPULimit, g.GetPowerLimitWatts(), id, name)
		e.g(descGPUClock, float64(g.GetGraphicsClockMhz())*1e6, id, name, "graphics")
		e.g(descGPUClock, float64(g.GetSmClockMhz())*1e6, id, name, "sm")
		e.g(descGPUClock, float64(g.GetMemoryClockMhz())*1e6, id, name, "memory")
		e.g(descGPUThrottle, float64(g.GetThrottleReasonsMask()), id, name)
	}
}

func (e emitter) io(s *gamesav1.Sample) {
	for _, d := range s.GetDisks() {
		e.g(descDiskBytes, d.GetReadBytesPerSecond(), d.GetName(), "read")
		e.g(descDiskBytes, d.GetWriteBytesPerSecond(), d.GetName(), "write")
		e.g(descDiskOps, d.GetReadsPerSecond(), d.GetName(), "read")
		e.g(descDiskOps, d.GetWritesPerSecond(), d.GetName(), "write")
		e.g(descDiskBusy, d.GetBusyPercent()/100, d.GetName())
	}
	for _, i := range s.GetNet() {
		e.g(descNetBytes, i.GetRxBytesPerSecond(), i.GetName(), "rx")
		e.g(descNetBytes, i.GetTxBytesPerSecond(), i.GetName(), "tx")
		e.g(descNetPackets, i.GetRxPacketsPerSecond(), i.GetName(), "rx")
		e.g(descNetPackets, i.GetTxPacketsPerSecond(), i.GetName(), "tx")
		e.ch <- prometheus.MustNewConstMetric(descNetErrors, prometheus.CounterValue, float64(i.GetRxErrorsTotal()), i.GetName(), "rx")
		e.ch <- prometheus.MustNewConstMetric(descNetErrors, prometheus.CounterValue, float64(i.GetTxErrorsTotal()), i.GetName(), "tx")
	}
}

func (e emitter) processes(p *gamesav1.Processes) {
	if p == nil {
		return
	}
	e.g(descProcs, float64(p.GetTotal()))
	e.g(descThreads, float64(p.GetThreads()))
	for _, pr := range p.GetTop() {
		pid := strconv.FormatInt(int64(pr.GetPid()), 10)
		e.g(descProcCPU, pr.GetCpuPercent()/100, pid, pr.GetName(), pr.GetUser())
		e.g(descProcRSS, float64(pr.GetRssBytes()), pid, pr.GetName(), pr.GetUser())
	}
}

func (e emitter) insights(in *gamesav1.Insights) {
	if in == nil {
		return
	}
	for _, f := range in.GetThermalForecast() {
		e.g(descForecast, f.GetCelsius(), strconv.FormatUint(uint64(f.GetHorizonSeconds()), 10)+"s")
	}
	if in.GetAnomalyThreshold() > 0 {
		e.g(descAnomaly, in.GetAnomalyScore())
		e.g(descAnomalyThr, in.GetAnomalyThreshold())
		anomalous := 0.0
		if in.GetAnomalous() {
			anomalous = 1
		}
		e.g(descAnomalous, anomalous)
	}
	if c := in.GetWorkloadClass(); c != "" {
		e.g(descWorkload, in.GetWorkloadConfidence(), c)
	}
	for _, m := range in.GetModels() {
		e.g(descModelSamples, float64(m.GetTrainingSamples()), m.GetKind())
		e.g(descModelLoss, m.GetLoss(), m.GetKind())
	}
}
