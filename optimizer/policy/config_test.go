package policy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/optimizer/coord"
	"github.com/krystalstack/gamesa/optimizer/policy"
	"github.com/krystalstack/gamesa/optimizer/power"
	"github.com/krystalstack/gamesa/optimizer/rules"
)

func TestDefaultConfigValid(t *testing.T) {
	if err := policy.DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v; want nil", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*policy.Config)
		field  string // in the error; "" for valid
	}{
		{"confirm 1 takes changes at once", func(c *policy.Config) { c.ConfirmTicks = 1 }, ""},
		{"no dwell, no linger", func(c *policy.Config) { c.MinDwell, c.Linger = 0, 0 }, ""},
		{"no class map", func(c *policy.Config) { c.RuleClasses = nil }, ""},
		{"confirm 0", func(c *policy.Config) { c.ConfirmTicks = 0 }, "ConfirmTicks"},
		{"negative dwell", func(c *policy.Config) { c.MinDwell = -time.Second }, "MinDwell"},
		{"negative linger", func(c *policy.Config) { c.Linger = -1 }, "Linger"},
		{"zero tick", func(c *policy.Config) { c.Tick = 0 }, "Tick"},
		{"unknown class", func(c *policy.Config) { c.RuleClasses[coord.Class("miner")] = "mine" }, "miner"},
		{"the unknown class", func(c *policy.Config) { c.RuleClasses[coord.ClassUnknown] = "other" }, "not a coordinator class"},
		{"upper-case rule name", func(c *policy.Config) { c.RuleClasses[coord.ClassGame] = "Game" }, "Game"},
		{"empty rule name", func(c *policy.Config) { c.RuleClasses[coord.ClassGame] = "" }, "RuleClasses[game]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := policy.DefaultConfig()
			tc.change(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v; want nil", err)
				}
				return
			}
			if !errors.Is(err, policy.ErrConfig) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Validate() = %v; want an ErrConfig naming %s", err, tc.field)
			}
		})
	}
}

func TestValidateReportsEveryField(t *testing.T) {
	c := policy.DefaultConfig()
	c.ConfirmTicks, c.Linger, c.Tick = 0, -1, 0
	err := c.Validate()
	for _, f := range []string{"ConfirmTicks", "Linger", "Tick"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("Validate() = %v; want it to name %s", err, f)
		}
	}
}

func TestNewRejects(t *testing.T) {
	schema, err := rules.NewSchema(rules.Config{AppClasses: []string{"game"}, WorkloadClasses: []string{"idle"}, ForecastHorizons: []uint32{30}})
	if err != nil {
		t.Fatal(err)
	}
	narrow, err := rules.Compile(schema, rules.File{Name: "one.yaml", Data: []byte("rules:\n  - name: r\n    when: app.running.game == true\n    then:\n      - mode: gaming\n")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		cfg   func(*policy.Config)
		parts func(*policy.Parts)
		want  error
		text  string
	}{
		{"bad config", func(c *policy.Config) { c.ConfirmTicks = 0 }, func(*policy.Parts) {}, policy.ErrConfig, "ConfirmTicks"},
		{"a rule set without the mapped classes", func(*policy.Config) {}, func(p *policy.Parts) { p.Rules = narrow }, policy.ErrParts, `"voice"`},
		{"a bad mode config", func(*policy.Config) {}, func(p *policy.Parts) { p.Modes.GamingMinFreqPercent = 150 }, policy.ErrParts, "GamingMinFreqPercent"},
		{"a bad auto switch config", func(*policy.Config) {}, func(p *policy.Parts) { p.AutoSwitch.ResumePercent = 10 }, policy.ErrParts, "ResumePercent"},
		{"a bad cap config", func(*policy.Config) {}, func(p *policy.Parts) { p.Cap.MaxStep = -1 }, policy.ErrParts, "MaxStep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, parts := policy.DefaultConfig(), policy.DefaultParts()
			tc.cfg(&cfg)
			tc.parts(&parts)
			p, err := policy.New(cfg, parts)
			if p != nil || !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("New() = %v, %v; want nil and an error wrapping %v naming %s", p, err, tc.want, tc.text)
			}
		})
	}

	// A config that maps only the classes the narrow schema has works
	// with it.
	cfg := policy.DefaultConfig()
	cfg.RuleClasses = map[coord.Class]string{coord.ClassGame: "game"}
	parts := policy.DefaultParts()
	parts.Rules = narrow
	if _, err := policy.New(cfg, parts); err != nil {
		t.Fatalf("New with a narrow class map: %v", err)
	}
}

func TestSetRules(t *testing.T) {
	p, err := policy.New(policy.DefaultConfig(), policy.DefaultParts())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetRules(nil); !errors.Is(err, policy.ErrParts) {
		t.Errorf("SetRules(nil) = %v; want ErrParts", err)
	}
	narrowSchema, err := rules.NewSchema(rules.Config{AppClasses: []string{"game"}})
	if err != nil {
		t.Fatal(err)
	}
	narrow, err := rules.Compile(narrowSchema, rules.File{Name: "n.yaml", Data: []byte("rules:\n  - name: r\n    when: app.running.game == true\n    then:\n      - mode: gaming\n")})
	if err != nil {
		t.Fatal(err)
	}
	before := p.Rules()
	if err := p.SetRules(narrow); !errors.Is(err, policy.ErrParts) || p.Rules() != before {
		t.Errorf("SetRules(a schema without voice) = %v, rules changed %v; want ErrParts and the old rules", err, p.Rules() != before)
	}

	// A rule set over another schema with every class: taken, and a
	// decision uses it.
	schema, err := rules.NewSchema(rules.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rules.Compile(schema, rules.File{Name: "quiet.yaml", Data: []byte("rules:\n  - name: always-battery\n    when: app.running.game == false\n    then:\n      - mode: max_battery\n")})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetRules(rs); err != nil || p.Rules() != rs {
		t.Fatalf("SetRules = %v; want the new rules in use", err)
	}
	d := p.Decide(policy.Input{Now: time.Unix(1_700_000_000, 0)})
	if d.Mode != power.MaxBattery || len(d.Fired) != 1 || d.Fired[0].Rule.Name != "always-battery" {
		t.Fatalf("after SetRules: mode %v, fired %d; want MAX_BATTERY from always-battery", d.Mode, len(d.Fired))
	}
}

func TestModeOverride(t *testing.T) {
	p, err := policy.New(policy.DefaultConfig(), policy.DefaultParts())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetModeOverride(power.Mode(42)); err == nil {
		t.Error("SetModeOverride(42) = nil; want an error")
	}
	if _, ok := p.ModeOverride(); ok {
		t.Error("a rejected override is in force")
	}
	now := time.Unix(1_700_000_000, 0)
	if d := p.Decide(policy.Input{Now: now}); d.Mode != power.Balanced {
		t.Fatalf("mode %v; want BALANCED on AC", d.Mode)
	}
	if err := p.SetModeOverride(power.MaxPerformance); err != nil {
		t.Fatal(err)
	}
	if d := p.Decide(policy.Input{Now: now.Add(time.Second)}); d.Mode != power.MaxPerformance || !strings.Contains(d.ModeReason, "user") {
		t.Fatalf("mode %v (%s); want the user's MAX_PERFORMANCE at once", d.Mode, d.ModeReason)
	}
	p.ClearModeOverride()
	if d := p.Decide(policy.Input{Now: now.Add(2 * time.Second)}); d.Mode != power.Balanced {
		t.Fatalf("mode %v after clearing; want BALANCED at once", d.Mode)
	}
}

func TestTimeBackwards(t *testing.T) {
	p, err := policy.New(policy.DefaultConfig(), policy.DefaultParts())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	p.Decide(policy.Input{Now: now})
	d := p.Decide(policy.Input{Now: now.Add(-time.Minute)})
	if !d.Time.Equal(now) || len(d.Notes) == 0 || !strings.Contains(d.Notes[0], "before the previous tick") {
		t.Fatalf("a tick back in time: decided at %v with notes %q; want %v and a note", d.Time, d.Notes, now)
	}
}
