// Package sim is a simulated machine: a seeded, deterministic stand-in for
// the host that produces the same Sample messages (source "sim"). The demo,
// the dashboard and cluster tests run on it.
//
// The caller's contract:
//
//  1. Build a Config from DefaultConfig (a laptop whose thermal constants
//     are fitted to a real one's logs), change what differs (NodeID, Seed,
//     Scenario, cooling, GPU), and call New, which validates it.
//  2. Call Machine.Sample with the tick's time from one goroutine. Each call
//     integrates the physics from the previous call's time to now (steps of
//     at most a second; a gap beyond MaxCatchUp is simulated for its last
//     MaxCatchUp only, so one call's work is bounded). The first call's
//     rates are zero; a time before the previous one is ErrTimeBackwards.
//  3. Steer it from any goroutine with SetScenario and SetPowerCap, or
//     through its knobs as the actuators steer a real host: Inventory lists
//     them (RAPL PL1 and PL2, the GPU's power limit, each core's
//     cpufreq maximum) and Apply sets them from a Plan. A change applies
//     from the next Sample call on.
//  4. The same Config (Seed included) and the same sequence of times give
//     byte-identical samples: noise comes from the Machine's own seeded
//     math/rand/v2 source, keyed by the wall-clock second, and the
//     collector duration is reported as zero.
//
// What is modelled, per step: each core's utilisation from the scenario
// (idle, game, render, compile, browser, or cycle through them); a
// schedutil-like governor (f = 1.25·util·MaxMHz); package power
// idle + Σ k·util·f·V(f)²; one package-wide frequency ceiling that keeps
// power within TDPWatts (and the power cap: RAPL PL1, met on average over
// Config.PowerLimitWindow, and PL2) and the temperature at or below
// TjMaxC − ThrottleMarginC; a per-core cpufreq maximum; a lumped RC
// package whose thermal resistance falls as the fan curve speeds the fan
// up; load averages with the kernel's exponential decay; memory, disk,
// network and a process table with stable pids; an optional GPU with its
// own RC, thermal slowdown and power limit. Thermal throttling and power
// capping show as a per-core max_frequency_mhz below MaxMHz.
package sim
