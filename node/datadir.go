package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrDataDirInUse reports a data directory that another agent holds.
var ErrDataDirInUse = errors.New("data directory in use by another agent")

// lockDataDir takes an exclusive lock on <dir>/LOCK so that two agents never
// share a data directory (their recorders, models and, later, Raft state
// would overwrite each other). The lock is the kernel's flock: it ends when
// the returned file is closed or the process dies, so a crash never leaves
// a stale lock behind. The file holds the owner's pid, for the message.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			owner := "unknown pid"
			if b, rerr := os.ReadFile(path); rerr == nil && len(strings.TrimSpace(string(b))) > 0 {
				owner = "pid " + strings.TrimSpace(string(b))
			}
			return nil, fmt.Errorf("data_dir %s: %w (%s)", dir, ErrDataDirInUse, owner)
		}
		return nil, fmt.Errorf("data_dir: locking %s: %w", path, err)
	}
	// Best effort: the pid only improves the message above.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}
