// Package auth guards a gRPC API with bearer tokens of two scopes: read,
// which may look, and admin, which may also change things (admin implies
// read).
//
// The caller's contract:
//
//  1. An operator makes tokens with GenerateToken (`gamesa acl token
//     create`) and lists them in a tokens file (format below) of mode 0600:
//     LoadTokens refuses a file that group or others may access, as ssh
//     refuses such a key.
//  2. The server builds an Authorizer from the tokens and a Policy saying
//     which scope each method needs, and installs its UnaryInterceptor and
//     StreamInterceptor first in the chains. A method the policy does not
//     list needs admin (see Policy for why); Policy.Unlisted, given
//     grpc.Server.GetServiceInfo, lists the methods that fall to that
//     default, so a test can insist each is classified. The health
//     service's Check and Watch need no token.
//  3. Each call must carry "authorization: Bearer <token>". No token, a
//     malformed one or an unknown one: codes.Unauthenticated. A read token
//     on an admin method: codes.PermissionDenied. Handlers may read the
//     caller's name with IdentityFromContext.
//  4. With no tokens (a nil *Tokens) the Authorizer lets every call through:
//     that is for a --dev node on loopback, and the caller decides when it
//     is acceptable. SetTokens swaps in a re-read file but cannot turn auth
//     on or off.
//  5. Clients attach a token with Bearer, which gRPC sends only over TLS, or,
//     for a --dev node without TLS, LoopbackBearer, which refuses any
//     target beyond this machine. ReadTokenFile reads a client's token from
//     a file as private as the tokens file.
//
// # Tokens file
//
// One token per line, "<scope> <token> [name]"; a field starting with '#'
// begins a comment that runs to the end of the line; blank lines are
// ignored:
//
//	# scope token                                        name
//	admin   Yk3v0m7P7a0pXxq7n0GZ7wq0y0P6bqQb4Yq9Gm8cJcE  alice
//	read    3CjK9Qm2v0rH0g8s1q4ZbXn3d2WlVd1o3VZVJr2F6Pk  dashboard # the wall screen
//
// A token is 32 to 1024 characters of letters, digits, "-._~+/" and
// trailing '=' (RFC 6750's b64token), unique in the file. A name is one word
// of letters, digits and "._@-", unique in the file; it defaults to
// "line-<n>". Only names are ever logged; no error of this package quotes a
// token or the line that holds one.
//
// Tokens are compared by their SHA-256 digests: the set holds digests only,
// and the time a look-up takes tells a guesser nothing about how close a
// guess came.
package auth
