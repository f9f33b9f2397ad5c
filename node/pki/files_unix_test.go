//go:build unix

package pki

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestWritePairModes(t *testing.T) {
	// A permissive umask must not loosen the key, nor a strict one hide the
	// certificate.
	for _, umask := range []int{0, 0o077} {
		old := syscall.Umask(umask)
		dir := t.TempDir()
		cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
		err := WritePair(cert, key, []byte("CERT"), []byte("KEY"))
		syscall.Umask(old)
		if err != nil {
			t.Fatalf("WritePair with umask %o: %v", umask, err)
		}
		for path, want := range map[string]os.FileMode{cert: CertMode, key: KeyMode} {
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Mode().Perm(); got != want {
				t.Errorf("WritePair with umask %o: %s has mode %o; want %o", umask, filepath.Base(path), got, want)
			}
		}
	}
}
