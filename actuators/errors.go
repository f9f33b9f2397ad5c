package actuators

import (
	"errors"
	"fmt"
)

// Errors a caller may test with errors.Is. Every error this package returns
// wraps one of them, or an OS error (fs.ErrPermission, fs.ErrNotExist), with
// the knob, target and file in the text.
var (
	// ErrUnavailable: this host has no such knob or target (no cpufreq, no
	// RAPL, no NVIDIA GPU, a build without the OS support).
	ErrUnavailable = errors.New("not available on this host")
	// ErrUnknownKnob: the action names a knob that is not in plan.proto's
	// list.
	ErrUnknownKnob = errors.New("unknown knob")
	// ErrBadTarget: the target is malformed for the knob ("pid:x", "cpu",
	// an empty target where one is needed).
	ErrBadTarget = errors.New("bad target")
	// ErrBadValue: the value cannot be parsed, or is not one of the knob's
	// choices.
	ErrBadValue = errors.New("bad value")
	// ErrOutOfBounds: the value parses but is outside what the knob allows,
	// for knobs that reject rather than clamp (see the package doc).
	ErrOutOfBounds = errors.New("out of bounds")
	// ErrOutOfScope: the process may not be touched: PID 1, a kernel
	// thread, the agent itself, or outside the configured Scope.
	ErrOutOfScope = errors.New("process out of scope")
	// ErrRealtime: a real-time scheduling or I/O class was asked for and
	// Config.AllowRealtime is off.
	ErrRealtime = errors.New("real-time priority not allowed (Config.AllowRealtime)")
	// ErrOwned: another tuner that is running manages the knob, and
	// Config.RespectTuners is on.
	ErrOwned = errors.New("managed by another tuner")
	// ErrGone: the process or device went away between the plan and the
	// change; such an action is skipped, not failed.
	ErrGone = errors.New("gone")
	// ErrChangedSince: at revert, the knob no longer holds the value this
	// agent set: someone else changed it since, so it is left alone.
	ErrChangedSince = errors.New("changed by someone else since it was set")
	// ErrRecoveryPending: the journal holds changes left by an earlier run
	// (a crash); Apply refuses until Recover or DiscardJournal.
	ErrRecoveryPending = errors.New("journal from an earlier run is pending: Recover or DiscardJournal first")
	// ErrCorruptJournal: the journal cannot be read; see JournalError.
	ErrCorruptJournal = errors.New("corrupt journal")
	// ErrJournalLocked: another process holds the journal.
	ErrJournalLocked = errors.New("journal is locked by another process")
	// ErrClosed: the Set was closed.
	ErrClosed = errors.New("actuators closed")
)

// JournalError reports a journal that cannot be trusted: bad magic, a
// checksum mismatch, a record that does not decode. Nothing is applied
// while it stands; a person decides (see Config.Salvage). It wraps
// ErrCorruptJournal.
type JournalError struct {
	// Path is the journal file.
	Path string
	// Offset is the byte offset of the first bad record.
	Offset int64
	// Records is how many records before Offset decoded cleanly.
	Records int
	// Reason says what is wrong.
	Reason string
}

// Error names the file, the offset and the reason, and what to do.
func (e *JournalError) Error() string {
	return fmt.Sprintf("actuators: journal %s is corrupt at byte %d (after %d good records): %s; "+
		"nothing will be applied: open with Config.Salvage to revert or discard the %d readable records",
		e.Path, e.Offset, e.Records, e.Reason, e.Records)
}

// Unwrap returns ErrCorruptJournal.
func (e *JournalError) Unwrap() error { return ErrCorruptJournal }
