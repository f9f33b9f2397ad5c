// Package policy is the node's decision for each tick: it runs the app
// coordinator, the rules and the power planners over one tick's input
// and returns ONE plan, every action with the reasons of every part that
// asked for it, held steady by hysteresis. It is optimizer code: no clock
// reads, no OS files, no goroutines; the same inputs in the same order
// give the same decisions.
//
// The caller's contract (the node's loop, once a second):
//
//  1. At start: p, err := New(DefaultConfig(), DefaultParts()), with the
//     rule set from the rules Watcher in Parts.Rules and the agent's one
//     Coordinator in Parts.Coordinator. If the user chose a power mode,
//     p.SetModeOverride(mode).
//  2. Each tick: fill the sample's Insights from the models, then
//     d := p.Decide(Input{Now, Sample, Knobs, Processes, Registrations,
//     Topology, ClusterCapWatts}).
//  3. Apply d.Plan in enforce mode (the actuators skip what already
//     holds) or check it in observe mode, and restore the original value
//     of every knob in d.Release. Keep d for `gamesa explain`:
//     d.Proto() is its API form. The apps' sums in d.Apps hold until
//     the next Decide, which writes its own in the same apps: take
//     d.Proto() before it.
//  4. After a rules hot reload, p.SetRules(rs); on gRPC SetPowerMode,
//     p.SetModeOverride or p.ClearModeOverride. Serialise both with
//     Decide: a Pipeline belongs to one goroutine.
//
// # One tick
//
//   - The coordinator groups the processes into apps, finds the
//     foreground and plans the scenario (core split, nice, I/O priority,
//     cgroups). It sees each process's nice value from before GAMESA
//     reniced it, so a boost in force still reads as one to make, and
//     the groups whose cgroup.cpuset the knob inventory shows writable:
//     a process it moves into one of them has its CPUs from the group's
//     cpuset, not an affinity of its own.
//   - The rules' features come from the sample (with the models' outputs
//     in Sample.Insights) and the coordinator's apps, in the rules' class
//     names (Config.RuleClasses: voice_chat reads as voice, compiler as
//     compile, ...). The rules fire.
//   - The power mode: the user's override, else a rule's `mode:`, else
//     AutoSwitch's choice from the power source. The user's explicit
//     choice always wins; a rule beats only the automatic choice. The mode
//     has a setting's hysteresis (below); the user's choice (and its
//     withdrawal), a rule of urgent priority and a change of power source
//     (which AutoSwitch already debounced) take force at once. The mode's plan
//     (ModeConfig.PlanFor, with the foreground game's cores) names a value
//     for every knob the mode manages.
//   - The power cap: the lower of the cluster's cap for this node and a
//     rule's cap_power goes to CapController.Step.
//   - Rules' knob actions; an "app:<class>" target becomes each process
//     of each app of that class ("pid:N") for a process knob, and the
//     groups the coordinator puts those processes in for a cgroup knob.
//
// # One value per knob and target
//
// Where parts ask for the same knob and target, the power cap wins, then
// rules (the user's explicit wishes), then the coordinator, then the
// mode's defaults; between rules, priority, then specificity, then name.
// On a limit knob the cap controller sets (RAPL, NVML, cpufreq.max_khz)
// the cap is a ceiling: the lowest value asked for wins, as power.Merge
// does. The action carries the winner's reasons, then those of the parts
// that asked for the same value, then one line per part it overrode;
// Decision.Overruled lists the losers.
//
// # Hysteresis
//
// A setting whose value changes (or that is new) takes force once it has
// been asked for Config.ConfirmTicks ticks in a row, and not before
// Config.MinDwell after the value in force took force. Urgent settings
// skip both: the cap controller's limits, the mode's knobs (the mode had
// its own hysteresis), rules of at least Config.UrgentPriority (heat,
// battery) and whatever a registered app's processes and a registered
// foreground's group are asked to do (a registration acts at once).
// A setting in force that nobody asks for any more stays Config.Linger,
// then is listed in Decision.Release. Decision.Held says which changes
// wait and why. Decision.Plan lists every setting in force, not only
// the changes.
package policy
