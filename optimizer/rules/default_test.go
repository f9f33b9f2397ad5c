package rules

import (
	"strings"
	"testing"
)

// TestDefaultRules checks that the shipped rules compile, that each says
// what it does, and that the cases the README promises are there.
func TestDefaultRules(t *testing.T) {
	rs, err := Default(testSchema(t))
	if err != nil {
		t.Fatalf("Default = %v", err)
	}
	src := string(DefaultSource())
	for _, r := range rs.Rules() {
		if r.Doc == "" {
			t.Errorf("default rule %s has no doc", r.Name)
		}
		// A comment above each rule explains it to a user extending it.
		i := strings.Index(src, "- name: "+r.Name)
		if i < 0 || !strings.Contains(src[max(0, i-200):i], "#") {
			t.Errorf("default rule %s has no comment above it", r.Name)
		}
	}
	for name, want := range map[string]string{
		"game-foreground":      "power.mode=GAMING",
		"thermal-forecast-cap": "power.cap_watts=35",
		"low-battery":          "power.mode=MAX_BATTERY",
		"background-compile":   "process.nice=10",
	} {
		r, ok := rs.Rule(name)
		if !ok {
			t.Errorf("default rules lack %s", name)
			continue
		}
		var got []string
		for _, a := range r.Actions {
			got = append(got, a.Knob+"="+a.Value)
		}
		if !strings.Contains(strings.Join(got, " "), want) {
			t.Errorf("rule %s actions %v; want %s", name, got, want)
		}
	}
}
