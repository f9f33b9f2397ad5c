package sim

import (
	"math"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// NVML clock event reasons the simulated GPU reports.
const (
	gpuReasonIdle            = 0x1
	gpuReasonSwPowerCap      = 0x4
	gpuReasonThermalSlowdown = 0x20
)

// build turns the machine's state and the interval's accumulators (over
// secs seconds, 0 for none) into a Sample.
func (m *Machine) build(now time.Time, secs float64) *gamesav1.Sample {
	cfg := &m.cfg
	a := &m.acc
	n := cfg.Cores
	// rate turns an integral over the interval into an average; with no
	// interval there is no rate, as on a host's first sample.
	rate := func(x float64) float64 {
		if secs <= 0 {
			return 0
		}
		return x / secs
	}

	s := &gamesav1.Sample{
		Time:   timestamppb.New(now),
		NodeId: cfg.NodeID,
		Seq:    m.seq,
		Source: "sim",
	}

	// CPU. Cores are allocated as one block: a Sample is built every tick.
	cores := make([]gamesav1.CPUCore, n)
	s.Cpu = &gamesav1.CPU{Model: cfg.CPUModel, Cores: make([]*gamesav1.CPUCore, n)}
	var busySum, sysSum, iowSum float64
	for c := range n {
		busy, sys, iow := 100*rate(a.busy[c]), 100*rate(a.sys[c]), 100*rate(a.iowait[c])
		busySum += busy
		sysSum += sys
		iowSum += iow
		cc := &cores[c]
		cc.Id = uint32(c)
		cc.UtilizationPercent = busy
		cc.UserPercent = busy - sys
		cc.SystemPercent = sys
		cc.IowaitPercent = iow
		cc.FrequencyMhz = min(m.target[c], m.ceiling)
		cc.MinFrequencyMhz = cfg.MinMHz
		// A throttled package shows as a lowered scaling_max_freq, as the
		// kernel's cpufreq cooling device shows it; so does a limit set
		// through cpufreq.max_khz.
		cc.MaxFrequencyMhz = min(m.ceiling, m.lim.maxMHz[c])
		cc.Governor = "sim"
		s.Cpu.Cores[c] = cc
	}
	s.Cpu.UtilizationPercent = busySum / float64(n)
	s.Cpu.UserPercent = (busySum - sysSum) / float64(n)
	s.Cpu.SystemPercent = sysSum / float64(n)
	s.Cpu.IowaitPercent = iowSum / float64(n)

	// Load.
	var running float64
	for _, u := range m.dem.util {
		running += u
	}
	diskBusy := 100 * rate(a.diskBusy)
	var blocked uint32
	if diskBusy > 30 {
		blocked = 1
	}
	diskOps := rate(a.diskR/diskReadIO + a.diskW/diskWriteIO)
	netPkts := rate(a.netRx/netRxPacket + a.netTx/netTxPacket)
	load := &gamesav1.Load{
		Load1:        m.load[0],
		Load5:        m.load[1],
		Load15:       m.load[2],
		ProcsRunning: uint32(max(1, math.Round(running))),
		ProcsBlocked: blocked,
	}
	if secs > 0 {
		load.ContextSwitchesPerSecond = uint64(300*float64(n) + 40*busySum)
		load.InterruptsPerSecond = uint64(200*float64(n) + 15*busySum + diskOps + netPkts)
	}
	s.Load = load

	// Processes first: memory use is their sum.
	wl := m.dem.scen
	m.order = m.order[:0]
	var rssSum uint64
	var threads uint32
	m.reseed(streamRSS, floorDiv(now.UnixNano(), int64(time.Second)))
	rss := m.rss
	for i := range m.procs {
		p := &m.procs[i]
		jitter := 1 + 0.02*(m.rng.Float64()-0.5) // drawn for every process: keeps the stream aligned
		rss[i] = 0
		if p.scen >= 0 && p.scen != wl {
			continue
		}
		rss[i] = uint64(float64(p.rss) * jitter)
		rssSum += rss[i]
		threads += p.threads
		m.order = append(m.order, i)
	}
	procCPU := func(i int) float64 { return rate(a.proc[i]) }
	// Insertion sort, busiest first, pid breaking ties: a few dozen
	// entries, and no closure escapes to the heap.
	for i := 1; i < len(m.order); i++ {
		for j := i; j > 0; j-- {
			x, y := m.order[j-1], m.order[j]
			cx, cy := procCPU(x), procCPU(y)
			if cy > cx || (cy == cx && m.procs[y].pid < m.procs[x].pid) {
				m.order[j-1], m.order[j] = y, x
				continue
			}
			break
		}
	}
	top := min(cfg.TopProcesses, len(m.order))
	procs := make([]gamesav1.Process, top)
	s.Processes = &gamesav1.Processes{
		Total:   uint32(unlistedProcs + len(m.order)),
		Threads: unlistedThreads + threads,
		Top:     make([]*gamesav1.Process, top),
	}
	for k := range top {
		i := m.order[k]
		p := &m.procs[i]
		cpu := procCPU(i)
		state := "S"
		if cpu >= 50 {
			state = "R"
		}
		pp := &procs[k]
		pp.Pid, pp.Ppid, pp.Name, pp.Cmdline = p.pid, p.ppid, p.name, p.cmdline
		pp.User, pp.Uid, pp.CpuPercent, pp.RssBytes = p.user, p.uid, cpu, rss[i]
		pp.State, pp.Nice, pp.Threads = state, p.nice, p.threads
		s.Processes.Top[k] = pp
	}

	// Memory.
	total := float64(cfg.MemoryTotalBytes)
	want := float64(min(kernelMemory, cfg.MemoryTotalBytes/10) + rssSum)
	used := min(want, memoryCeiling*total)
	swapUsed := min(want-used, float64(cfg.SwapTotalBytes))
	cached := 0.4 * (total - used)
	buffers := min(0.02*total, 300*mib, total-used-cached)
	free := total - used - cached - buffers
	s.Memory = &gamesav1.Memory{
		TotalBytes:     cfg.MemoryTotalBytes,
		AvailableBytes: uint64(free + cached + buffers),
		UsedBytes:      uint64(used),
		FreeBytes:      uint64(free),
		BuffersBytes:   uint64(buffers),
		CachedBytes:    uint64(cached),
		// Writes sit a few seconds in the page cache before writeback.
		DirtyBytes:     uint64(min(3*rate(a.diskW), 0.1*total)),
		SwapTotalBytes: cfg.SwapTotalBytes,
		SwapFreeBytes:  cfg.SwapTotalBytes - uint64(swapUsed),
		UsedPercent:    100 * used / total,
	}

	// Thermal: the package, each core (a busy core runs a little hotter
	// than an idle one; the hottest is the package), the GPU.
	ngpu := 0
	if cfg.GPU != nil {
		ngpu = 1
	}
	sensors := make([]gamesav1.ThermalSensor, 1+n+ngpu)
	s.Thermal = make([]*gamesav1.ThermalSensor, len(sensors))
	throttleAt := cfg.TjMaxC - cfg.ThrottleMarginC
	for i := range sensors {
		ts := &sensors[i]
		ts.Kind, ts.Chip = "sim", "sim-cpu"
		ts.MaxCelsius, ts.CriticalCelsius = throttleAt, cfg.TjMaxC
		switch {
		case i == 0:
			ts.Name, ts.Label, ts.TemperatureCelsius = "sim/Package id 0", "Package id 0", m.temp
		case i <= n:
			c := i - 1
			ts.Name, ts.Label = m.coreSensor[c], m.coreSensor[c][len("sim/"):]
			ts.TemperatureCelsius = m.temp - 0.1*(1-m.dem.util[c])*(m.temp-cfg.AmbientC)
		default:
			ts.Name, ts.Chip, ts.Label, ts.TemperatureCelsius = "sim/GPU", "sim-gpu", "GPU Core", m.gpuTemp
			ts.MaxCelsius, ts.CriticalCelsius = cfg.GPU.SlowdownC, 0
		}
		s.Thermal[i] = ts
	}

	// Fans.
	duty := fanDuty(cfg.FanCurve, m.temp)
	s.Fans = []*gamesav1.Fan{{
		Name: "sim/fan1", Chip: "sim", Label: "CPU Fan",
		Rpm: duty * cfg.FanMaxRPM, MaxRpm: cfg.FanMaxRPM,
	}}

	// Power: one RAPL-like package domain with the limits in force: PL1,
	// TDP or the cap; PL2, TDP unless lowered.
	limit := cfg.TDPWatts
	if m.lim.pl1 > 0 {
		limit = min(limit, m.lim.pl1)
	}
	watts := rate(a.energyJ)
	s.Power = &gamesav1.Power{
		Rapl: []*gamesav1.RAPLDomain{{
			Zone: "intel-rapl:0", Name: "package-0", Watts: watts,
			EnergyUj: uint64(m.energyJ * 1e6), LongTermLimitWatts: limit,
			ShortTermLimitWatts: m.shortTermLimit(),
		}},
		OnAc:       true,
		TotalWatts: watts,
	}

	// GPU.
	if g := cfg.GPU; g != nil {
		memUsed := min(uint64(300*mib)+uint64(m.dem.gpuMem*float64(g.MemoryTotalBytes)), g.MemoryTotalBytes)
		clock := uint32(math.Round(m.gpuClock * g.MaxGraphicsMHz))
		gpu := &gamesav1.GPU{
			Index:                    0,
			Uuid:                     m.gpuUUID,
			Name:                     g.Name,
			UtilizationPercent:       100 * m.dem.gpu,
			MemoryUtilizationPercent: 60 * m.dem.gpu,
			MemoryUsedBytes:          memUsed,
			MemoryTotalBytes:         g.MemoryTotalBytes,
			TemperatureCelsius:       m.gpuTemp,
			PowerWatts:               m.gpuPower,
			PowerLimitWatts:          m.gpuPowerLimit(),
			MinPowerLimitWatts:       g.TDPWatts / 2,
			MaxPowerLimitWatts:       g.TDPWatts,
			GraphicsClockMhz:         clock,
			SmClockMhz:               clock,
			MemoryClockMhz:           uint32(g.MemoryMHz),
			FanSpeedPercent:          uint32(math.Round(100 * fanDuty(cfg.FanCurve, m.gpuTemp))),
			Pstate:                   0,
		}
		if m.dem.gpu < 0.1 {
			gpu.Pstate = 8
			gpu.MemoryClockMhz = uint32(g.MemoryMHz / 8)
		}
		if m.dem.gpu < 0.05 {
			gpu.ThrottleReasonsMask |= gpuReasonIdle
			gpu.ThrottleReasons = append(gpu.ThrottleReasons, "gpu_idle")
		}
		if m.gpuCapped || m.gpuPower >= 0.99*m.gpuPowerLimit() {
			gpu.ThrottleReasonsMask |= gpuReasonSwPowerCap
			gpu.ThrottleReasons = append(gpu.ThrottleReasons, "sw_power_cap")
		}
		if m.gpuThermal {
			gpu.ThrottleReasonsMask |= gpuReasonThermalSlowdown
			gpu.ThrottleReasons = append(gpu.ThrottleReasons, "sw_thermal_slowdown")
		}
		s.Gpus = []*gamesav1.GPU{gpu}
	}

	// Disk and network.
	s.Disks = []*gamesav1.Disk{{
		Name:                diskName,
		ReadBytesPerSecond:  rate(a.diskR),
		WriteBytesPerSecond: rate(a.diskW),
		ReadsPerSecond:      rate(a.diskR / diskReadIO),
		WritesPerSecond:     rate(a.diskW / diskWriteIO),
		BusyPercent:         diskBusy,
		ReadBytesTotal:      uint64(m.disk.inBytes),
		WriteBytesTotal:     uint64(m.disk.outBytes),
	}}
	s.Net = []*gamesav1.NetInterface{{
		Name:               netName,
		RxBytesPerSecond:   rate(a.netRx),
		TxBytesPerSecond:   rate(a.netTx),
		RxPacketsPerSecond: rate(a.netRx / netRxPacket),
		TxPacketsPerSecond: rate(a.netTx / netTxPacket),
		RxBytesTotal:       uint64(m.net.inBytes),
		TxBytesTotal:       uint64(m.net.outBytes),
	}}

	// The duration is zero rather than measured: simulated work has no
	// meaningful cost to report, and a measured one would make two runs
	// with the same seed differ.
	s.Collectors = []*gamesav1.CollectorStatus{{
		Name:     "sim",
		State:    gamesav1.CollectorState_COLLECTOR_STATE_OK,
		Duration: durationpb.New(0),
	}}
	return s
}
