package rules

import (
	"errors"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary bytes to Compile: it must either return a
// RuleSet that evaluates, or an ErrorList whose entries have a class.
func FuzzParse(f *testing.F) {
	f.Add([]byte(defaultRules))
	f.Add([]byte("rules:\n  - name: a\n    when: {not: {any: [cpu.utilization > 1, power.on_ac == true]}}\n    then: [{mode: gaming}]\n"))
	f.Add([]byte("rules:\n  - name: a\n    when: cpu.utilization >\n"))
	f.Add([]byte("rules: [{name: x, when: [a < 1], then: [{knob: cpufreq.epp, target: cpu0, value: power}]}]"))
	schema := testSchema(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := Compile(schema, File{Name: "fuzz.yaml", Data: data})
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 || list[0].Err == nil {
				t.Fatalf("Compile error %v is not a non-empty ErrorList", err)
			}
			return
		}
		NewEngine(rs).Evaluate(schema.NewFeatures(), time.Unix(0, 0))
	})
}
