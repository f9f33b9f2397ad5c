package sim

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Device characteristics the workloads' I/O is measured against.
const (
	diskName     = "nvme0n1"
	diskReadBps  = 2.5e9 // sequential bandwidth: a busy share of 100 % at this rate
	diskWriteBps = 1.8e9
	diskReadIO   = 64 << 10 // average request sizes, to count requests
	diskWriteIO  = 128 << 10
	netName      = "eth0"
	netRxPacket  = 1200 // average packet sizes, to count packets
	netTxPacket  = 400
	// Processes and threads the table does not list: kernel threads and
	// small daemons.
	unlistedProcs   = 230
	unlistedThreads = 520
	// kernelMemory is what the system uses beyond the listed processes.
	kernelMemory = 900 * mib
	// memoryCeiling is the share of RAM that use never passes; what the
	// processes want beyond it goes to swap.
	memoryCeiling = 0.92
)

// Machine is a simulated machine. It implements telemetry.Source.
//
// Sample is not safe for concurrent use: one goroutine owns it. SetScenario,
// Scenario, SetPowerCap, PowerCap, Inventory and Apply may be called from any
// goroutine; a change applies from the next Sample call on, to the whole
// interval that call integrates (the Machine has no clock of its own to
// date the change).
type Machine struct {
	cfg     Config
	k       float64 // watts per (MHz·V²) of one busy core
	baseCPU float64 // CPU percent of the base processes together
	procs   []procSpec
	pcg     *rand.PCG
	rng     *rand.Rand
	// hot are the cores a game's main, render and worker threads run on,
	// and the core that links in the compile scenario; compileOffset
	// shifts the compile rounds. Both come from the seed, so machines
	// differ.
	hot           [3]int
	compileOffset int64
	coreSensor    []string
	gpuUUID       string

	mu       sync.Mutex // guards scenario, powerCap, pl2, gpuLimit and maxMHz
	scenario int
	powerCap float64   // RAPL PL1, watts; 0 for none
	pl2      float64   // RAPL PL2, watts; 0 for TDPWatts
	gpuLimit float64   // GPU power limit, watts; 0 for GPU.TDPWatts
	maxMHz   []float64 // per core: scaling_max_freq, MaxMHz unless lowered

	// State below is owned by the goroutine calling Sample.
	started  bool
	last     time.Time
	seq      uint64
	temp     float64   // package °C
	ceiling  float64   // package-wide frequency ceiling, MHz
	target   []float64 // governor's frequency per core, MHz
	load     [3]float64
	energyJ  float64
	disk     ioTotals
	net      ioTotals
	gpuTemp  float64
	gpuClock float64 // share of MaxGraphicsMHz
	gpuPower float64
	// gpuThermal reports that the GPU runs below the clock it wants to
	// stay at SlowdownC; gpuCapped, to stay within its power limit.
	gpuThermal bool
	gpuCapped  bool
	dem        demand
	acc        accum
	order      []int    // scratch: listed processes, busiest first
	rss        []uint64 // scratch: resident memory per process
	// steps counts the integration steps of the last Sample call; tests
	// use it to check that the work of one call is bounded.
	steps int
	// lim is this Sample call's copy of the limits, taken under mu.
	lim limits
	// raplAvg is the package power averaged over PowerLimitWindow, as
	// RAPL keeps it to enforce PL1.
	raplAvg float64
}

// ioTotals are cumulative byte counts (disk: read/write, net: rx/tx),
// kept as float64 so that fractions of a byte per step are not lost.
type ioTotals struct {
	inBytes, outBytes float64
}

// accum collects one interval's integrals; rates and percentages are these
// over the interval's length.
type accum struct {
	busy, sys, iowait []float64 // core-seconds
	proc              []float64 // percent-of-a-core × seconds
	energyJ           float64
	diskR, diskW      float64 // bytes
	diskBusy          float64 // seconds
	netRx, netTx      float64 // bytes
}

// New returns a machine built from cfg, or cfg's validation error.
func New(cfg Config) (*Machine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.clone()
	scen, _ := scenarioIndex(cfg.Scenario) // cannot fail: Validate checked it
	n := cfg.Cores
	m := &Machine{
		cfg:      cfg,
		procs:    processTable(n),
		pcg:      rand.NewPCG(0, 0),
		scenario: scen,
		target:   make([]float64, n),
		maxMHz:   make([]float64, n),
		lim:      limits{maxMHz: make([]float64, n)},
	}
	for c := range n {
		m.maxMHz[c] = cfg.MaxMHz
	}
	m.rng = rand.New(m.pcg)
	m.dem.util = make([]float64, n)
	m.order = make([]int, 0, len(m.procs))
	m.rss = make([]uint64, len(m.procs))
	m.acc = accum{busy: make([]float64, n), sys: make([]float64, n), iowait: make([]float64, n), proc: make([]float64, len(m.procs))}

	// Calibrate so that all cores busy at BaseMHz draw TDPWatts.
	m.k = (cfg.TDPWatts - cfg.IdleWatts) / (float64(n) * m.dyn(cfg.BaseMHz))
	for _, p := range m.procs {
		if p.scen < 0 {
			m.baseCPU += p.baseCPU
		}
	}

	m.reseed(streamLayout, 0)
	perm := m.rng.Perm(n)
	for i := range m.hot {
		m.hot[i] = perm[i%n]
	}
	m.compileOffset = m.rng.Int64N(compilePeriod)
	var u [16]byte
	for i := range u {
		u[i] = byte(m.rng.UintN(256))
	}
	m.gpuUUID = fmt.Sprintf("GPU-%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])

	m.coreSensor = make([]string, n)
	for c := range n {
		m.coreSensor[c] = fmt.Sprintf("sim/Core %d", c)
	}
	return m, nil
}

// Collectors reports the one collector a simulated machine runs.
func (m *Machine) Collectors() []string { return []string{"sim"} }

// SetScenario switches the workload; name is one of Scenarios().
func (m *Machine) SetScenario(name string) error {
	i, err := scenarioIndex(name)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.scenario = i
	m.mu.Unlock()
	return nil
}

// Scenario returns the scenario's name ("cycle" while cycling, not the
// workload the cycle is on).
func (m *Machine) Scenario() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Scenarios()[m.scenario]
}

// SetPowerCap limits the CPU package power to watts, 0 for no cap beyond
// TDPWatts. The frequency ceiling drops until the package draws at most
// watts; a cap below what MinMHz needs is honoured as far as MinMHz allows.
func (m *Machine) SetPowerCap(watts float64) error {
	if !(watts >= 0) || math.IsInf(watts, 0) {
		return fmt.Errorf("sim: power cap %v W: must be a finite number ≥ 0 (0 for none)", watts)
	}
	m.mu.Lock()
	m.powerCap = watts
	m.mu.Unlock()
	return nil
}

// PowerCap returns the cap SetPowerCap set, 0 for none.
func (m *Machine) PowerCap() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.powerCap
}

// Sample advances the simulation to now and returns the machine's state.
//
// The first call starts the machine as if it had idled for a long time,
// and its rates (CPU busy, watts, I/O, per-process CPU) are zero, as a
// host's first sample's are. Each later call integrates the interval since
// the previous call in steps of at most one second, and reports rates as
// averages over it; instantaneous values (frequencies, temperatures, fans,
// load averages, memory) are those at now. A now equal to the previous
// one gives a sample with zero rates; a now before it returns an error
// wrapping ErrTimeBackwards and changes nothing. The interval is now minus
// the previous now, by the monotonic clock when both carry one; the
// workload at each second comes from its wall-clock Unix time.
func (m *Machine) Sample(ctx context.Context, now time.Time) (*gamesav1.Sample, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	// UnixNano is defined only within these years.
	if y := now.Year(); y < 1700 || y > 2200 {
		return nil, fmt.Errorf("sim: time %s is outside the years 1700..2200", now.Format(time.RFC3339))
	}
	m.mu.Lock()
	scen := m.scenario
	m.lim.pl1, m.lim.pl2, m.lim.gpu = m.powerCap, m.pl2, m.gpuLimit
	copy(m.lim.maxMHz, m.maxMHz)
	m.mu.Unlock()

	for i := range m.acc.proc {
		m.acc.proc[i] = 0
	}
	for c := range m.acc.busy {
		m.acc.busy[c], m.acc.sys[c], m.acc.iowait[c] = 0, 0, 0
	}
	a := &m.acc
	a.energyJ, a.diskR, a.diskW, a.diskBusy, a.netRx, a.netTx = 0, 0, 0, 0, 0, 0
	m.steps = 0

	if !m.started {
		m.start(now, scen)
		return m.build(now, 0), nil
	}
	interval := now.Sub(m.last)
	if interval < 0 {
		return nil, fmt.Errorf("%w: %s is before the previous sample's %s",
			ErrTimeBackwards, now.Format(time.RFC3339Nano), m.last.Format(time.RFC3339Nano))
	}
	window := min(interval, MaxCatchUp)
	end := now.UnixNano()
	for t := end - window.Nanoseconds(); t < end; {
		sec := floorDiv(t, int64(time.Second))
		next := min(end, (sec+1)*int64(time.Second))
		m.demandAt(scen, sec)
		m.step(float64(next-t) / 1e9)
		m.steps++
		t = next
	}

	// Counters cover the whole gap even when only its end was simulated.
	scale := 1.0
	if window > 0 {
		scale = interval.Seconds() / window.Seconds()
	}
	m.energyJ += a.energyJ * scale
	m.disk.inBytes += a.diskR * scale
	m.disk.outBytes += a.diskW * scale
	m.net.inBytes += a.netRx * scale
	m.net.outBytes += a.netTx * scale

	m.last = now
	m.seq++
	return m.build(now, window.Seconds()), nil
}

// start puts the machine in its idle equilibrium at now.
func (m *Machine) start(now time.Time, scen int) {
	cfg := &m.cfg
	m.temp = m.steadyTemp(cfg.IdleWatts)
	// About what the idle scenario's run queue averages.
	for i := range m.load {
		m.load[i] = 0.018 * float64(cfg.Cores)
	}
	if g := cfg.GPU; g != nil {
		m.gpuTemp = cfg.AmbientC + g.IdleWatts*g.ThermalResistanceCPerW
	}
	m.demandAt(scen, floorDiv(now.UnixNano(), int64(time.Second)))
	m.raplAvg = m.stepCPU(0)
	if cfg.GPU != nil {
		m.stepGPU(0)
	}
	m.started = true
	m.last = now
	m.seq = 1
}

// Record runs a machine built from cfg for n samples, one every step from
// start, and returns them: the simulated data that models train and are
// evaluated on outside tests (the CLI's evaluations, the node's bootstrap).
func Record(ctx context.Context, cfg Config, start time.Time, step time.Duration, n int) ([]*gamesav1.Sample, error) {
	if step <= 0 || n < 0 {
		return nil, fmt.Errorf("sim: record: step %v and n %d must be positive", step, n)
	}
	m, err := New(cfg)
	if err != nil {
		return nil, err
	}
	out := make([]*gamesav1.Sample, n)
	now := start
	for i := range out {
		now = now.Add(step)
		if out[i], err = m.Sample(ctx, now); err != nil {
			return nil, err
		}
	}
	return out, nil
}
