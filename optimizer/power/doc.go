// Package power turns power modes into plans and enforces a node's power
// cap. It is optimizer code: it reads no clock and no OS, starts no
// goroutine, and returns plans that the actuators apply (or that observe
// mode records).
//
// The caller's contract, once per tick of the node's loop:
//
//  1. Build a Host with HostFromSample from the tick's sample and the knob
//     inventory: actuators' Set.Inventory on a real host, or
//     sim.Machine.Inventory on the simulated one (same signature). Add
//     GameCores, the CPUs the foreground game runs on, when there is one.
//  2. Pick the mode: AutoSwitch.Update(host, now) follows AC and battery
//     (with a debounce and hysteresis on the charge); the user's choice
//     (`gamesa power mode gaming`, SetPowerMode) goes to SetOverride and
//     wins until ClearOverride.
//  3. plan, notes := ModeConfig.PlanFor(mode, host, now). The plan holds
//     changes only: a knob already at the mode's value gets no action.
//     notes say which of the mode's knobs were left alone and why (owned
//     by another tuner, read-only, absent); log them, not every tick.
//  4. Call CapController.Step(MeasuredWatts(sample), capWatts, dt, host)
//     every tick, with capWatts the node's share of the cluster's power
//     budget, or 0 when it has none: the step after a cap is lifted is
//     the one that restores the limits. Merge its actions into the plan:
//     the lower of two limits wins, so a cap holds against a mode and a
//     frugal mode against a generous cap.
//  5. Hand the plan to the actuators in enforce mode, or record it in
//     observe mode. Feed the next tick's inventory back in step 1: the
//     controller reads the limits in force from it, and does not
//     integrate while what it asked for is not in force.
//
// AutoSwitch and CapController keep state between ticks and are not safe
// for concurrent use: one goroutine (the node's loop) owns each, and
// serialises the user's requests with its ticks. The rest is stateless.
// Given the same inputs, every function returns the same outputs.
//
// # Modes
//
// Each mode names a value for every knob it manages, so its plan does not
// depend on the mode before it (the backlight aside: MaxBattery dims it,
// and no mode brightens what is the user's). Enumerated knobs take the
// mode's first preference among the knob's choices; numeric ones are
// clamped to the knob's bounds.
//
//	knob                 MAX_BATTERY          BALANCED             MAX_PERFORMANCE   GAMING
//	platform.profile     low-power, quiet     balanced             performance       performance
//	cpufreq.governor     powersave            schedutil/powersave  performance       performance on the game's cores
//	cpufreq.epp          power                balance_performance  performance       performance on the game's cores
//	cpufreq.boost        0                    1                    1                 1
//	cpufreq.min_khz      hardware minimum     hardware minimum     hardware minimum  50 % of max on the game's cores
//	pmqos latency        no request           no request           no request        50 µs
//	nvml.power_limit_mw  minimum              85 % of maximum      maximum           maximum
//	backlight            at most 40 %         (left)               (left)            (left)
//	usb.autosuspend      auto                 on                   on                on
//	pcie.aspm_policy     powersupersave       default              performance       performance
//	sata.link_power      med_power_with_dipm  med_power_with_dipm  max_performance   max_performance
//
// The numbers come from ModeConfig. The cores that are not the game's get
// BALANCED's values in GAMING.
//
// # Power cap
//
// CapController splits the cap over the power domains the host can limit:
// RAPL PL1 (and PL2, held to PL1 so the cap holds second by second) on
// each CPU package, the NVML limit on each NVIDIA GPU, and, only where no
// package limit is writable, one cpufreq maximum across the CPUs. The
// split follows each domain's demand, read from its draw, and its size;
// integral terms remove what the feed-forward leaves; limits stay within
// their knobs' bounds and at or below what was in force before the cap.
// See CapController for the control law and TestCapLoopOnSim for the
// settling times and overshoot measured on the simulated machine.
package power
