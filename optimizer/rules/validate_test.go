package rules

import (
	"errors"
	"testing"
)

func testSchema(t testing.TB) *Schema {
	t.Helper()
	s, err := NewSchema(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestValidationErrors checks that each kind of mistake is rejected with
// its class and the position of the offending text.
func TestValidationErrors(t *testing.T) {
	const head = "rules:\n  - name: r\n"
	tests := []struct {
		name      string
		src       string
		err       error
		line, col int
	}{
		{"syntax", "rules:\n  - name: a\n\t- name: b\n", ErrSyntax, 2, 0}, // yaml.v3 names the line before the tab,
		{"not a list", "rules: 3\n", ErrSyntax, 1, 8},
		{"unknown top field", "rulez: []\n", ErrUnknownField, 1, 1},
		{"unknown rule field", head + "    when: cpu.utilization > 1\n    then: [{mode: gaming}]\n    colour: red\n", ErrUnknownField, 5, 5},
		{"missing then", head + "    when: cpu.utilization > 1\n", ErrMissingField, 2, 5},
		{"unknown feature", head + "    when: cpu.utilisation > 80\n    then: [{mode: gaming}]\n", ErrUnknownFeature, 3, 11},
		{"string vs number", head + "    when: app.foreground.class == 3\n    then: [{mode: gaming}]\n", ErrType, 3, 35},
		{"number vs string", head + "    when: cpu.utilization > hot\n    then: [{mode: gaming}]\n", ErrType, 3, 29},
		{"ordering a bool", head + "    when: power.on_ac > true\n    then: [{mode: gaming}]\n", ErrType, 3, 23},
		{"unknown class", head + "    when: app.foreground.class == gmae\n    then: [{mode: gaming}]\n", ErrType, 3, 35},
		{"quoted position", head + "    when: \"cpu.utilization > hot\"\n    then: [{mode: gaming}]\n", ErrType, 3, 30},
		{"bad duration", head + "    for: 10 seconds\n    when: cpu.utilization > 1\n    then: [{mode: gaming}]\n", ErrDuration, 3, 10},
		{"negative cooldown", head + "    cooldown: -1s\n    when: cpu.utilization > 1\n    then: [{mode: gaming}]\n", ErrDuration, 3, 15},
		{"unknown mode", head + "    when: cpu.utilization > 1\n    then:\n      - mode: turbo\n", ErrUnknownMode, 5, 15},
		{"unknown knob", head + "    when: cpu.utilization > 1\n    then:\n      - knob: cpu.turbo\n        value: 1\n", ErrUnknownKnob, 5, 15},
		{"nice out of range", head + "    when: cpu.utilization > 1\n    then:\n      - nice: 40\n        app: compile\n", ErrValue, 5, 15},
		{"app verb without app", head + "    when: cpu.utilization > 1\n    then:\n      - nice: 4\n", ErrMissingField, 5, 9},
		{"two verbs", head + "    when: cpu.utilization > 1\n    then:\n      - nice: 4\n        mode: gaming\n        app: game\n", ErrSyntax, 5, 9},
		{"empty all", head + "    when: {all: []}\n    then: [{mode: gaming}]\n", ErrSyntax, 3, 17},
		{"duplicate", head + "    when: cpu.utilization > 1\n    then: [{mode: gaming}]\n  - name: r\n    when: cpu.utilization > 2\n    then: [{mode: gaming}]\n", ErrDuplicate, 5, 11},
		{"contradiction", "rules:\n  - name: a\n    when: cpu.utilization > 1\n    then: [{mode: gaming}]\n  - name: b\n    when: cpu.user > 2\n    then: [{mode: max_battery}]\n", ErrContradiction, 7, 12},
	}
	schema := testSchema(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Compile(schema, File{Name: "t.yaml", Data: []byte(tt.src)})
			if err == nil {
				t.Fatalf("Compile(%q) = %v, nil; want %v", tt.src, rs, tt.err)
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("Compile(%q) = %v; want %v", tt.src, err, tt.err)
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("Compile(%q) error %T is not an ErrorList", tt.src, err)
			}
			e := list[0]
			if e.File != "t.yaml" || e.Line != tt.line || e.Column != tt.col {
				t.Errorf("Compile(%q) = %v; want position t.yaml:%d:%d", tt.src, e, tt.line, tt.col)
			}
		})
	}
}

// TestContradictionNamesBothRules checks the message a user gets.
func TestContradictionNamesBothRules(t *testing.T) {
	src := "rules:\n  - name: a\n    when: cpu.utilization > 1\n    then: [{mode: gaming}]\n  - name: b\n    when: cpu.user > 2\n    then: [{mode: max_battery}]\n"
	_, err := Compile(testSchema(t), File{Name: "t.yaml", Data: []byte(src)})
	want := `t.yaml:7:12: contradictory actions: rule "a" (t.yaml:4:12) sets power.mode to GAMING and rule "b" (t.yaml:7:12) to MAX_BATTERY, both at priority 0 and specificity 1; give one a higher priority`
	if err == nil || err.Error() != want {
		t.Fatalf("Compile = %v;\nwant %s", err, want)
	}
	// The same pair with a priority between them is fine, and so is the
	// pair that agrees.
	for _, ok := range []string{
		"rules:\n  - name: a\n    priority: 1\n    when: cpu.utilization > 1\n    then: [{mode: gaming}]\n  - name: b\n    when: cpu.user > 2\n    then: [{mode: max_battery}]\n",
		"rules:\n  - name: a\n    when: cpu.utilization > 1\n    then: [{mode: gaming}]\n  - name: b\n    when: cpu.user > 2\n    then: [{mode: GAMING}]\n",
	} {
		if _, err := Compile(testSchema(t), File{Name: "t.yaml", Data: []byte(ok)}); err != nil {
			t.Errorf("Compile(%q) = %v; want nil", ok, err)
		}
	}
}
