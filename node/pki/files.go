package pki

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// The CA's file names, after consul's consul-agent-ca.pem.
const (
	CAFile    = "gamesa-agent-ca.pem"
	CAKeyFile = "gamesa-agent-ca-key.pem"
)

// File modes: keys are for their owner only; certificates are public.
const (
	KeyMode  os.FileMode = 0o600
	CertMode os.FileMode = 0o644
)

// CertFileNames returns the base names of a leaf's certificate and key:
// "<domain>-<kind>-gamesa-<index>.pem" and "...-key.pem", e.g.
// gamesa-server-gamesa-0.pem.
func CertFileNames(domain string, kind Kind, index int) (cert, key string) {
	base := certPrefix(domain, kind) + strconv.Itoa(index)
	return base + ".pem", base + "-key.pem"
}

func certPrefix(domain string, kind Kind) string {
	return domain + "-" + kind.String() + "-gamesa-"
}

// NextIndex returns the index for the next certificate of kind in dir: one
// past the highest index of an existing certificate or key file of that
// domain and kind, or 0 when there is none. Indexes are not reused after a
// file is removed, so a number always names one certificate.
func NextIndex(dir, domain string, kind Kind) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("pki: listing %s: %w", dir, err)
	}
	prefix := certPrefix(domain, kind)
	next := 0
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		num, ok := strings.CutSuffix(rest, "-key.pem")
		if !ok {
			if num, ok = strings.CutSuffix(rest, ".pem"); !ok {
				continue
			}
		}
		if n, err := strconv.Atoi(num); err == nil && n >= 0 && n >= next {
			next = n + 1
		}
	}
	return next, nil
}

// WritePair writes a certificate (mode 0644) and its key (mode 0600, created
// first) to new files. It never overwrites: when either path exists it
// writes neither and returns an error wrapping fs.ErrExist. When writing
// fails halfway it removes what it created.
func WritePair(certPath, keyPath string, certPEM, keyPEM []byte) error {
	for _, p := range []string{keyPath, certPath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("pki: %s already exists; not overwriting it: %w", p, os.ErrExist)
		}
	}
	if err := writeNew(keyPath, keyPEM, KeyMode); err != nil {
		return err
	}
	if err := writeNew(certPath, certPEM, CertMode); err != nil {
		// Best effort: a key without its certificate is useless, and we made it.
		_ = os.Remove(keyPath)
		return err
	}
	return syncDir(filepath.Dir(certPath))
}

// writeNew creates path (O_EXCL, so a file that appeared since the check is
// not overwritten either) with exactly perm whatever the umask, and syncs it.
func writeNew(path string, data []byte, perm os.FileMode) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("pki: creating %s: %w", path, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("pki: closing %s: %w", path, cerr)
		}
		if err != nil {
			_ = os.Remove(path) // best effort: do not leave half a file
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("pki: setting the mode of %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("pki: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("pki: syncing %s: %w", path, err)
	}
	return nil
}

// syncDir makes the new names durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("pki: opening %s to sync it: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	// Some file systems cannot sync a directory; the files themselves are
	// synced, which is what matters most.
	if err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("pki: syncing %s: %w", dir, err)
	}
	return nil
}
