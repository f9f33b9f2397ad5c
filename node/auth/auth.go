package auth

import (
	"errors"
	"fmt"
)

// Errors a caller can test for with errors.Is. None of them, and no error
// of this package, ever contains a token or any part of one.
var (
	// ErrSyntax is returned for a tokens file (or token file) that does not
	// follow the format in the package documentation; the error names the
	// line.
	ErrSyntax = errors.New("syntax error")
	// ErrNoTokens is returned for a tokens file without a single token: an
	// empty file is more likely a mistake than a wish to lock everyone out,
	// and a missing file is how auth is turned off.
	ErrNoTokens = errors.New("no tokens")
	// ErrInsecureFile is returned for a token file that group or others may
	// access, or that is not a regular file, as ssh refuses such a key.
	ErrInsecureFile = errors.New("token file is not private to its owner")
	// ErrNotLoopback is returned by LoopbackBearer for a target beyond this
	// machine.
	ErrNotLoopback = errors.New("not a loopback address")
	// ErrInvalidPolicy is returned by NewAuthorizer for a policy entry that
	// is not a full method name or not a scope.
	ErrInvalidPolicy = errors.New("invalid policy")
	// ErrDisabled is returned by SetTokens on an Authorizer made without
	// tokens: auth cannot be turned on at run time.
	ErrDisabled = errors.New("auth is disabled")
)

// Scope is what a token may do. ScopeAdmin implies ScopeRead.
type Scope uint8

// The scopes, weakest first.
const (
	// ScopeRead may call methods that only look: info, telemetry, history,
	// cluster state.
	ScopeRead Scope = iota + 1
	// ScopeAdmin may also call methods that change a node or the cluster.
	ScopeAdmin
)

// ParseScope parses "read" or "admin".
func ParseScope(s string) (Scope, error) {
	switch s {
	case "read":
		return ScopeRead, nil
	case "admin":
		return ScopeAdmin, nil
	}
	return 0, fmt.Errorf("auth: scope %q: want read or admin: %w", s, ErrSyntax)
}

// String returns "read" or "admin".
func (s Scope) String() string {
	switch s {
	case ScopeRead:
		return "read"
	case ScopeAdmin:
		return "admin"
	}
	return fmt.Sprintf("Scope(%d)", uint8(s))
}

// Allows reports whether a token of scope s may call a method that needs
// need.
func (s Scope) Allows(need Scope) bool {
	return s.valid() && need.valid() && s >= need
}

func (s Scope) valid() bool { return s == ScopeRead || s == ScopeAdmin }

// Identity is who a request came as: the name and scope of its token, never
// the token itself, so it is safe to log.
type Identity struct {
	Name  string
	Scope Scope
}
