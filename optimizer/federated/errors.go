package federated

import (
	"errors"
	"fmt"
)

// Errors. Every refusal of an update is a *RefusedError naming the node
// and wrapping one of the reasons below, so a caller (the gRPC layer)
// maps it with errors.Is and tells the node exactly what was wrong; none
// of them changes the global model.
var (
	// ErrShape: the update's tensors differ from the global model's in
	// count, name or shape.
	ErrShape = errors.New("tensors do not match the global model")
	// ErrWrongRound: the update answers another round (a late upload).
	ErrWrongRound = errors.New("update for another round")
	// ErrWrongBase: the update was trained from another model than the
	// round's (its base hash differs).
	ErrWrongBase = errors.New("update trained from another base model")
	// ErrNonFinite: a weight is NaN or infinite.
	ErrNonFinite = errors.New("non-finite weight")
	// ErrTooLarge: more parameters, tensors or bytes than Config allows.
	ErrTooLarge = errors.New("update too large")
	// ErrNormBound: the update's distance from the global model is beyond
	// Config.RejectNorm (garbage, not a training step).
	ErrNormBound = errors.New("update beyond the norm bound")
	// ErrSamples: a sample count of zero or above Config.MaxSamples.
	ErrSamples = errors.New("sample count out of range")
	// ErrDuplicate: a second update from the same node in one round.
	ErrDuplicate = errors.New("duplicate node")
	// ErrMalformed: bytes that are not a model file of the round's kind.
	ErrMalformed = errors.New("malformed update")

	// ErrTooFew is returned by a rule given fewer updates than it needs
	// (Krum needs n ≥ 2f+3; a trimmed mean must keep one value).
	ErrTooFew = errors.New("too few updates for the rule")
	// ErrInvalidConfig reports a Config or rule that cannot work.
	ErrInvalidConfig = errors.New("invalid configuration")
)

// RefusedError is a refused update: which node, and why (Err wraps one of
// the sentinel errors above).
type RefusedError struct {
	Node string
	Err  error
}

// Error says which node was refused and why.
func (e *RefusedError) Error() string {
	return fmt.Sprintf("federated: update from %q refused: %v", e.Node, e.Err)
}

// Unwrap returns the reason.
func (e *RefusedError) Unwrap() error { return e.Err }

func refuse(node string, reason error, format string, args ...any) error {
	return &RefusedError{Node: node, Err: fmt.Errorf("%w: "+format, append([]any{reason}, args...)...)}
}
