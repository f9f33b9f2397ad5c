package actuators

import (
	"errors"
	"io/fs"
	"syscall"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Status is what became of one action.
type Status int

// The statuses, from success to failure. A Result's Err says why for every
// status but Applied and Unchanged.
const (
	// Applied: the knob now holds the value (after clamping, see Note),
	// and the original is in the journal.
	Applied Status = iota
	// Unchanged: the knob already held the value; nothing was written.
	Unchanged
	// WouldApply: Check found the action would be applied.
	WouldApply
	// Skipped: the target went away (a process that exited), or, at
	// revert, someone else changed the knob since: not an error.
	Skipped
	// Rejected: the action was refused before touching anything: unknown
	// knob, bad value, out of bounds, out of scope, owned by a tuner,
	// real-time not allowed, recovery pending.
	Rejected
	// Unavailable: this host has no such knob or target.
	Unavailable
	// Denied: the OS refused (permission denied, a read-only file).
	Denied
	// Failed: the OS refused for another reason (invalid argument, I/O
	// error), or the journal could not be written.
	Failed
)

// String returns the status in lower case, as logs and the CLI print it.
func (s Status) String() string {
	switch s {
	case Applied:
		return "applied"
	case Unchanged:
		return "unchanged"
	case WouldApply:
		return "would-apply"
	case Skipped:
		return "skipped"
	case Rejected:
		return "rejected"
	case Unavailable:
		return "unavailable"
	case Denied:
		return "denied"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// OK reports whether the status is a success (Applied, Unchanged,
// WouldApply) or a harmless skip.
func (s Status) OK() bool {
	return s == Applied || s == Unchanged || s == WouldApply || s == Skipped
}

// Result is what became of one action of a plan, or of one revert.
type Result struct {
	// Action is the action as asked; for a revert, the action that puts
	// the original back (value = the original, reasons = "revert").
	Action *gamesav1.Action
	Status Status
	// Previous is the knob's value before; Value what it holds after
	// (what was written, or for Unchanged the current value). Empty when
	// the knob could not be read.
	Previous, Value string
	// Note says what was adjusted on the way, e.g. "clamped from -15 to
	// -10"; empty when nothing was.
	Note string
	// Err says why, for every status but Applied and Unchanged; it wraps
	// one of the package's sentinel errors or an OS error.
	Err error
}

// statusOf maps an error from a driver to a Status.
func statusOf(err error) Status {
	switch {
	case err == nil:
		return Applied
	case errors.Is(err, ErrGone), errors.Is(err, syscall.ESRCH), errors.Is(err, ErrChangedSince):
		return Skipped
	case errors.Is(err, ErrUnavailable):
		return Unavailable
	case errors.Is(err, fs.ErrPermission):
		return Denied
	case errors.Is(err, ErrUnknownKnob), errors.Is(err, ErrBadTarget), errors.Is(err, ErrBadValue),
		errors.Is(err, ErrOutOfBounds), errors.Is(err, ErrOutOfScope), errors.Is(err, ErrRealtime),
		errors.Is(err, ErrOwned), errors.Is(err, ErrRecoveryPending), errors.Is(err, ErrClosed):
		return Rejected
	}
	return Failed
}
