package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry/telemetrytest"
)

// TestPowerModeOverGRPC: the user's mode wins over the automatic one and
// the next plan follows it; an unknown mode is refused, naming the field.
func TestPowerModeOverGRPC(t *testing.T) {
	tn := startNode(t, nil) // the simulated machine: knobs it obeys
	act := gamesav1.NewActuatorServiceClient(tn.conn)
	ctx := ctxT(t)
	if _, err := act.SetPowerMode(ctx, &gamesav1.SetPowerModeRequest{Mode: "turbo"}); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "mode") {
		t.Errorf("SetPowerMode(turbo) = %v; want InvalidArgument naming mode", err)
	}
	if _, err := act.SetPowerMode(ctx, &gamesav1.SetPowerModeRequest{Mode: "gaming"}); err != nil {
		t.Fatalf("SetPowerMode(gaming): %v", err)
	}
	waitFor(t, "a GAMING plan", 10*time.Second, func() (bool, string) {
		pm, err := act.GetPowerMode(ctx, &gamesav1.GetPowerModeRequest{})
		if err != nil {
			return false, err.Error()
		}
		plan, err := act.GetPlan(ctx, &gamesav1.GetPlanRequest{})
		if err != nil {
			return false, err.Error()
		}
		return pm.GetMode() == "GAMING" && !pm.GetAutomatic() && plan.GetPlan().GetMode() == "GAMING",
			pm.String() + " / " + plan.GetPlan().GetMode()
	})
	knobs, err := act.ListKnobs(ctx, &gamesav1.ListKnobsRequest{})
	if err != nil || len(knobs.GetKnobs()) == 0 || knobs.GetMode() != "observe" {
		t.Errorf("ListKnobs = %v, %v; want the simulated machine's knobs in observe mode", knobs, err)
	}
	if _, err := act.SetPowerMode(ctx, &gamesav1.SetPowerModeRequest{Mode: "AUTO"}); err != nil {
		t.Fatalf("SetPowerMode(auto): %v", err)
	}
	if pm, err := act.GetPowerMode(ctx, &gamesav1.GetPowerModeRequest{}); err != nil || !pm.GetAutomatic() {
		t.Errorf("GetPowerMode after auto = %v, %v; want automatic", pm, err)
	}
}

// TestPowerCapOnSimulatedMachine: the node's cap (its share of a cluster
// budget) is enforced through the cap controller on the simulated machine:
// the measured draw comes down to the cap.
func TestPowerCapOnSimulatedMachine(t *testing.T) {
	tn := startNode(t, func(c *Config) { c.Sim.Scenario = "render"; c.Tick = 200 * time.Millisecond })
	const capW = 20
	waitFor(t, "a loaded machine", 10*time.Second, func() (bool, string) {
		s := tn.latest.Load()
		return s.GetPower().GetTotalWatts() > capW+5, s.GetPower().String()
	})
	tn.act.setPowerCap(capW)
	waitFor(t, "draw at the cap", 20*time.Second, func() (bool, string) {
		s := tn.latest.Load()
		w := s.GetPower().GetTotalWatts()
		return w <= capW*1.05, s.GetPower().String()
	})
}

// TestCorruptJournalBlocksActuation: a damaged journal stops every change
// until a person decides; the decision is taken over gRPC.
func TestCorruptJournalBlocksActuation(t *testing.T) {
	dir := t.TempDir()
	journal := filepath.Join(dir, "actuators.journal")
	if err := os.WriteFile(journal, []byte("GAMESAJ1 but then garbage that is no record at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	roots := telemetrytest.Fixture(t, "../actuators/testdata/fixture")
	tn := startNode(t, func(c *Config) {
		c.DataDir = dir
		c.Telemetry.Source = "host"
		c.Telemetry.SysRoot, c.Telemetry.DevRoot = roots.Sys, roots.Dev
		c.Telemetry.GPU = false
		c.Mode = "enforce"
		c.Power.Mode = "max_battery" // platform_profile low-power: a visible change
	})
	act := gamesav1.NewActuatorServiceClient(tn.conn)
	ctx := ctxT(t)
	knobs, err := act.ListKnobs(ctx, &gamesav1.ListKnobsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(knobs.GetBlocked(), journal) || !knobs.GetJournalPending() {
		t.Fatalf("ListKnobs with a corrupt journal: blocked %q, pending %v; want blocked naming %s", knobs.GetBlocked(), knobs.GetJournalPending(), journal)
	}
	profile := filepath.Join(roots.Sys, "firmware/acpi/platform_profile")
	before, _ := os.ReadFile(profile)
	// A plan is made each second; while blocked it is shown, not applied.
	waitFor(t, "a blocked plan", 10*time.Second, func() (bool, string) {
		p, err := act.GetPlan(ctx, &gamesav1.GetPlanRequest{})
		if err != nil {
			return false, err.Error()
		}
		return len(p.GetResults()) == 0 && strings.Contains(strings.Join(p.GetNotes(), " "), "blocked"), p.String()
	})
	if after, _ := os.ReadFile(profile); string(after) != string(before) {
		t.Fatalf("platform_profile changed from %q to %q while the journal was corrupt", before, after)
	}
	if _, err := act.Revert(ctx, &gamesav1.RevertRequest{FromJournal: true, DiscardJournal: true}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("Revert(both) = %v; want InvalidArgument", err)
	}
	if _, err := act.Revert(ctx, &gamesav1.RevertRequest{DiscardJournal: true}); err != nil {
		t.Fatalf("Revert(discard): %v", err)
	}
	if knobs, err = act.ListKnobs(ctx, &gamesav1.ListKnobsRequest{}); err != nil || knobs.GetBlocked() != "" {
		t.Errorf("after discarding: blocked %q, %v; want unblocked", knobs.GetBlocked(), err)
	}
	// Unblocked, enforce mode now acts.
	waitFor(t, "enforce mode acts", 10*time.Second, func() (bool, string) {
		after, _ := os.ReadFile(profile)
		return string(after) != string(before), string(after)
	})
}
