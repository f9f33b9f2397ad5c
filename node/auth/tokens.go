package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"
)

// Token limits.
const (
	// MinTokenLength is the shortest token accepted: 32 characters of
	// base64 carry 192 bits, beyond guessing.
	MinTokenLength = 32
	// MaxTokenLength bounds a token, and so the header a client sends.
	MaxTokenLength = 1024
	// maxNameLength bounds a token's name, which appears in logs.
	maxNameLength = 64
	// maxFileBytes bounds a tokens file: thousands of tokens fit.
	maxFileBytes = 1 << 20
)

// Tokens is a set of accepted tokens. It holds their SHA-256 digests, not
// the tokens. It is immutable once parsed and safe for concurrent use.
type Tokens struct {
	byDigest map[[sha256.Size]byte]Identity
}

// Len returns the number of tokens.
func (t *Tokens) Len() int { return len(t.byDigest) }

// Lookup returns the identity of a presented token. The token is hashed
// before the look-up, so the time taken depends on its digest, not on how
// much of a real token it matches: it leaks nothing a guesser can use.
func (t *Tokens) Lookup(token string) (Identity, bool) {
	id, ok := t.byDigest[sha256.Sum256([]byte(token))]
	return id, ok
}

// GenerateToken returns a new random token: 256 bits, base64url without
// padding (43 characters).
func GenerateToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("auth: generating a token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// LoadTokens reads a tokens file (the format is in the package
// documentation). The file must be a regular file that neither group nor
// others may access (mode 0600 or stricter), like an ssh key.
func LoadTokens(path string) (*Tokens, error) {
	data, err := readPrivate(path, "tokens file")
	if err != nil {
		return nil, err
	}
	t, err := ParseTokens(data)
	if err != nil {
		return nil, fmt.Errorf("auth: tokens file %s: %w", path, err)
	}
	return t, nil
}

// ParseTokens parses the contents of a tokens file. Errors name the line and
// never quote it, since a mistyped line may hold a token.
func ParseTokens(data []byte) (*Tokens, error) {
	t := &Tokens{byDigest: map[[sha256.Size]byte]Identity{}}
	tokenLine := map[[sha256.Size]byte]int{}
	nameLine := map[string]int{}
	for n, line := range strings.Split(string(data), "\n") {
		n++
		fields := significant(line)
		if len(fields) == 0 {
			continue
		}
		scope, token, name, err := parseLine(fields, n)
		if err != nil {
			return nil, err
		}
		d := sha256.Sum256([]byte(token))
		if prev, ok := tokenLine[d]; ok {
			return nil, fmt.Errorf("line %d: the same token as line %d: %w", n, prev, ErrSyntax)
		}
		if prev, ok := nameLine[name]; ok {
			return nil, fmt.Errorf("line %d: the same name as line %d (names tell tokens apart in the logs): %w", n, prev, ErrSyntax)
		}
		tokenLine[d], nameLine[name] = n, n
		t.byDigest[d] = Identity{Name: name, Scope: scope}
	}
	if t.Len() == 0 {
		return nil, fmt.Errorf("%w (a file of comments only?)", ErrNoTokens)
	}
	return t, nil
}

// significant splits a line into fields, dropping a comment: a field that
// starts with '#' and everything after it. Tokens cannot contain '#'.
func significant(line string) []string {
	fields := strings.Fields(line)
	for i, f := range fields {
		if strings.HasPrefix(f, "#") {
			return fields[:i]
		}
	}
	return fields
}

// parseLine reads "<scope> <token> [name]".
func parseLine(fields []string, n int) (scope Scope, token, name string, err error) {
	if len(fields) > 3 {
		return 0, "", "", fmt.Errorf("line %d: %d fields; want <scope> <token> [name]: %w", n, len(fields), ErrSyntax)
	}
	if len(fields) < 2 {
		return 0, "", "", fmt.Errorf("line %d: want <scope> <token> [name]: %w", n, ErrSyntax)
	}
	switch fields[0] {
	case "read":
		scope = ScopeRead
	case "admin":
		scope = ScopeAdmin
	default:
		// Not quoted: with the fields swapped, this is the token.
		return 0, "", "", fmt.Errorf("line %d: the first field must be read or admin: %w", n, ErrSyntax)
	}
	token = fields[1]
	if err := checkToken(token); err != nil {
		return 0, "", "", fmt.Errorf("line %d: %w", n, err)
	}
	name = fmt.Sprintf("line-%d", n)
	if len(fields) == 3 {
		name = fields[2]
		if !validName(name) {
			return 0, "", "", fmt.Errorf("line %d: the name must be 1-%d letters, digits, '.', '_', '@' or '-': %w", n, maxNameLength, ErrSyntax)
		}
	}
	return scope, token, name, nil
}

// checkToken accepts RFC 6750's b64token (letters, digits, "-._~+/" and
// trailing '='), which is what can travel in an Authorization header.
func checkToken(token string) error {
	if len(token) < MinTokenLength || len(token) > MaxTokenLength {
		return fmt.Errorf("a token of %d characters; want %d to %d (gamesa acl token create makes one): %w",
			len(token), MinTokenLength, MaxTokenLength, ErrSyntax)
	}
	if !isB64Token(token) {
		return fmt.Errorf("a token may hold only letters, digits, '-', '.', '_', '~', '+', '/' and trailing '=': %w", ErrSyntax)
	}
	return nil
}

func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for _, c := range []byte(body) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			return false
		}
	}
	return true
}

func validName(s string) bool {
	if s == "" || len(s) > maxNameLength {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._@-", c) >= 0) {
			return false
		}
	}
	return true
}

// ReadTokenFile reads the one token a client presents (the CLI's
// --token-file, a node's auth.token_file) from a file as private as a
// tokens file. The file holds the token alone, or one line of a tokens file
// ("admin <token> name"), as `gamesa acl token create` prints it; comments
// and blank lines are ignored.
func ReadTokenFile(path string) (string, error) {
	data, err := readPrivate(path, "token file")
	if err != nil {
		return "", err
	}
	token, found := "", 0
	for n, line := range strings.Split(string(data), "\n") {
		fields := significant(line)
		switch {
		case len(fields) == 0:
			continue
		case len(fields) == 1:
			token = fields[0]
			if err := checkToken(token); err != nil {
				return "", fmt.Errorf("auth: token file %s: line %d: %w", path, n+1, err)
			}
		default:
			if _, token, _, err = parseLine(fields, n+1); err != nil {
				return "", fmt.Errorf("auth: token file %s: %w", path, err)
			}
		}
		found++
	}
	if found != 1 {
		return "", fmt.Errorf("auth: token file %s holds %d tokens; want exactly one: %w", path, found, ErrSyntax)
	}
	return token, nil
}

// readPrivate reads a file that must be private to its owner. The mode is
// checked on the opened file, so a file swapped in between is not read.
func readPrivate(path, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: reading the %s: %w", what, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("auth: reading the %s: %w", what, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("auth: %s %s is not a regular file: %w", what, path, ErrInsecureFile)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("auth: %s %s has mode %04o, so group or others may read the tokens; run chmod 600 %s: %w",
			what, path, perm, path, ErrInsecureFile)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("auth: reading the %s %s: %w", what, path, err)
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("auth: %s %s is larger than %d bytes: %w", what, path, maxFileBytes, ErrSyntax)
	}
	return data, nil
}
