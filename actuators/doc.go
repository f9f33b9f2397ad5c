// Package actuators changes the machine on the optimizer's behalf, safely:
// every change is journalled before it is made and can be reverted, and a
// change is only ever undone while the knob still holds the value this
// agent set.
//
// The caller's contract:
//
//  1. Build a Config from DefaultConfig, set JournalPath to a file in the
//     agent's data directory, and Open it. Open locks the journal (one agent
//     per journal) and reads it.
//  2. If Pending reports true, the previous run ended without reverting (it
//     crashed or was killed): call Recover to put its originals back, or
//     DiscardJournal to keep the machine as it is. Until then Apply rejects
//     every action with ErrRecoveryPending. A journal that is corrupt makes
//     Open fail with a *JournalError naming the file; nothing is applied
//     until a person decides, by opening with Config.Salvage and then
//     Recover (revert what can be read) or DiscardJournal.
//  3. In enforce mode, call Apply with each plan. Each action becomes one
//     Result; one failing action never stops the others. In observe mode,
//     Check says what Apply would do, touching nothing.
//  4. On shutdown and on every change out of enforce mode, call Revert.
//     Then Close. Close alone does not revert (except the PM QoS request,
//     which the kernel drops with the file).
//
// All methods of Set are safe for concurrent use; they take turns. Set
// starts no goroutines.
//
// # How a change is made
//
// For each action: the knob and target are resolved (ErrUnknownKnob,
// ErrBadTarget, ErrUnavailable); a knob that a running tuner manages is
// refused (ErrOwned) while Config.RespectTuners is on; a process is checked
// against the safety rules and the Scope (ErrOutOfScope) and identified by
// pid and start time; the value is checked against the knob's bounds; the
// current value is read, and if it already matches, the result is Unchanged
// and nothing is written. Otherwise a journal record with the knob, target,
// process identity, original value and new value is appended and fsync'd,
// and only then is the value written. If the write fails, a record that
// takes the first one back follows. A value the kernel adjusts on the way
// (rounded frequencies) is read back and journalled as what revert compares
// with.
//
// Setting a knob again keeps its first original: revert restores the value
// from before GAMESA, not an intermediate one. Revert goes newest first,
// writes the original only where the knob still holds the value set, and
// never touches a process whose pid now belongs to another process (its
// start time differs).
//
// # Journal
//
// The journal is append-only: an 8-byte magic "GAMESAJ1", then records,
// each a 4-byte big-endian payload length, a 4-byte big-endian CRC-32C of
// the payload, and the payload, one JSON object (seq, op, knob, target, pid,
// start, original, set, per-thread originals, time). A record cut short at
// the end (a crash during the append, before the change) is dropped; any
// other damage is a JournalError. Revert and compaction rewrite the file
// atomically (temporary file, fsync, rename, fsync of the directory).
//
// # Knobs
//
// Knob names and their target spellings are plan.proto's. "Clamp" means an
// out-of-range value is moved to the nearest bound and Result.Note says so;
// "reject" means the action is Rejected with ErrOutOfBounds or ErrBadValue.
//
//	knob                      target            value                            bounds
//	process.affinity          pid:N             CPU list "0-3,6"                 reject CPUs not online or an empty list
//	process.nice              pid:N             -20..19                          clamp to [Config.MinNice, 19]
//	process.ioprio            pid:N             none, idle, be/0..7, rt/0..7     reject rt unless Config.AllowRealtime
//	process.policy            pid:N             normal, batch, idle, fifo/1..99, rr/1..99  reject fifo, rr unless AllowRealtime
//	process.oom_score_adj     pid:N             -1000..1000                      clamp to [Config.MinOOMScoreAdj, 1000]
//	cgroup.weight             group             1..10000 (cgroup v2 units)       clamp; v1 cpu.shares = weight*1024/100
//	cgroup.quota              group             "max [period]", "quota [period]" µs   reject quota < 1000, period outside [1000, 1000000]
//	cgroup.cpuset             group             CPU list                         reject CPUs outside the parent's
//	cgroup.member             pid:N             a group name                     reject other names
//	cpufreq.governor          cpuN or "" (all)  scaling_available_governors      reject others
//	cpufreq.min_khz, max_khz  cpuN or "" (all)  kHz                              clamp to cpuinfo_min_freq..cpuinfo_max_freq
//	cpufreq.epp               cpuN or "" (all)  available preferences, or 0..255 reject others
//	cpufreq.boost             ""                1 (boost on), 0                  reject others (intel_pstate no_turbo is inverted)
//	platform.profile          ""                platform_profile_choices         reject others
//	pmqos.cpu_dma_latency_us  ""                µs                               clamp to [0, 2000000000]
//	rapl.pl1_uw, rapl.pl2_uw  package-0, package-0/dram, psys   µW               clamp to [Config.RAPLFloorUW, constraint max]
//	nvml.power_limit_mw       gpuN              mW                               clamp to the device's constraints
//	backlight.brightness      device or "" (all) raw steps                       clamp to [1% of max (at least 1), max_brightness]
//	usb.autosuspend           device ("1-2")    auto, on                         reject others
//	pcie.aspm_policy          ""                the policy file's choices        reject others
//	sata.link_power           hostN or "" (all) max_performance, medium_power, min_power, med_power_with_dipm, keep_firmware_settings
//
// Process knobs that Linux keeps per thread (affinity, nice, I/O priority,
// policy) are applied to every thread, and the journal keeps each thread's
// original; a thread started later is restored to the main thread's. The
// threads are listed again after each pass until no new one shows up, so a
// thread started while the values change is caught too.
// SCHED_RESET_ON_FORK is kept as the program set it, and SCHED_DEADLINE
// threads are left alone.
//
// The cgroup knobs work on a GAMESA-owned hierarchy, CgroupName with one
// directory per CgroupGroups entry, under CgroupRoot on cgroup v2 and under
// the cpu and cpuset controllers' mounts on v1. Directories are created on
// first use (journalled) and removed at revert, after any process still in
// them is moved to the cgroup that holds the hierarchy.
//
// The PM QoS request is held as an open file: the kernel drops it when the
// file is closed (Revert, Close) or the agent dies, so it is never
// journalled.
//
// # Safety
//
// PID 1, kernel threads and the agent itself are never touched. Other
// processes must be in Config.Scope: by default those whose real and
// effective UIDs are a person's (1000..59999); PIDs, UIDs and command names
// can be added. DetectTuners finds gamemoded, power-profiles-daemon, tuned,
// auto-cpufreq, ananicy-cpp, system76-scheduler and tlp; Inventory names
// them as the owners of their knobs, and with RespectTuners (the default)
// Apply leaves those knobs alone.
//
// Every path comes from Config (Proc, Sys, Dev, Run, CgroupRoot), so tests
// run the sysfs knobs against fixture trees. What the host lacks answers
// ErrUnavailable and is left out of Inventory.
package actuators
