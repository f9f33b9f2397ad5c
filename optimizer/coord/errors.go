package coord

import "errors"

// Errors. Messages that wrap them say which value, file or rule is at
// fault; match them with errors.Is.
var (
	// ErrConfig says a Config field is out of range.
	ErrConfig = errors.New("invalid coordinator config")

	// ErrRule says a rule of a rule database is malformed: no class, no
	// condition, or a command name longer than the kernel keeps.
	ErrRule = errors.New("invalid classification rule")

	// ErrTopology says the CPU topology files are missing or inconsistent:
	// no CPU at all, or a file that does not parse.
	ErrTopology = errors.New("unreadable CPU topology")

	// ErrRegistration says a registration is invalid: a pid ≤ 0 or an
	// unknown class.
	ErrRegistration = errors.New("invalid registration")
)
