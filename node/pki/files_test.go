package pki

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWritePairNeverOverwrites(t *testing.T) {
	for _, existing := range []string{"cert", "key"} {
		dir := t.TempDir()
		cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
		path := map[string]string{"cert": cert, "key": key}[existing]
		if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := WritePair(cert, key, []byte("CERT"), []byte("KEY"))
		if !errors.Is(err, fs.ErrExist) {
			t.Errorf("WritePair over an existing %s = %v; want fs.ErrExist", existing, err)
		}
		if b, _ := os.ReadFile(path); string(b) != "precious" {
			t.Errorf("WritePair changed the existing %s to %q", existing, b)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Errorf("WritePair over an existing %s left %d files; want only the existing one", existing, len(entries))
		}
	}
}

func TestNextIndex(t *testing.T) {
	for _, tc := range []struct {
		files []string
		kind  Kind
		want  int
	}{
		{nil, Server, 0},
		{[]string{"gamesa-server-gamesa-0.pem", "gamesa-server-gamesa-0-key.pem"}, Server, 1},
		{[]string{"gamesa-server-gamesa-0.pem", "gamesa-server-gamesa-0-key.pem"}, Client, 0},
		// A gap is not filled: a removed number stays retired.
		{[]string{"gamesa-server-gamesa-4-key.pem", "gamesa-server-gamesa-1.pem"}, Server, 5},
		{[]string{"gamesa-client-gamesa-x.pem", "other-client-gamesa-9.pem", "gamesa-client-gamesa-2.pem.bak"}, Client, 0},
		{[]string{"gamesa-cli-gamesa-11.pem"}, CLI, 12},
	} {
		dir := t.TempDir()
		for _, f := range tc.files {
			if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		got, err := NextIndex(dir, "gamesa", tc.kind)
		if err != nil || got != tc.want {
			t.Errorf("NextIndex(%q, %v) = %d, %v; want %d", tc.files, tc.kind, got, err, tc.want)
		}
	}
	if _, err := NextIndex(filepath.Join(t.TempDir(), "missing"), "gamesa", Server); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("NextIndex(missing dir) = %v; want fs.ErrNotExist", err)
	}
}

func TestCertFileNames(t *testing.T) {
	c, k := CertFileNames("dc1", Server, 3)
	if c != "dc1-server-gamesa-3.pem" || k != "dc1-server-gamesa-3-key.pem" {
		t.Errorf("CertFileNames(dc1, server, 3) = %q, %q; want dc1-server-gamesa-3.pem, dc1-server-gamesa-3-key.pem", c, k)
	}
}
