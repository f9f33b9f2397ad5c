package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// scenario is a script in testdata/scenarios: rules (inline or the
// defaults) and steps of feature values in time with what must fire.
type scenario struct {
	Default bool   `yaml:"default"`
	Rules   string `yaml:"rules"`
	Steps   []struct {
		At      string            `yaml:"at"`
		Set     map[string]string `yaml:"set"`
		Fired   []string          `yaml:"fired"`
		Actions []string          `yaml:"actions"`
		Reasons []string          `yaml:"reasons"`
	} `yaml:"steps"`
}

func TestScenarios(t *testing.T) {
	paths, err := filepath.Glob("testdata/scenarios/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	schema := testSchema(t)
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var sc scenario
			if err := yaml.Unmarshal(data, &sc); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			var rs *RuleSet
			if sc.Default {
				rs, err = Default(schema)
			} else {
				rs, err = Compile(schema, File{Name: path, Data: []byte(sc.Rules)})
			}
			if err != nil {
				t.Fatal(err)
			}
			eng, f := NewEngine(rs), schema.NewFeatures()
			start := time.Unix(1_700_000_000, 0)
			for i, st := range sc.Steps {
				for k, v := range st.Set {
					if err := f.Set(k, v); err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
				}
				at, err := time.ParseDuration(st.At)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				res := eng.Evaluate(f, start.Add(at))
				var fired, actions, reasons []string
				for _, fr := range res.Fired() {
					fired = append(fired, fr.Rule.Name)
					reasons = append(reasons, fr.Reason())
				}
				for _, d := range res.Actions {
					actions = append(actions, fmt.Sprintf("%s %s = %s (%s)", d.Knob, d.Target, d.Value, d.Rule.Name))
				}
				if !slices.Equal(fired, st.Fired) {
					t.Errorf("step %d at %s: fired %q; want %q", i, st.At, fired, st.Fired)
				}
				if st.Actions != nil && !slices.Equal(actions, st.Actions) {
					t.Errorf("step %d at %s: actions %q; want %q", i, st.At, actions, st.Actions)
				}
				for _, r := range st.Reasons {
					if !slices.Contains(reasons, r) {
						t.Errorf("step %d at %s: reasons %q lack %q", i, st.At, reasons, r)
					}
				}
			}
		})
	}
}
