// Package rules is GAMESA's rule language: rules in YAML over telemetry
// features, model outputs and app classes, compiled into an indexed
// evaluator. It is optimizer code: it parses bytes the caller hands in,
// reads no clock and starts no goroutine.
//
// The caller's contract:
//
//  1. Once: schema, err := NewSchema(DefaultConfig()) (or a Config with
//     the app coordinator's classes and the models' horizons).
//  2. Compile the rules: Compile(schema, File{Name, Data}, ...) or
//     Default(schema). To hot-reload, make a Watcher with the files and a
//     ReadFunc (os.ReadFile) and call Poll(now) every tick; it rereads at
//     most once per Interval and returns the new RuleSet when the files
//     changed and compiled. A file with a mistake is rejected with an
//     ErrorList (file:line:column: reason) and the previous rules stay in
//     force.
//  3. Once: engine := NewEngine(rs). After a reload: engine.SetRules(rs),
//     which keeps the `for` and `cooldown` clocks of unchanged rules.
//  4. Every tick: f := schema.NewFeatures() once and
//     schema.Extract(f, sample, Apps{...}) per sample; then
//     res := engine.Evaluate(f, now) with the tick's time (never going
//     backwards).
//  5. Use res: res.Mode() for power.AutoSwitch's override or the plan's
//     mode, res.CapWatts() for power.CapController.Step, and
//     res.PlanActions() for the knob actions (app targets "app:<class>"
//     go to the app coordinator). res.Fired and each Decision's Reason()
//     explain the decision: "rule hot-cpu: thermal.forecast_30s 91.2 >= 90".
//
// A RuleSet and a Schema are immutable and may be shared; an Engine and a
// Watcher belong to one goroutine (the node's loop).
//
// # The language
//
// A file is a mapping with one key, rules, a list of rules:
//
//	rules:
//	  - name: hot-cpu              # unique; lower case, digits, - _ .
//	    doc: Cap power before the package reaches 90 °C.
//	    priority: 100              # higher wins; default 0
//	    for: 10s                   # the condition must hold this long first
//	    cooldown: 30s              # after it stops firing, quiet this long
//	    when:
//	      any:
//	        - thermal.forecast_30s >= 90
//	        - all:
//	            - cpu.utilization > 95
//	            - not: power.on_ac == true
//	    then:
//	      - cap_power: 35          # watts, for the cap controller
//	      - mode: max_battery      # a power mode, as power.ParseMode reads it
//	      - nice: 10               # -20..19
//	        app: compile           # an app class: the target app:compile
//	      - ioprio: idle           # idle, be/0..7, rt/0..7
//	        app: compile
//	      - affinity: 0-1          # a CPU list
//	        app: game
//	      - cgroup_weight: 400     # 1..10000
//	        app: game
//	      - knob: cpufreq.epp      # any knob plan.proto names
//	        target: cpu0
//	        value: performance
//
// A condition is a comparison "feature op value" with op one of < <= >
// >= == !=, a list (all of it), or a mapping with one key: all (a list),
// any (a list) or not (a condition). Schema.Features lists the features
// with their types and units: numbers (cpu.utilization,
// thermal.forecast_30s, power.battery_percent, ...) take every operator,
// bools (power.on_ac, anomaly.anomalous, app.running.<class>) take == and
// != against true or false, strings (app.foreground.class,
// workload.class) take == and != against one of their choices. A
// comparison on a feature the sample lacks (no battery, models not ready)
// is false; `not` of it is true.
//
// A rule fires when its condition holds, has held for `for` (counted in
// the ticks the engine saw), and its cooldown since it last stopped
// firing has passed. Among fired rules, each knob and target goes to the
// rule with the highest priority, then the most comparisons (the most
// specific), then the first name. Two rules that tie on both and set one
// knob and target to different values are rejected as contradictory when
// compiled, whether or not their conditions can hold together: a tie that
// name order would break is a surprise a user should settle.
//
// # The index
//
// Compilation turns each condition into negation normal form over
// distinct comparisons ("literals") and numbers the literals by feature,
// operator and threshold, so that the literals one feature value
// satisfies are a few contiguous ranges, found by a binary search per
// operator and marked in a bitset. Each rule becomes a disjunction of
// conjunctions (clauses), or, when that would take more than 16 clauses,
// a program over the literals. A clause is listed under one literal only,
// its trigger: the one least likely to hold, guessed from where its
// threshold sits among the feature's thresholds. A program is listed
// under a cover, literals one of which holds whenever it does. The
// entries are stored by trigger literal and by clause length, so an
// evaluation reads the entries of each satisfied range front to back and
// checks each clause's other literals against the bitset without a
// branch. Cost follows the satisfied triggers, not the size of the rule
// set; a rule whose trigger does not hold costs nothing. Every
// evaluation starts from scratch: the engine keeps no per-sample cache.
// Reasons are formatted only when read.
package rules
