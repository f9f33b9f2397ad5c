package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/krystalstack/gamesa/actuators"
	"github.com/krystalstack/gamesa/optimizer/coord"
	"github.com/krystalstack/gamesa/optimizer/policy"
	"github.com/krystalstack/gamesa/optimizer/power"
	"github.com/krystalstack/gamesa/optimizer/rules"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry/sim"
)

// actPeriod is how often the plan is made and applied: knobs are not worth
// turning faster than the models and the cap controller think.
const actPeriod = time.Second

// hands is what the node changes: the real machine through the actuators,
// or the simulated one, which obeys the same plans.
type hands interface {
	Inventory(ctx context.Context) ([]*gamesav1.Knob, error)
	// apply applies plan (enforce) or checks it (observe) and says what
	// became of each action.
	apply(ctx context.Context, plan *gamesav1.Plan, enforce bool) []*gamesav1.ActionResult
}

// actuation is the node's local loop from sample to machine: each second
// the policy pipeline (optimizer/policy: the app coordinator, the rules,
// the power mode and the cluster's power cap, with hysteresis) makes one
// plan; enforce mode applies it and gives back what the pipeline
// releases, observe mode checks what applying would do. Every decision
// goes to the decision history. The loop goroutine calls step; gRPC
// handlers read the latest outcome and set the mode under mu.
type actuation struct {
	log     *slog.Logger
	enforce bool
	hands   hands // nil when blocked
	set     *actuators.Set
	acfg    actuators.Config
	nvml    *actuators.NVML
	apps    *apps
	sysRoot string
	real    bool // the host, not the simulated machine

	mu        sync.Mutex
	blocked   string // why nothing is applied (a corrupt journal waits for a person)
	pipe      *policy.Pipeline
	watcher   *rules.Watcher // nil: the built-in rules only
	fallback  *workloadFallback
	topo      coord.Topology
	topoCPUs  int
	capWatts  float64 // the node's share of the cluster budget; 0: none
	decision  *policy.Decision
	decisions *decisionLog
	last      *gamesav1.GetPlanResponse
	lastStep  time.Time
	lastNote  string
	// inv is the knob inventory the pipeline decides from, read at invAt:
	// reading every knob file each second was a tenth of an idle agent's
	// CPU, so it is read again only after inventoryMaxAge, or when this
	// node changed a knob (nil).
	inv   []*gamesav1.Knob
	invAt time.Time
}

// inventoryMaxAge is how long a change someone else makes to a knob can go
// unseen by the pipeline; the node's own changes are seen at the next step.
const inventoryMaxAge = 10 * time.Second

// newActuation opens the machine's hands. On the simulated source they are
// the simulated machine (which nothing real backs, so it obeys plans in
// either mode). On the host, the actuators' journal lives in the data
// directory: a journal left by a crashed run is replayed now in enforce
// mode (and kept, pending, in observe mode); a corrupt one blocks actuation
// until a person decides with `gamesa revert --from-journal` or
// `--discard-journal`.
func (n *Node) newActuation(ctx context.Context, dataDir string) (*actuation, error) {
	a := &actuation{
		log: n.log.With("component", "actuators"), enforce: n.cfg.Mode == "enforce",
		apps: n.apps, sysRoot: n.cfg.Telemetry.SysRoot, real: n.apps.real,
	}
	if err := a.newPipeline(n.cfg.Policy, n.cfg.Power.Mode); err != nil {
		return nil, err
	}
	dlPath := ""
	if n.cfg.History.Disk {
		dlPath = filepath.Join(dataDir, "decisions.db")
	}
	var err error
	if a.decisions, err = openDecisionLog(dlPath); err != nil {
		return nil, err
	}
	if m, ok := n.src.(*sim.Machine); ok {
		a.hands = simHands{m}
		return a, nil
	}
	a.acfg = actuators.DefaultConfig()
	a.acfg.Proc, a.acfg.Sys, a.acfg.Dev = n.cfg.Telemetry.ProcRoot, n.cfg.Telemetry.SysRoot, n.cfg.Telemetry.DevRoot
	// cgroups live under sysfs, so a fixture sys root moves them too.
	a.acfg.CgroupRoot = filepath.Join(n.cfg.Telemetry.SysRoot, "fs", "cgroup")
	a.acfg.JournalPath = filepath.Join(dataDir, "actuators.journal")
	a.acfg.Logger = a.log
	if n.cfg.Telemetry.GPU {
		if nv, err := actuators.OpenNVML(); err == nil {
			a.nvml, a.acfg.GPUs = nv, nv
		} else {
			a.log.Debug("no NVIDIA power limits", "err", err)
		}
	}
	if err := a.open(ctx, false); err != nil {
		a.decisions.close()
		return nil, err
	}
	return a, nil
}

// newPipeline builds the policy pipeline with the configured rules and
// the user's power mode.
func (a *actuation) newPipeline(cfg PolicyConfig, mode string) error {
	schema, err := rules.NewSchema(rules.DefaultConfig())
	if err != nil {
		return err
	}
	files := slices.Clone(cfg.Rules)
	if cfg.BuiltinRules {
		files = append([]string{builtinRulesName}, files...)
	}
	read := func(name string) ([]byte, error) {
		if name == builtinRulesName {
			return rules.DefaultSource(), nil
		}
		return os.ReadFile(name)
	}
	rs, err := compileRuleFiles(schema, files, read)
	if err != nil {
		return fmt.Errorf("policy.rules: %w", err)
	}
	if len(cfg.Rules) > 0 {
		wc := rules.WatcherConfig{Files: files, Interval: cfg.RulesInterval}
		if a.watcher, err = rules.NewWatcher(wc, schema, read, rs, a.log); err != nil {
			return fmt.Errorf("policy.rules: %w", err)
		}
	}
	pc := policy.DefaultConfig()
	pc.ConfirmTicks, pc.MinDwell, pc.Linger = cfg.ConfirmTicks, cfg.MinDwell, cfg.Linger
	parts := policy.DefaultParts()
	parts.Rules = rs
	a.fallback = &workloadFallback{}
	if parts.Coordinator, err = coord.New(coord.DefaultConfig(), nil, a.fallback); err != nil {
		return err
	}
	if a.pipe, err = policy.New(pc, parts); err != nil {
		return err
	}
	if mode != "" && !strings.EqualFold(mode, "auto") {
		m, err := power.ParseMode(mode)
		if err != nil {
			return fmt.Errorf("power.mode: %w", err)
		}
		if err := a.pipe.SetModeOverride(m); err != nil {
			return err
		}
	}
	return nil
}

// builtinRulesName stands for the embedded default rules among the rule
// files, in positions of errors too.
const builtinRulesName = "builtin:" + rules.DefaultFileName

// compileRuleFiles reads and compiles files, the first load the watcher
// would make: a mistake at start is an error, not a warning.
func compileRuleFiles(schema *rules.Schema, files []string, read rules.ReadFunc) (*rules.RuleSet, error) {
	fs := make([]rules.File, 0, len(files))
	for _, name := range files {
		b, err := read(name)
		if err != nil {
			return nil, err
		}
		fs = append(fs, rules.File{Name: name, Data: b})
	}
	return rules.Compile(schema, fs...)
}

// open opens the actuators' journal. salvage reads a corrupt journal's
// good records as pending, for a person's revert decision.
func (a *actuation) open(ctx context.Context, salvage bool) error {
	a.inv = nil
	cfg := a.acfg
	cfg.Salvage = salvage
	set, err := actuators.Open(ctx, cfg)
	var je *actuators.JournalError
	switch {
	case errors.As(err, &je):
		a.blocked = fmt.Sprintf("the actuators' journal %s is damaged (%v): nothing is applied until you run `gamesa revert --from-journal` (restore what it holds) or `gamesa revert --discard-journal`", je.Path, err)
		a.log.Error("actuation blocked", "why", a.blocked)
		return nil
	case err != nil:
		return fmt.Errorf("actuators: %w", err)
	}
	a.set, a.hands, a.blocked = set, setHands{set}, ""
	if set.Pending() && !salvage {
		if !a.enforce {
			a.blocked = "a journal from a run that did not stop cleanly holds changes; start in enforce mode to restore them, or run `gamesa revert`"
			a.log.Warn("actuation blocked", "why", a.blocked)
			return nil
		}
		res, err := set.Recover(ctx)
		a.log.Info("restored the changes of a run that did not stop cleanly", "actions", len(res), "err", err)
	}
	return nil
}

// close reverts what enforce mode changed (shutdown) and releases the
// actuators.
func (a *actuation) close(ctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.set != nil {
		if a.enforce {
			res, err := a.set.Revert(ctx)
			a.log.Info("reverted changes at shutdown", "actions", len(res), "err", err)
		}
		if err := a.set.Close(); err != nil {
			a.log.Warn("closing actuators", "err", err)
		}
	}
	if err := a.decisions.close(); err != nil {
		a.log.Warn("closing the decision history", "err", err)
	}
	if a.nvml != nil {
		if err := a.nvml.Close(); err != nil {
			a.log.Debug("closing NVML", "err", err)
		}
	}
}

// setPowerCap is the node's share of the cluster's power budget, 0 for
// none; the cap controller drives measured power to it from the next step.
func (a *actuation) setPowerCap(watts float64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.capWatts = max(watts, 0)
}

// step makes this second's decision from the sample and applies
// (enforce) or checks (observe) its plan. It runs on the loop goroutine.
func (a *actuation) step(ctx context.Context, s *gamesav1.Sample, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if now.Sub(a.lastStep) < actPeriod*9/10 {
		return
	}
	a.lastStep = now
	if a.hands == nil {
		// Blocked before the actuators could even open: say so where
		// gamesa plan looks.
		a.last = &gamesav1.GetPlanResponse{Mode: a.modeName(), EvaluatedAt: timestamppb.New(now), Notes: []string{"blocked: " + a.blocked}}
		return
	}
	inv, err := a.inventory(ctx, now)
	if err != nil {
		a.logOnce("knob inventory", err)
		return
	}
	a.reloadRules(now)
	a.apps.prune()
	regs := a.apps.reg.Snapshot()
	if cpus := len(s.GetCpu().GetCores()); cpus != a.topoCPUs {
		// CPUs went on- or offline (or this is the first step).
		a.topo, a.topoCPUs = topologyFor(a.sysRoot, a.real, cpus), cpus
	}
	a.fallback.observe(s)
	d := a.pipe.Decide(policy.Input{
		Now: now, Sample: s, Knobs: inv,
		Processes: a.apps.processes(s, regs, now), Registrations: regs, Topology: a.topo,
		ClusterCapWatts: a.capWatts,
	})
	a.decision = d
	a.apps.remember(d.Plan)
	notes := d.Notes
	if a.blocked != "" {
		notes = append(slices.Clip(notes), "blocked: "+a.blocked)
	}
	var results []*gamesav1.ActionResult
	if a.blocked == "" {
		results = a.hands.apply(ctx, d.Plan, a.enforce)
		results = append(results, a.release(ctx, d.Release)...)
		if anyApplied(results) { // the simulated machine obeys in observe mode too
			a.inv = nil
		}
	}
	pd := d.Proto()
	if err := a.decisions.add(pd); err != nil {
		a.logOnce("recording the decision", err)
	}
	a.last = &gamesav1.GetPlanResponse{Plan: d.Plan, Results: results, Mode: a.modeName(), EvaluatedAt: timestamppb.New(now), Notes: notes}
}

// inventory returns the knob inventory, read again when it is older than
// inventoryMaxAge or was dropped after a change.
func (a *actuation) inventory(ctx context.Context, now time.Time) ([]*gamesav1.Knob, error) {
	if a.inv != nil && now.Sub(a.invAt) < inventoryMaxAge && !now.Before(a.invAt) {
		return a.inv, nil
	}
	inv, err := a.hands.Inventory(ctx)
	if err != nil {
		return nil, err
	}
	a.inv, a.invAt = inv, now
	return inv, nil
}

func anyApplied(rs []*gamesav1.ActionResult) bool {
	for _, r := range rs {
		if r.GetStatus() == actuators.Applied.String() {
			return true
		}
	}
	return false
}

// reloadRules switches to the rule files' new contents when they changed
// and compile; a mistake is logged once and the rules in force stay.
func (a *actuation) reloadRules(now time.Time) {
	if a.watcher == nil {
		return
	}
	rs, changed, err := a.watcher.Poll(now)
	if err != nil {
		a.log.Error("rule files rejected; the rules in force stay", "err", err)
	}
	if !changed {
		return
	}
	if err := a.pipe.SetRules(rs); err != nil {
		a.log.Error("rule files rejected; the rules in force stay", "err", err)
		return
	}
	a.log.Info("rules reloaded", "rules", rs.Len())
}

// release gives back the settings the pipeline no longer wants: in
// enforce mode the actuators restore each one's original value. Observe
// mode changed nothing, and the simulated machine has no originals.
func (a *actuation) release(ctx context.Context, rel []policy.Released) []*gamesav1.ActionResult {
	if !a.enforce || a.set == nil {
		return nil
	}
	var out []*gamesav1.ActionResult
	for _, r := range rel {
		res, err := a.set.Restore(ctx, r.Knob, r.Target)
		if err != nil {
			a.logOnce("giving back "+r.Key.String(), err)
		}
		for _, x := range res {
			pr := resultProto(x)
			pr.Note = strings.TrimPrefix(pr.Note+"; released: nothing asks for it any more", "; ")
			out = append(out, pr)
		}
	}
	return out
}

// latestDecision returns the newest decision and what became of its plan.
func (a *actuation) latestDecision() (*gamesav1.Decision, []*gamesav1.ActionResult) {
	d := a.decisions.latest()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.last == nil {
		return d, nil
	}
	return d, a.last.GetResults()
}

func (a *actuation) modeName() string {
	if a.enforce {
		return "enforce"
	}
	return "observe"
}

func (a *actuation) logOnce(what string, err error) {
	if msg := what + ": " + err.Error(); msg != a.lastNote {
		a.lastNote = msg
		a.log.Warn(what, "err", err)
	}
}

// setHands applies plans to the real machine through the actuators.
type setHands struct{ set *actuators.Set }

func (h setHands) Inventory(ctx context.Context) ([]*gamesav1.Knob, error) {
	return h.set.Inventory(ctx)
}

func (h setHands) apply(ctx context.Context, plan *gamesav1.Plan, enforce bool) []*gamesav1.ActionResult {
	var rs []actuators.Result
	if enforce {
		rs = h.set.Apply(ctx, plan)
	} else {
		rs = h.set.Check(ctx, plan)
	}
	out := make([]*gamesav1.ActionResult, len(rs))
	for i, r := range rs {
		out[i] = resultProto(r)
	}
	return out
}

func resultProto(r actuators.Result) *gamesav1.ActionResult {
	ar := &gamesav1.ActionResult{Action: r.Action, Status: r.Status.String(), Previous: r.Previous, Value: r.Value, Note: r.Note}
	if r.Err != nil {
		if ar.Note != "" {
			ar.Note += "; "
		}
		ar.Note += r.Err.Error()
	}
	return ar
}

// simHands applies plans to the simulated machine. Nothing real changes,
// so it obeys in observe mode too: the whole loop, cap included, runs and
// is tested on the simulator.
type simHands struct{ m *sim.Machine }

func (h simHands) Inventory(ctx context.Context) ([]*gamesav1.Knob, error) {
	return h.m.Inventory(ctx)
}

func (h simHands) apply(ctx context.Context, plan *gamesav1.Plan, _ bool) []*gamesav1.ActionResult {
	out := make([]*gamesav1.ActionResult, 0, len(plan.GetActions()))
	for _, act := range plan.GetActions() {
		one := &gamesav1.Plan{Actions: []*gamesav1.Action{act}}
		r := &gamesav1.ActionResult{Action: act, Status: "applied", Value: act.GetValue()}
		if err := h.m.Apply(ctx, one); err != nil {
			r.Status, r.Note = "rejected", err.Error()
		}
		out = append(out, r)
	}
	return out
}

// revert undoes what GAMESA changed, or settles a corrupt journal.
func (a *actuation) revert(ctx context.Context, fromJournal, discard bool) ([]*gamesav1.ActionResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inv = nil
	if fromJournal || discard {
		if a.set != nil && !a.set.Pending() {
			return nil, errors.New("no journal waits for a decision")
		}
		if a.set == nil {
			if a.acfg.JournalPath == "" {
				return nil, errors.New("the simulated machine keeps no journal")
			}
			if err := a.open(ctx, true); err != nil {
				return nil, err
			}
			if a.set == nil {
				return nil, errors.New(a.blocked)
			}
		}
		if discard {
			if err := a.set.DiscardJournal(); err != nil {
				return nil, err
			}
			a.blocked = ""
			a.log.Warn("journal discarded by request: nothing restored")
			return nil, nil
		}
		res, err := a.set.Recover(ctx)
		if err == nil {
			a.blocked = ""
		}
		return results(res), err
	}
	if a.set == nil {
		if a.blocked != "" {
			return nil, errors.New(a.blocked)
		}
		return nil, nil // the simulated machine: nothing real to restore
	}
	if a.set.Pending() {
		res, err := a.set.Recover(ctx)
		if err == nil {
			a.blocked = ""
		}
		return results(res), err
	}
	res, err := a.set.Revert(ctx)
	return results(res), err
}

func results(rs []actuators.Result) []*gamesav1.ActionResult {
	out := make([]*gamesav1.ActionResult, len(rs))
	for i, r := range rs {
		out[i] = resultProto(r)
	}
	return out
}

// journalPendingOnDisk reports whether a journal file with content exists,
// for ListKnobs when the actuators could not open it.
func journalPendingOnDisk(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Size() > 0
}
