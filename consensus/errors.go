package consensus

import (
	"errors"
	"fmt"
)

// The errors a caller can test for with errors.Is.
var (
	// ErrInvalidCommand is returned (wrapped with the reason) for a command
	// that fails validation. Such a command never reaches the log.
	ErrInvalidCommand = errors.New("invalid command")

	// ErrNotLeader is matched by a *NotLeaderError: the operation needs the
	// leader and this server is not it. Nothing was submitted.
	ErrNotLeader = errors.New("not the leader")

	// ErrUnknownOutcome means a command was submitted but this server cannot
	// tell whether it committed (the wait ended, leadership was lost, or the
	// server shut down). It may still commit: retry with the same request_id
	// and the dedup table makes the retry safe.
	ErrUnknownOutcome = errors.New("outcome unknown: the command may or may not have been applied")

	// ErrShutdown is returned by calls made after Shutdown began.
	ErrShutdown = errors.New("consensus server is shut down")

	// ErrAlreadyBootstrapped is returned by Bootstrap when this server has
	// Raft state already (a log, a snapshot, or an earlier bootstrap).
	ErrAlreadyBootstrapped = errors.New("raft state exists: already bootstrapped")

	// ErrDataDirLocked is returned by Open when another process (or another
	// Server in this one) holds the data directory's database.
	ErrDataDirLocked = errors.New("data directory is in use")

	// ErrInvalidSnapshot is returned by Restore for a snapshot that does not
	// decode or breaks the state's invariants.
	ErrInvalidSnapshot = errors.New("invalid snapshot")

	// ErrInvalidConfig is wrapped by Config.Validate's errors.
	ErrInvalidConfig = errors.New("invalid consensus config")

	// ErrUnknownServer is returned for a server ID that the Raft
	// configuration does not hold.
	ErrUnknownServer = errors.New("server is not in the raft configuration")
)

// NotLeaderError says that an operation needs the leader, and who that is
// as far as this server knows. errors.Is(err, ErrNotLeader) matches it.
type NotLeaderError struct {
	// LeaderID and LeaderAddr are empty while no leader is known (during an
	// election, or on a server cut off from the others).
	LeaderID   string
	LeaderAddr string
}

// Error describes the error and names the leader when known.
func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return "not the leader (no leader known)"
	}
	return fmt.Sprintf("not the leader (leader is %s at %s)", e.LeaderID, e.LeaderAddr)
}

// Is makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }
