package rules

import _ "embed"

// defaultRules is default.yaml, embedded as a string so that no caller can
// change it under another.
//
//go:embed default.yaml
var defaultRules string

// DefaultFileName is the name Default gives the embedded rule file in
// positions and in Rule.File.
const DefaultFileName = "default.yaml"

// DefaultSource returns the text of the default rule set, for a user to
// copy and extend.
func DefaultSource() []byte { return []byte(defaultRules) }

// Default compiles the default rule set against schema. It fails only
// when schema lacks a class or horizon the defaults use (game, voice,
// compile, render; 30 s).
func Default(schema *Schema) (*RuleSet, error) {
	return Compile(schema, File{Name: DefaultFileName, Data: DefaultSource()})
}
