// Package coord is the app coordinator: it sorts the machine's processes
// into apps (a game, a voice chat, a browser, an IDE, a compiler, a
// renderer, an encoder, background services), finds the app in the
// foreground, and plans how the apps share the CPUs: core splits that
// respect SMT siblings and caches, nice values, I/O priorities and
// cgroup weights, each action with its reasons. It is optimizer code:
// it reads no clock and no OS file (topology is read through the
// caller's fs.FS), starts no goroutine, and the same input gives the
// same Decision.
//
// The caller's contract:
//
//  1. At start, build a Coordinator with New(DefaultConfig(), nil, fb):
//     nil rules means DefaultRules; fb, the Fallback for apps no rule
//     knows (the workload classifier), may be nil. Read the topology once
//     with ParseTopology(os.DirFS(sysRoot + "/devices/system/cpu")), and
//     again when CPUs go on- or offline. Keep one Registry.
//  2. The gRPC RegisterApp / UnregisterApp handlers and `gamesa run`
//     call Registry.Register and Registry.Unregister, with the time from
//     the caller's clock and the process's start time when known.
//  3. Each tick: Registry.Prune with a liveness check of each pid (and
//     its start time), then Plan with the tick's processes (FromSample,
//     plus every registered pid and the parents of each listed process
//     up to its root: grouping follows PPID only through listed
//     processes), the topology and Registry.Snapshot(). A caller that
//     changed nice values passes the ones from before in NiceBefore, and
//     one whose actuators can set the groups' cpusets names those groups
//     in CPUSetGroups.
//  4. Hand Decision.Actions to the policy pipeline, which merges them
//     with the other parts of the plan, applies hysteresis and passes
//     the plan to the actuators (or records it in observe mode). Show
//     Decision.Notes to the user where they explain why less was done.
//     The pipeline itself calls PlanShared, which gives the same
//     settings without making an Action of each, in a list it reads
//     before the next plan (PlanSettings copies them to the caller's).
//
// Keep one Coordinator for the agent's life: it remembers each pid's rule
// match between ticks (re-matching a process whose name, parent's name,
// command line, executable or cgroup changed), the last grouping (made
// again only when a pid, a parent, a match or a registration changes),
// the texts of its reasons, the last core split and the last plan, and
// reuses its buffers, so a tick over a steady process list tests no rule
// and formats nothing, and one whose nice values hold and whose CPU use
// crosses no threshold the plan reads (the hog thresholds, the busiest
// game, the encoders' reservation, the render + compile share) plans
// nothing, and through PlanShared allocates nothing. That memory never
// changes a result. A Coordinator is safe for concurrent use as long as
// the Fallback is (a mutex serializes Plan and Classify; the Fallback
// must not call back into its Coordinator); a Decision and the apps
// Classify returns share nothing with it that it writes again (reasons
// are shared from tick to tick, and never changed once made), but for
// PlanShared's, which its caller reads until its next call. RuleSet is
// immutable and safe for concurrent use; Registry is safe for
// concurrent use.
//
// # Classification
//
// Each process is matched against the rule database (DefaultRules: name,
// command line, executable path, parent's name, cgroup path; the first
// matching rule wins). Processes then group into apps along their parent
// chain: a child with no rule of its own, or with its parent app's
// class, joins that app, so a browser's content processes and a Proton
// game's Wine helpers count as the browser and the game. A child of
// another class (a game under the Steam client, a compiler under an IDE)
// starts its own app, and so does every registered pid. An unmatched
// process joins only an app of a known class: a busy program started
// from a terminal is an app of its own, not part of the shell's parent
// chain up to pid 1. Apps no rule knows go to the Fallback when they use
// at least Config.FallbackMinCPUPercent.
//
// # Foreground
//
// A registration wins: the registered app present with the highest
// priority, then the most recent. Without one, the busiest game app (by
// CPU) is the foreground. There is no fullscreen or focus hint: the
// agent has no display connection, and a compositor would have to tell
// it. Only a game becomes the foreground without registering.
//
// # Scenarios
//
// The first that applies:
//
//	game (+ voice chat, + stream)  foreground is a game. The game gets whole physical cores
//	                               (GameCoreShare of them, StreamGameCoreShare beside an
//	                               encoder; one L3 cache whole where there are several; the
//	                               fast cores of a hybrid part), the foreground cgroup, nice
//	                               -10, I/O be/0. Voice chat and encoders run on the other
//	                               cores at nice -5 with CPUs reserved for them (one logical
//	                               CPU for voice, one per 100 % of the encoder's use). Apps
//	                               using ≥ HogCPUPercent go to the background cgroup on the
//	                               remaining CPUs, nice 10, I/O be/6, and stay there down to
//	                               HogKeepCPUPercent (Input.PrevHogs), so they do not bounce.
//	render + compile               a renderer and a compiler both present: the cores split in
//	                               proportion to their CPU use, so neither evicts the other's
//	                               cache; affinity only (children inherit it at fork).
//	browser + IDE                  the IDE in the foreground cgroup at nice -5; the browser as
//	                               it is; priorities only (both are interactive and bursty).
//	foreground <class>             a registered app of another class: foreground cgroup, nice
//	                               -5; busy apps to the background cgroup at nice 10.
//	none                           nothing but the rule below.
//
// In every scenario, background services (indexers, package managers,
// backups) go to the background cgroup at nice 15 and idle I/O priority.
// The numbers come from Config; nice values never go below
// Config.MinNice, the actuators' floor.
//
// # Small machines
//
// A split needs two physical cores. On two logical CPUs that are SMT
// siblings of one core (a small VM, an old laptop), or on one CPU, the
// plan sets priorities and cgroup weights only and a Note says so. On two
// physical cores the split is one core each: the game alone on CPU 1,
// everything else on CPU 0; voice chat then cannot have a CPU reserved
// (the others keep at least one) and keeps ahead by priority alone.
//
// # Output
//
// Actions are desired settings, not differences (the actuators skip what
// already holds), except nice values: a boost is not planned for a
// process already at or above it, nor a demotion for one already below,
// so a user's own renice stands. A process moved into a group whose
// cpuset the caller can set (Input.CPUSetGroups) gets no affinity of its
// own: the group's cpuset holds it on the group's CPUs, as the kernel
// sets a process's affinity to its cpuset's when it joins, and its
// children inherit both. Every other planned process, and every one
// where the caller names no group (a host without the cpuset controller),
// gets its affinity per process, so the split holds without cgroups.
// Only listed processes are planned: a process that becomes busy is
// planned on the tick its CPU use shows.
package coord
