package node

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// TestGameScenarioExplained: on the simulated machine running a game, the
// policy finds the game, plans the game scenario, and ExplainDecision
// says so with reasons on every action; the decision history holds it.
func TestGameScenarioExplained(t *testing.T) {
	tn := startNode(t, func(c *Config) { c.Sim.Scenario = "game" })
	pol := gamesav1.NewPolicyServiceClient(tn.conn)
	ctx := ctxT(t)
	var d *gamesav1.Decision
	waitFor(t, "the game scenario", 15*time.Second, func() (bool, string) {
		res, err := pol.ExplainDecision(ctx, &gamesav1.ExplainDecisionRequest{})
		if err != nil {
			return false, err.Error()
		}
		d = res.GetDecisions()[0]
		return strings.HasPrefix(d.GetScenario(), "game") && d.GetForeground().GetClass() == "game", d.GetScenario()
	})
	if d.GetMode() == "" || d.GetModeReason() == "" {
		t.Errorf("decision without a mode or its reason: %v", d)
	}
	niced := false
	for _, a := range d.GetActions() {
		if len(a.GetReasons()) == 0 {
			t.Errorf("action %s %s = %s has no reason", a.GetKnob(), a.GetTarget(), a.GetValue())
		}
		if a.GetKnob() == "process.nice" && a.GetTarget() == fmt.Sprintf("pid:%d", d.GetForeground().GetRoot()) {
			niced = true
		}
	}
	if !niced && len(d.GetHeld()) == 0 {
		t.Errorf("the game's root process is neither reniced nor held back: %v", d.GetActions())
	}
	// The target filter keeps one process's settings.
	target := fmt.Sprintf("pid:%d", d.GetForeground().GetRoot())
	res, err := pol.ExplainDecision(ctx, &gamesav1.ExplainDecisionRequest{Target: target})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range res.GetDecisions()[0].GetActions() {
		if a.GetTarget() != target {
			t.Errorf("target %s filter kept %s %s", target, a.GetKnob(), a.GetTarget())
		}
	}
	// The history holds the decisions of the last minute, the game among them.
	hist, err := pol.ExplainDecision(ctx, &gamesav1.ExplainDecisionRequest{From: timestamppb.New(time.Now().Add(-time.Minute))})
	if err != nil || len(hist.GetDecisions()) == 0 {
		t.Fatalf("history of the last minute = %v, %v", hist, err)
	}
	if last := hist.GetDecisions()[len(hist.GetDecisions())-1]; !strings.HasPrefix(last.GetScenario(), "game") {
		t.Errorf("the newest recorded decision is %q; want the game's", last.GetScenario())
	}
	_, err = pol.ExplainDecision(ctx, &gamesav1.ExplainDecisionRequest{From: timestamppb.New(time.Now()), To: timestamppb.New(time.Now().Add(-time.Hour))})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("a range ending before it starts: %v; want InvalidArgument", err)
	}
}

// TestRegisterAppOnTheHost: a real process registers, shows in ListApps and
// in the decision as the registered foreground, and is forgotten when it
// exits; pid 1, the agent itself and missing pids are refused.
func TestRegisterAppOnTheHost(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	tn := startNode(t, func(c *Config) {
		c.Telemetry.Source = "host"
		c.Telemetry.ProcRoot, c.Telemetry.SysRoot = "/proc", "/sys"
		c.ML.Enabled = false
	})
	apps := gamesav1.NewAppServiceClient(tn.conn)
	ctx := ctxT(t)
	for _, tc := range []struct {
		pid  int32
		code codes.Code
	}{{1, codes.InvalidArgument}, {int32(os.Getpid()), codes.InvalidArgument}, {1 << 22, codes.NotFound}} {
		if _, err := apps.RegisterApp(ctx, &gamesav1.RegisterAppRequest{Pid: tc.pid}); status.Code(err) != tc.code {
			t.Errorf("RegisterApp(pid %d) = %v; want %v", tc.pid, err, tc.code)
		}
	}
	if _, err := apps.RegisterApp(ctx, &gamesav1.RegisterAppRequest{Pid: 2, Class: "game"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("RegisterApp(kthreadd) = %v; want InvalidArgument", err)
	}
	game := exec.Command("sleep", "60")
	if err := game.Start(); err != nil {
		t.Fatal(err)
	}
	defer game.Process.Kill()
	pid := int32(game.Process.Pid)
	if _, err := apps.RegisterApp(ctx, &gamesav1.RegisterAppRequest{Pid: pid, Class: "toaster"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("RegisterApp(class toaster) = %v; want InvalidArgument", err)
	}
	reg, err := apps.RegisterApp(ctx, &gamesav1.RegisterAppRequest{Pid: pid, Priority: 2})
	if err != nil || reg.GetRegistration().GetClass() != "game" || reg.GetRegistration().GetName() != "sleep" {
		t.Fatalf("RegisterApp(sleep) = %v, %v; want a game named sleep", reg, err)
	}
	pol := gamesav1.NewPolicyServiceClient(tn.conn)
	waitFor(t, "the registered game in the foreground", 15*time.Second, func() (bool, string) {
		res, err := pol.ExplainDecision(ctx, &gamesav1.ExplainDecisionRequest{})
		if err != nil {
			return false, err.Error()
		}
		d := res.GetDecisions()[0]
		return d.GetForeground().GetRoot() == pid && d.GetForeground().GetRegistered(), d.GetScenario() + " " + d.GetForegroundBy()
	})
	game.Process.Kill()
	game.Wait()
	waitFor(t, "the registration to go with its process", 15*time.Second, func() (bool, string) {
		l, err := apps.ListApps(ctx, &gamesav1.ListAppsRequest{})
		if err != nil {
			return false, err.Error()
		}
		return len(l.GetRegistrations()) == 0, l.String()
	})
}

// TestBadRuleFileRefusedAtStart: a rule file with a mistake stops the
// agent at start with its position; at run time (TestRulesHotReload) the
// rules in force stay.
func TestBadRuleFileRefusedAtStart(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("rules:\n  - name: x\n    when: cpu.utilization > hot\n    then: [{nice: 5, app: compile}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Policy.Rules = []string{bad}
	n, err := New(cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	err = n.Run(ctxT(t))
	if err == nil || !strings.Contains(err.Error(), bad+":3:") {
		t.Errorf("Run with a bad rule file = %v; want an error at %s:3", err, bad)
	}
}

// TestRulesHotReload: a rule file is followed as it changes; a broken
// version is refused and the rules in force stay.
func TestRulesHotReload(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mine.yaml")
	write := func(name, mode string) {
		t.Helper()
		body := fmt.Sprintf("rules:\n  - name: %s\n    when: cpu.utilization >= 0\n    then:\n      - mode: %s\n", name, mode)
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("always-battery", "max_battery")
	tn := startNode(t, func(c *Config) {
		c.Policy.Rules = []string{file}
		c.Policy.BuiltinRules = false
		c.Policy.RulesInterval = 100 * time.Millisecond
		c.Policy.MinDwell = 0 // the test is about the rules, not the dwell
	})
	pol := gamesav1.NewPolicyServiceClient(tn.conn)
	ctx := ctxT(t)
	firing := func(rule, mode string) func() (bool, string) {
		return func() (bool, string) {
			res, err := pol.ExplainDecision(ctx, &gamesav1.ExplainDecisionRequest{})
			if err != nil {
				return false, err.Error()
			}
			d := res.GetDecisions()[0]
			for _, f := range d.GetFired() {
				if f.GetName() == rule && d.GetMode() == mode {
					return true, ""
				}
			}
			return false, fmt.Sprintf("mode %s, fired %v", d.GetMode(), d.GetFired())
		}
	}
	waitFor(t, "always-battery in force", 15*time.Second, firing("always-battery", "MAX_BATTERY"))
	if err := os.WriteFile(file, []byte("rules:\n  - name: broken\n    when: no.such.feature > 1\n    then: [{mode: gaming}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // several polls of the broken file
	if ok, why := firing("always-battery", "MAX_BATTERY")(); !ok {
		t.Fatalf("a broken rule file replaced the rules in force: %s", why)
	}
	write("always-performance", "max_performance")
	waitFor(t, "always-performance in force", 15*time.Second, firing("always-performance", "MAX_PERFORMANCE"))
}
