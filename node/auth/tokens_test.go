package auth

import (
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Fixed tokens for tests, each a valid b64token of 43 characters.
const (
	adminTok = "adminadminadminadminadminadminadminadmin123"
	readTok  = "readreadreadreadreadreadreadreadreadread123"
	otherTok = "otherotherotherotherotherotherotherother123"
)

func TestParseTokens(t *testing.T) {
	file := "# tokens for the lab\n" +
		"\n" +
		"admin " + adminTok + " alice # the operator\r\n" +
		"   read\t" + readTok + "\n" +
		"read " + otherTok + "== dash.board@lab\n"
	toks, err := ParseTokens([]byte(file))
	if err != nil {
		t.Fatalf("ParseTokens: %v", err)
	}
	if toks.Len() != 3 {
		t.Errorf("Len() = %d; want 3", toks.Len())
	}
	for _, tc := range []struct {
		token string
		want  Identity
		ok    bool
	}{
		{adminTok, Identity{"alice", ScopeAdmin}, true},
		{readTok, Identity{"line-4", ScopeRead}, true},
		{otherTok + "==", Identity{"dash.board@lab", ScopeRead}, true},
		{otherTok, Identity{}, false},
		{adminTok[:42], Identity{}, false},
		{"", Identity{}, false},
	} {
		got, ok := toks.Lookup(tc.token)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Lookup(%q) = %+v, %v; want %+v, %v", tc.token, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseTokensErrors(t *testing.T) {
	short := "shortshortshortshortshortshort1" // 31 characters
	for _, tc := range []struct {
		name, file string
		want       error
		mentions   string
	}{
		{"empty", "", ErrNoTokens, "no tokens"},
		{"comments only", "# nothing\n\n   # here\n", ErrNoTokens, "no tokens"},
		{"short token", "read " + short, ErrSyntax, "31 characters"},
		{"unknown scope", "write " + adminTok, ErrSyntax, "line 1: the first field"},
		{"fields swapped", adminTok + " admin alice", ErrSyntax, "first field must be read or admin"},
		{"scope case", "Admin " + adminTok, ErrSyntax, "read or admin"},
		{"token only", "\n" + adminTok, ErrSyntax, "line 2"},
		{"four fields", "admin " + adminTok + " alice extra", ErrSyntax, "4 fields"},
		{"bad character", "admin " + strings.Repeat("a", 40) + "!", ErrSyntax, "only letters"},
		{"padding inside", "admin " + strings.Repeat("a", 20) + "=" + strings.Repeat("a", 20), ErrSyntax, "only letters"},
		{"too long", "admin " + strings.Repeat("a", MaxTokenLength+1), ErrSyntax, "1025 characters"},
		{"bad name", "admin " + adminTok + " al/ice", ErrSyntax, "the name"},
		{"same token twice", "admin " + adminTok + " a\nread " + adminTok + " b", ErrSyntax, "line 2: the same token as line 1"},
		{"same name twice", "admin " + adminTok + " a\nread " + readTok + " a", ErrSyntax, "line 2: the same name as line 1"},
	} {
		_, err := ParseTokens([]byte(tc.file))
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.mentions) {
			t.Errorf("ParseTokens(%s) = %v; want %v mentioning %q", tc.name, err, tc.want, tc.mentions)
			continue
		}
		for _, secret := range []string{adminTok, readTok, short, "aaaaaaaaaaaaaaaaaaaa"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("ParseTokens(%s) error %q quotes a token", tc.name, err)
			}
		}
	}
}

func writeFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode passes through the umask; Chmod does not.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadTokensPermissions(t *testing.T) {
	content := "admin " + adminTok + " alice\n"
	for _, tc := range []struct {
		mode os.FileMode
		want error
	}{
		{0o600, nil},
		{0o400, nil},
		{0o640, ErrInsecureFile},
		{0o604, ErrInsecureFile},
		{0o644, ErrInsecureFile},
		{0o660, ErrInsecureFile},
		{0o601, ErrInsecureFile},
	} {
		path := writeFile(t, content, tc.mode)
		toks, err := LoadTokens(path)
		if !errors.Is(err, tc.want) {
			t.Errorf("LoadTokens(mode %04o) = %v; want %v", tc.mode, err, tc.want)
			continue
		}
		if tc.want == nil {
			if id, ok := toks.Lookup(adminTok); !ok || id.Name != "alice" {
				t.Errorf("LoadTokens(mode %04o).Lookup = %+v, %v; want alice", tc.mode, id, ok)
			}
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "chmod 600 "+path) || !strings.Contains(msg, path) {
			t.Errorf("LoadTokens(mode %04o) error %q should name the file and the fix", tc.mode, msg)
		}
	}
	if _, err := LoadTokens(t.TempDir()); !errors.Is(err, ErrInsecureFile) {
		t.Errorf("LoadTokens(a directory) = %v; want ErrInsecureFile", err)
	}
	if _, err := LoadTokens(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadTokens(missing) = %v; want fs.ErrNotExist", err)
	}
	if _, err := LoadTokens(writeFile(t, "read "+readTok+" x\nbogus line\n", 0o600)); !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("LoadTokens(bad line 2) = %v; want ErrSyntax naming line 2", err)
	}
}

func TestGenerateToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, err := GenerateToken()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) != 32 {
			t.Fatalf("GenerateToken() = %q: %d bytes, %v; want 32 bytes of base64url", tok, len(raw), err)
		}
		if err := checkToken(tok); err != nil {
			t.Fatalf("GenerateToken() = %q is not a valid token: %v", tok, err)
		}
		if seen[tok] {
			t.Fatalf("GenerateToken() repeated %q", tok)
		}
		seen[tok] = true
	}
}

func TestReadTokenFile(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		mode          os.FileMode
		want          string
		wantErr       error
	}{
		{"bare", adminTok + "\n", 0o600, adminTok, nil},
		{"with comment", "# mine\n\n" + readTok + "  # read only\n", 0o600, readTok, nil},
		{"tokens line", "admin " + adminTok + " alice\n", 0o600, adminTok, nil},
		{"two tokens", adminTok + "\n" + readTok + "\n", 0o600, "", ErrSyntax},
		{"none", "# empty\n", 0o600, "", ErrSyntax},
		{"short", "abc\n", 0o600, "", ErrSyntax},
		{"readable", adminTok + "\n", 0o644, "", ErrInsecureFile},
	} {
		got, err := ReadTokenFile(writeFile(t, tc.content, tc.mode))
		if got != tc.want || !errors.Is(err, tc.wantErr) {
			t.Errorf("ReadTokenFile(%s) = %q, %v; want %q, %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestScope(t *testing.T) {
	for _, tc := range []struct {
		have, need Scope
		want       bool
	}{
		{ScopeRead, ScopeRead, true},
		{ScopeAdmin, ScopeRead, true},
		{ScopeAdmin, ScopeAdmin, true},
		{ScopeRead, ScopeAdmin, false},
		{0, ScopeRead, false},
		{ScopeAdmin, 0, false},
		{Scope(9), ScopeRead, false},
	} {
		if got := tc.have.Allows(tc.need); got != tc.want {
			t.Errorf("%v.Allows(%v) = %v; want %v", tc.have, tc.need, got, tc.want)
		}
	}
	for _, s := range []string{"read", "admin"} {
		if sc, err := ParseScope(s); err != nil || sc.String() != s {
			t.Errorf("ParseScope(%q) = %v, %v; want %s", s, sc, err, s)
		}
	}
	if _, err := ParseScope("root"); !errors.Is(err, ErrSyntax) {
		t.Errorf("ParseScope(root) = %v; want ErrSyntax", err)
	}
}
