package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Authorizer checks the bearer token of every gRPC call against a Policy.
// It is safe for concurrent use.
type Authorizer struct {
	tokens atomic.Pointer[Tokens] // nil: auth is off
	policy Policy
	log    *slog.Logger
}

// NewAuthorizer returns an Authorizer that accepts tokens and enforces
// policy, logging denials (and, at debug level, grants) to log by the
// token's name. A nil tokens turns auth off: every call is let through, as
// a --dev node on loopback wants; the caller decides when that is
// acceptable. A nil log discards the lines.
func NewAuthorizer(tokens *Tokens, policy Policy, log *slog.Logger) (*Authorizer, error) {
	if err := policy.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Authorizer{policy: policy, log: log}
	if tokens != nil {
		if tokens.Len() == 0 {
			return nil, fmt.Errorf("auth: NewAuthorizer: %w (pass nil to turn auth off)", ErrNoTokens)
		}
		a.tokens.Store(tokens)
	}
	return a, nil
}

// Enabled reports whether tokens are checked.
func (a *Authorizer) Enabled() bool { return a.tokens.Load() != nil }

// SetTokens replaces the accepted tokens, e.g. after the tokens file was
// edited; calls in flight finish under the old set. It cannot turn auth on
// or off: it fails with ErrDisabled on an Authorizer made without tokens and
// with ErrNoTokens for an empty set.
func (a *Authorizer) SetTokens(t *Tokens) error {
	if !a.Enabled() {
		return fmt.Errorf("auth: SetTokens: %w", ErrDisabled)
	}
	if t == nil || t.Len() == 0 {
		return fmt.Errorf("auth: SetTokens: %w", ErrNoTokens)
	}
	a.tokens.Store(t)
	return nil
}

// Authorize decides one call to fullMethod from the metadata in ctx. It
// returns the caller's identity (zero when auth is off or the method is
// open), or a gRPC status error: Unauthenticated for a missing, malformed or
// unknown token, PermissionDenied for a token whose scope is too weak.
func (a *Authorizer) Authorize(ctx context.Context, fullMethod string) (Identity, error) {
	tokens := a.tokens.Load()
	if tokens == nil || public(fullMethod) {
		return Identity{}, nil
	}
	token, err := bearer(ctx)
	if err != nil {
		a.deny(ctx, fullMethod, "", err.Error())
		return Identity{}, status.Error(codes.Unauthenticated, err.Error())
	}
	id, ok := tokens.Lookup(token)
	if !ok {
		a.deny(ctx, fullMethod, "", "unknown token")
		return Identity{}, status.Error(codes.Unauthenticated, "unknown bearer token")
	}
	need := a.policy.Required(fullMethod)
	if !id.Scope.Allows(need) {
		a.deny(ctx, fullMethod, id.Name, fmt.Sprintf("scope %v, needs %v", id.Scope, need))
		return Identity{}, status.Errorf(codes.PermissionDenied, "token %q has scope %v; %s needs %v", id.Name, id.Scope, fullMethod, need)
	}
	a.log.Debug("auth: allowed", "method", fullMethod, "token", id.Name, "scope", id.Scope.String())
	return id, nil
}

func (a *Authorizer) deny(ctx context.Context, method, name, reason string) {
	attrs := []any{"method", method, "reason", reason}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs = append(attrs, "peer", p.Addr.String())
	}
	if name != "" {
		attrs = append(attrs, "token", name)
	}
	a.log.Warn("auth: denied", attrs...)
}

// UnaryInterceptor checks unary calls; install it with
// grpc.ChainUnaryInterceptor, first, so that nothing runs for a caller
// who may not call.
func (a *Authorizer) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		id, err := a.Authorize(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(withIdentity(ctx, id), req)
	}
}

// StreamInterceptor checks streaming calls, before the first message; install
// it with grpc.ChainStreamInterceptor, first.
func (a *Authorizer) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		id, err := a.Authorize(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &identityStream{ServerStream: ss, ctx: withIdentity(ss.Context(), id)})
	}
}

type identityStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *identityStream) Context() context.Context { return s.ctx }

type identityKey struct{}

func withIdentity(ctx context.Context, id Identity) context.Context {
	if id == (Identity{}) {
		return ctx
	}
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFromContext returns the identity an interceptor admitted the call
// as; false when auth is off or the method is open to all.
func IdentityFromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// IncomingToken returns the bearer token of the call in ctx, for a node that
// forwards the call to the leader as the caller. It does not say whether the
// token is valid: only Authorize does.
func IncomingToken(ctx context.Context) (string, bool) {
	t, err := bearer(ctx)
	return t, err == nil
}

// bearer extracts the token from the one "authorization: Bearer <token>"
// entry of the incoming metadata. Its errors go back to the client and so
// never quote what it sent.
func bearer(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	switch len(vals) {
	case 0:
		return "", errors.New("missing bearer token: send the metadata \"authorization: Bearer <token>\"")
	case 1:
	default:
		return "", fmt.Errorf("%d authorization entries; want one", len(vals))
	}
	scheme, token, _ := strings.Cut(vals[0], " ")
	token = strings.Trim(token, " ")
	// The scheme is case-insensitive (RFC 6750 via RFC 7235).
	if !strings.EqualFold(scheme, "Bearer") || token == "" || !isB64Token(token) {
		return "", errors.New("malformed authorization: want \"Bearer <token>\"")
	}
	return token, nil
}
