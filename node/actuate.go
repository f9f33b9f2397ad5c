package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/krystalstack/gamesa/actuators"
	"github.com/krystalstack/gamesa/optimizer/power"
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

// actuation is the node's local loop from sample to machine: the power mode
// (AutoSwitch, or the user's choice) and the cluster's power cap
// (CapController) become one plan each second; enforce mode applies it,
// observe mode checks what applying would do. The loop goroutine calls
// step; gRPC handlers read the latest outcome and set the mode under mu.
type actuation struct {
	log     *slog.Logger
	enforce bool
	hands   hands // nil when blocked
	set     *actuators.Set
	acfg    actuators.Config
	nvml    *actuators.NVML

	mu       sync.Mutex
	blocked  string // why nothing is applied (a corrupt journal waits for a person)
	auto     *power.AutoSwitch
	modes    power.ModeConfig
	capCtl   *power.CapController
	capWatts float64 // the node's share of the cluster budget; 0: none
	decision power.Decision
	last     *gamesav1.GetPlanResponse
	lastStep time.Time
	lastNote string
}

// newActuation opens the machine's hands. On the simulated source they are
// the simulated machine (which nothing real backs, so it obeys plans in
// either mode). On the host, the actuators' journal lives in the data
// directory: a journal left by a crashed run is replayed now in enforce
// mode (and kept, pending, in observe mode); a corrupt one blocks actuation
// until a person decides with `gamesa revert --from-journal` or
// `--discard-journal`.
func (n *Node) newActuation(ctx context.Context, dataDir string) (*actuation, error) {
	a := &actuation{log: n.log.With("component", "actuators"), enforce: n.cfg.Mode == "enforce", modes: power.DefaultModeConfig()}
	var err error
	if a.auto, err = power.NewAutoSwitch(power.DefaultAutoSwitchConfig()); err != nil {
		return nil, err
	}
	if a.capCtl, err = power.NewCapController(power.DefaultCapConfig()); err != nil {
		return nil, err
	}
	if m := n.cfg.Power.Mode; m != "" && !strings.EqualFold(m, "auto") {
		mode, err := power.ParseMode(m)
		if err != nil {
			return nil, fmt.Errorf("power.mode: %w", err)
		}
		if err := a.auto.SetOverride(mode); err != nil {
			return nil, err
		}
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
		return nil, err
	}
	return a, nil
}

// open opens the actuators' journal. salvage reads a corrupt journal's
// good records as pending, for a person's revert decision.
func (a *actuation) open(ctx context.Context, salvage bool) error {
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

// step makes this second's plan from the sample and applies (enforce) or
// checks (observe) it. It runs on the loop goroutine.
func (a *actuation) step(ctx context.Context, s *gamesav1.Sample, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if now.Sub(a.lastStep) < actPeriod*9/10 {
		return
	}
	dt := now.Sub(a.lastStep)
	if a.lastStep.IsZero() {
		dt = actPeriod
	}
	a.lastStep = now
	if a.hands == nil {
		// Blocked before the actuators could even open: say so where
		// gamesa plan looks.
		a.last = &gamesav1.GetPlanResponse{Mode: a.modeName(), EvaluatedAt: timestamppb.New(now), Notes: []string{"blocked: " + a.blocked}}
		return
	}
	inv, err := a.hands.Inventory(ctx)
	if err != nil {
		a.logOnce("knob inventory", err)
		return
	}
	host := power.HostFromSample(s, inv)
	prev := a.decision.Mode
	a.decision = a.auto.Update(host, now)
	if a.decision.Changed && a.enforce && a.set != nil && prev.Valid() {
		// A mode change starts from the machine as it was: the new
		// mode's plan then says everything it wants.
		if res, err := a.set.Revert(ctx); err != nil || len(res) > 0 {
			a.log.Info("reverted for a mode change", "from", prev, "to", a.decision.Mode, "actions", len(res), "err", err)
		}
	}
	plan, notes := a.modes.PlanFor(a.decision.Mode, host, now)
	plan = power.Merge(plan, a.capCtl.Step(power.MeasuredWatts(s), a.capWatts, dt, host))
	mode := a.modeName()
	if a.blocked != "" {
		notes = append(notes, "blocked: "+a.blocked)
	}
	var results []*gamesav1.ActionResult
	if a.blocked == "" {
		results = a.hands.apply(ctx, plan, a.enforce)
	}
	a.last = &gamesav1.GetPlanResponse{Plan: plan, Results: results, Mode: mode, EvaluatedAt: timestamppb.New(now), Notes: notes}
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
