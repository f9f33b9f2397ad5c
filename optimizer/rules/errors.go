package rules

import (
	"errors"
	"fmt"
	"strings"
)

// The package's sentinel errors. Every error that Compile returns is an
// ErrorList whose entries wrap one of these, so a caller tells a typo from
// a bad value with errors.Is and shows the user the positions.
var (
	// ErrSyntax is a rule file that is not YAML, or whose YAML does not
	// have the shape of a rule file (a list where a mapping belongs).
	ErrSyntax = errors.New("syntax error")
	// ErrUnknownField is a mapping key the language does not define.
	ErrUnknownField = errors.New("unknown field")
	// ErrMissingField is a required field left out (name, when, then).
	ErrMissingField = errors.New("missing field")
	// ErrUnknownFeature is a condition on a feature that the Schema does
	// not have.
	ErrUnknownFeature = errors.New("unknown feature")
	// ErrType is a comparison whose operator or value does not fit the
	// feature's type: a string feature compared with a number, an
	// ordering on a bool, a value outside the feature's choices.
	ErrType = errors.New("type mismatch")
	// ErrDuration is a `for` or `cooldown` that is not a non-negative Go
	// duration ("10s", "1m30s").
	ErrDuration = errors.New("bad duration")
	// ErrUnknownKnob is an action on a knob that plan.proto does not name.
	ErrUnknownKnob = errors.New("unknown knob")
	// ErrUnknownMode is a power mode that is not one of power.Modes().
	ErrUnknownMode = errors.New("unknown power mode")
	// ErrValue is an action value out of range or malformed (nice 40, an
	// affinity list that is not a CPU list, an unknown app class).
	ErrValue = errors.New("bad value")
	// ErrDuplicate is a rule name used twice across the compiled files.
	ErrDuplicate = errors.New("duplicate rule name")
	// ErrContradiction is two rules of equal priority and specificity that
	// set the same knob on the same target to different values: neither
	// can win, so the rule set is rejected rather than resolved by name.
	ErrContradiction = errors.New("contradictory actions")
	// ErrConfig is wrapped by every Validate error.
	ErrConfig = errors.New("rules: invalid config")
)

// Error is one problem in a rule file, at a position a user can jump to.
type Error struct {
	// File is the name the caller gave the file (a path, or "default.yaml").
	File string
	// Line and Column are 1-based; Column is 0 when only the line is
	// known (YAML syntax errors).
	Line, Column int
	// Err is the sentinel (ErrSyntax, ErrType, ...) the problem belongs to.
	Err error
	// Msg says what is wrong in words.
	Msg string
}

// Error returns "file:line:col: class: msg".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	return b.String()
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

// ErrorList is every problem found in one compilation, in file order.
type ErrorList []*Error

// maxErrors bounds an ErrorList: after that many, the rest are noise from
// the same mistake, and a fuzzed input should not build a huge message.
const maxErrors = 50

// Error lists the problems one per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.Is and errors.As see each entry.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}
