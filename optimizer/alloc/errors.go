package alloc

import "errors"

// Errors. Every error the package returns wraps one of the two classes
// ErrInvalidInput and ErrInfeasible, so a caller maps it with errors.Is
// without knowing each cause: the gRPC layer answers InvalidArgument for
// the first and FailedPrecondition for the second. The specific errors
// below wrap their class, and the messages that wrap them say which node,
// job or number is at fault.
var (
	// ErrInvalidInput is the class of inputs that are malformed whatever
	// the cluster looks like: a NaN, a negative size, a duplicate id, a
	// policy out of range. The caller sent something wrong.
	ErrInvalidInput = errors.New("invalid input")

	// ErrInfeasible is the class of well-formed requests that the cluster
	// as it is now cannot satisfy. Retrying after the cluster changes (a
	// node joins, the budget rises, a job ends) may succeed.
	ErrInfeasible = errors.New("infeasible")

	// ErrBudgetBelowFloors says the power budget is smaller than what the
	// nodes must be given at least: the sum of the live nodes' floors plus
	// what failed nodes may still draw. Class ErrInfeasible.
	ErrBudgetBelowFloors = classed("budget below the sum of floors", ErrInfeasible)

	// ErrInsufficientResources says a job asks for more cores, memory or
	// GPUs than any node that satisfies its constraints has even when
	// empty. Class ErrInfeasible.
	ErrInsufficientResources = classed("job larger than any node", ErrInfeasible)

	// ErrNoCapacity says nodes big enough for a job exist, but none that
	// is alive, cool enough and matching has room for it now; the job
	// waits for a later round. Class ErrInfeasible.
	ErrNoCapacity = classed("no node has room now", ErrInfeasible)

	// ErrUnknownLabel says a job constrains a node label (key=value) that
	// no known node carries: usually a typo. Class ErrInvalidInput.
	ErrUnknownLabel = classed("unknown node label", ErrInvalidInput)
)

// classedError is a sentinel that belongs to a class: errors.Is(err,
// ErrInfeasible) holds for every error wrapping ErrNoCapacity.
type classedError struct {
	msg   string
	class error
}

func classed(msg string, class error) error { return &classedError{msg: msg, class: class} }

func (e *classedError) Error() string { return e.msg }
func (e *classedError) Unwrap() error { return e.class }
