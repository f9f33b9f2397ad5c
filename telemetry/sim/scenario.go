package sim

import "fmt"

// Scenario indices, in the order of Scenarios().
const (
	scIdle = iota
	scGame
	scRender
	scCompile
	scBrowser
	scCycle

	numWorkloads = scCycle // the scenarios the cycle visits
)

// Phases a workload can be in; process CPU shares depend on them.
const (
	phaseNormal = 0
	phaseAlt    = 1 // game: a hitch (shader compile, asset load); compile: linking
)

// compilePeriod is one compile-then-link round of the compile scenario:
// compilePeriod−compileLink seconds of all-core compiling, then
// compileLink seconds of a single-threaded link.
const (
	compilePeriod = 24
	compileLink   = 5
)

// demand is what the workload asks of the machine during one second.
type demand struct {
	scen  int // the workload (never scCycle)
	phase int
	util  []float64 // per core, 0..1
	// sys is the share of busy time spent in the kernel; iowait the share
	// of idle time waiting for I/O.
	sys, iowait float64
	gpu         float64 // GPU load 0..1
	gpuMem      float64 // share of GPU memory in use
	diskR       float64 // bytes/s
	diskW       float64
	netRx       float64
	netTx       float64
}

// workloadAt resolves "cycle" to the workload active at Unix second sec.
func (m *Machine) workloadAt(scen int, sec int64) int {
	if scen != scCycle {
		return scen
	}
	step := int64(m.cfg.CycleStep.Seconds())
	n := floorDiv(sec, step) % numWorkloads
	if n < 0 {
		n += numWorkloads
	}
	return int(n)
}

// demandAt fills m.dem with the workload's demand during Unix second sec.
func (m *Machine) demandAt(scen int, sec int64) {
	d := &m.dem
	d.scen = m.workloadAt(scen, sec)
	d.phase = phaseNormal
	var browsing float64
	if d.scen == scBrowser {
		// Drawn before the per-second stream because it reseeds the PCG.
		browsing = m.smooth(streamBrowser, sec, 20)
	}
	m.reseed(streamDemand, sec)
	r := m.rng.Float64
	n := len(d.util)
	switch d.scen {
	case scIdle:
		for c := range d.util {
			d.util[c] = 0.008 + 0.02*r()
		}
		if r() < 0.04 { // a timer, a notification
			d.util[m.rng.IntN(n)] += 0.1 + 0.2*r()
		}
		d.sys, d.iowait = 0.35, 0.002
		d.gpu, d.gpuMem = 0.01, 0.03
		d.diskR, d.diskW = 10e3*r(), 50e3*r()
		d.netRx, d.netTx = 2e3+2e3*r(), 1e3*r()

	case scGame:
		// A main thread and a render thread near saturation, an audio or
		// worker thread, the rest light; all of it paced by frames, which
		// come in bursts. Now and then a hitch: the main thread stalls on a
		// shader compile or an asset load while the GPU waits.
		for c := range d.util {
			d.util[c] = 0.06 + 0.12*r()
		}
		burst := 0.85 + 0.15*r()
		hitch := r() < 0.03
		main, render, worker := 0.82+0.12*r(), 0.62+0.16*r(), 0.30+0.15*r()
		d.util[m.hot[0]] = main * burst
		d.util[m.hot[1]] = render * burst
		d.util[m.hot[2]] = worker
		d.gpu = (0.90 + 0.08*r()) * burst
		d.diskR = 1.5e6 + 1e6*r()
		if r() < 0.05 { // streaming a level chunk
			d.diskR += 60e6 + 40e6*r()
		}
		if hitch {
			d.phase = phaseAlt
			d.util[m.hot[0]] = 1
			d.gpu = 0.35
		}
		d.sys, d.iowait = 0.15, 0.005
		d.gpuMem = 0.7
		d.diskW = 0.2e6 * r()
		d.netRx, d.netTx = 40e3+40e3*r(), 20e3+15e3*r()

	case scRender:
		for c := range d.util {
			d.util[c] = 0.97 + 0.03*r()
		}
		if r() < 0.02 { // between tiles or frames, threads wait on each other
			for c := range d.util {
				d.util[c] *= 0.55
			}
		}
		d.sys, d.iowait = 0.03, 0.001
		d.gpu, d.gpuMem = 0.04+0.04*r(), 0.15
		d.diskR, d.diskW = 0.3e6*r(), 0.1e6*r()
		if sec%30 == 0 { // a finished frame is written out
			d.diskW += 40e6
		}
		d.netRx, d.netTx = 3e3+3e3*r(), 2e3*r()

	case scCompile:
		pos := (sec + m.compileOffset) % compilePeriod
		if pos < 0 {
			pos += compilePeriod
		}
		if pos >= compilePeriod-compileLink {
			d.phase = phaseAlt
			for c := range d.util {
				d.util[c] = 0.04 + 0.08*r()
			}
			d.util[m.hot[0]] = 0.95 + 0.05*r()
			d.diskR, d.diskW = 40e6*r(), 90e6+40e6*r()
			d.iowait = 0.04
		} else {
			for c := range d.util {
				u := 0.85 + 0.15*r()
				if r() < 0.12 { // a job ended, make forks the next
					u = 0.25 + 0.3*r()
				}
				d.util[c] = u
			}
			d.diskR, d.diskW = 8e6+8e6*r(), 12e6+10e6*r()
			d.iowait = 0.01
		}
		d.sys = 0.22
		d.gpu, d.gpuMem = 0.01, 0.03
		d.netRx, d.netTx = 2e3*r(), 1e3*r()

	case scBrowser:
		// Spiky and mostly low: scripts and page loads wake one or two
		// cores for a second, more often while the user is clicking around
		// than while reading.
		for c := range d.util {
			d.util[c] = 0.03 + 0.06*r()
		}
		if r() < 0.1+0.3*browsing {
			d.util[m.rng.IntN(n)] = 0.45 + 0.45*r()
			if r() < 0.5 {
				d.util[m.rng.IntN(n)] = 0.3 + 0.4*r()
			}
		}
		d.sys, d.iowait = 0.12, 0.002
		d.gpu, d.gpuMem = 0.05+0.1*r(), 0.08
		d.netRx = 30e3 + 60e3*r()
		d.diskR, d.diskW = 0.2e6*r(), 0.5e6*r()
		if r() < 0.05+0.2*browsing { // a page load
			d.netRx += 1.5e6 + 3e6*r()
			d.diskW += 2e6 * r()
		}
		d.netTx = 0.1*d.netRx + 5e3*r()
	}
	for c, u := range d.util {
		d.util[c] = min(max(u, 0), 1)
	}
}

// procSpec is one simulated process. Base processes (scen < 0) run in every
// scenario with a fixed CPU use; the others appear with their workload and
// take a share of the CPU time the workload's cores are busy.
type procSpec struct {
	pid, ppid int32
	name      string
	cmdline   string
	user      string
	uid       uint32
	rss       uint64
	threads   uint32
	nice      int32
	scen      int        // workload index, or -1 for a base process
	baseCPU   float64    // base processes: percent of one core
	share     [2]float64 // workload processes: share of busy time per phase
}

const (
	mib = 1 << 20
	gib = 1 << 30
)

// processTable returns the simulated machine's processes, pids fixed so
// they are stable across samples and scenario switches.
func processTable(cores int) []procSpec {
	const home = "/home/player"
	proton := home + "/.steam/steam/steamapps/common/Proton 9.0/files/bin/"
	ps := []procSpec{
		{pid: 1, name: "systemd", cmdline: "/sbin/init splash", user: "root", rss: 14 * mib, threads: 1, scen: -1, baseCPU: 0.02},
		{pid: 402, ppid: 1, name: "systemd-journal", cmdline: "/usr/lib/systemd/systemd-journald", user: "root", rss: 48 * mib, threads: 1, scen: -1, baseCPU: 0.05},
		{pid: 688, ppid: 1, name: "dbus-daemon", cmdline: "@dbus-daemon --system --address=systemd: --nofork", user: "messagebus", uid: 101, rss: 6 * mib, threads: 1, scen: -1, baseCPU: 0.05},
		{pid: 702, ppid: 1, name: "NetworkManager", cmdline: "/usr/sbin/NetworkManager --no-daemon", user: "root", rss: 21 * mib, threads: 3, scen: -1, baseCPU: 0.03},
		{pid: 1187, ppid: 1, name: "pipewire", cmdline: "/usr/bin/pipewire", user: "player", uid: 1000, rss: 18 * mib, threads: 3, nice: -11, scen: -1, baseCPU: 0.4},
		{pid: 1201, ppid: 1, name: "gnome-shell", cmdline: "/usr/bin/gnome-shell", user: "player", uid: 1000, rss: 310 * mib, threads: 22, scen: -1, baseCPU: 1.2},
		{pid: 1320, ppid: 1201, name: "Xwayland", cmdline: "/usr/bin/Xwayland :0 -rootless -noreset", user: "player", uid: 1000, rss: 90 * mib, threads: 6, scen: -1, baseCPU: 0.3},

		{pid: 2650, ppid: 1, name: "discord", cmdline: "/usr/share/discord/Discord", user: "player", uid: 1000, rss: 420 * mib, threads: 42, scen: scGame, share: [2]float64{0.05, 0.03}},
		{pid: 3120, ppid: 1201, name: "steam", cmdline: home + "/.local/share/Steam/ubuntu12_32/steam -silent", user: "player", uid: 1000, rss: 380 * mib, threads: 61, scen: scGame, share: [2]float64{0.03, 0.02}},
		{pid: 3188, ppid: 3120, name: "steamwebhelper", cmdline: "./steamwebhelper -lang=en_US -cachedir=" + home + "/.local/share/Steam/config/htmlcache", user: "player", uid: 1000, rss: 250 * mib, threads: 28, scen: scGame, share: [2]float64{0.02, 0.01}},
		{pid: 4401, ppid: 3120, name: "wineserver", cmdline: proton + "wineserver", user: "player", uid: 1000, rss: 40 * mib, threads: 1, scen: scGame, share: [2]float64{0.04, 0.03}},
		{pid: 4415, ppid: 4401, name: "wine64-preloader", cmdline: proton + "wine64-preloader " + proton + "wine64 c:\\windows\\system32\\steam.exe", user: "player", uid: 1000, rss: 120 * mib, threads: 9, scen: scGame, share: [2]float64{0.02, 0.01}},
		{pid: 4432, ppid: 4415, name: "Game.exe", cmdline: `Z:\home\player\.steam\steam\steamapps\common\Game\Game.exe`, user: "player", uid: 1000, rss: 5632 * mib, threads: 64, scen: scGame, share: [2]float64{0.78, 0.85}},

		{pid: 5210, ppid: 1201, name: "blender", cmdline: "blender -b scene.blend -E CYCLES -a", user: "player", uid: 1000, rss: 7 * gib, threads: uint32(cores) + 9, scen: scRender, share: [2]float64{0.97, 0.97}},

		{pid: 6100, ppid: 1201, name: "make", cmdline: fmt.Sprintf("make -j%d", cores), user: "player", uid: 1000, rss: 12 * mib, threads: 1, scen: scCompile, share: [2]float64{0.01, 0.01}},
		{pid: 6190, ppid: 6100, name: "ld", cmdline: "/usr/bin/ld -plugin liblto_plugin.so -o build/app build/*.o -lstdc++", user: "player", uid: 1000, rss: 900 * mib, threads: 1, scen: scCompile, share: [2]float64{0, 0.85}},

		{pid: 7010, ppid: 1201, name: "firefox", cmdline: "/usr/lib/firefox/firefox", user: "player", uid: 1000, rss: 620 * mib, threads: 92, scen: scBrowser, share: [2]float64{0.34, 0.34}},
		{pid: 7055, ppid: 7010, name: "Web Content", cmdline: "/usr/lib/firefox/firefox -contentproc -childID 3 -isForBrowser 7010 true tab", user: "player", uid: 1000, rss: 280 * mib, threads: 27, scen: scBrowser, share: [2]float64{0.2, 0.2}},
		{pid: 7102, ppid: 7010, name: "Web Content", cmdline: "/usr/lib/firefox/firefox -contentproc -childID 5 -isForBrowser 7010 true tab", user: "player", uid: 1000, rss: 190 * mib, threads: 25, scen: scBrowser, share: [2]float64{0.12, 0.12}},
		{pid: 7160, ppid: 7010, name: "Isolated Web Co", cmdline: "/usr/lib/firefox/firefox -contentproc -childID 8 -isForBrowser 7010 true tab", user: "player", uid: 1000, rss: 350 * mib, threads: 29, scen: scBrowser, share: [2]float64{0.18, 0.18}},
		{pid: 7171, ppid: 7010, name: "WebExtensions", cmdline: "/usr/lib/firefox/firefox -contentproc -childID 2 -isForBrowser 7010 true tab", user: "player", uid: 1000, rss: 150 * mib, threads: 24, scen: scBrowser, share: [2]float64{0.04, 0.04}},
		{pid: 7190, ppid: 7010, name: "RDD Process", cmdline: "/usr/lib/firefox/firefox -contentproc -parentBuildID 20250101000000 7010 true rdd", user: "player", uid: 1000, rss: 60 * mib, threads: 9, scen: scBrowser, share: [2]float64{0.07, 0.07}},
	}
	// One compiler per job, as make -jN runs them; the pids stay put
	// although a real build would spawn new ones with every file.
	jobs := min(cores, 16)
	for i := range jobs {
		ps = append(ps, procSpec{
			pid: int32(6120 + i), ppid: 6100, name: "cc1plus",
			cmdline: fmt.Sprintf("/usr/libexec/gcc/x86_64-linux-gnu/13/cc1plus -quiet -Iinclude src/unit%02d.cpp -O2 -o /tmp/cc%02d.s", i, i),
			user:    "player", uid: 1000, rss: 260 * mib, threads: 1, scen: scCompile,
			share: [2]float64{0.96 / float64(jobs), 0.04 / float64(jobs)},
		})
	}
	return ps
}
