package auth

import (
	"strings"
	"testing"
)

// FuzzParseTokens: a tokens file is written by hand; parsing it must never
// panic, an accepted file must hold tokens that look themselves up, and an
// error must never quote a token-length word of the file.
func FuzzParseTokens(f *testing.F) {
	f.Add([]byte("admin " + adminTok + " alice\nread " + readTok + "\n"))
	f.Add([]byte("# c\n\nread " + readTok + " x # y\r\n"))
	f.Add([]byte(adminTok + " admin alice"))
	f.Add([]byte("admin " + adminTok + " a\nread " + adminTok + " b"))
	f.Add([]byte("read " + strings.Repeat("=", 40)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		toks, err := ParseTokens(data)
		if err != nil {
			for _, w := range strings.Fields(string(data)) {
				if len(w) >= MinTokenLength && strings.Contains(err.Error(), w) {
					t.Fatalf("ParseTokens error %q quotes %q", err, w)
				}
			}
			return
		}
		if toks.Len() == 0 {
			t.Fatal("ParseTokens accepted a file with no tokens")
		}
		found := 0
		for _, line := range strings.Split(string(data), "\n") {
			if fields := significant(line); len(fields) >= 2 {
				id, ok := toks.Lookup(fields[1])
				if !ok || !id.Scope.valid() || id.Name == "" {
					t.Fatalf("token of line %q: Lookup = %+v, %v", line, id, ok)
				}
				found++
			}
		}
		if found != toks.Len() {
			t.Fatalf("%d token lines, Len() = %d", found, toks.Len())
		}
	})
}
