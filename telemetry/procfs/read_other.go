//go:build !linux

package procfs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// The portable fallbacks keep the package building everywhere; on a machine
// without /proc the collectors report telemetry.ErrNotAvailable.

func (r *reader) read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("read %s: larger than %d bytes", path, maxFileSize)
	}
	r.buf = b
	return b, nil
}

func readPrefix(path string, buf []byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := io.ReadAtLeast(f, buf, 1)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	return buf[:n], err
}

func readNumericNames(dir string, _ []byte, pids []int32) ([]int32, error) {
	names, err := os.ReadDir(dir)
	if err != nil {
		return pids, err
	}
	for _, e := range names {
		if pid, ok := parsePid([]byte(e.Name())); ok {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// statFiles reads /proc/<pid>/stat; elsewhere than Linux it holds nothing open.
type statFiles struct {
	proc string
	r    reader
}

func newStatFiles(proc string) statFiles { return statFiles{proc: proc} }

func (sf *statFiles) read(pid int32, _ *int32) ([]byte, error) {
	return sf.r.read(sf.pathOf(pid))
}

func (sf *statFiles) close(fd *int32) { *fd = noFD }

func (sf *statFiles) pathOf(pid int32) string {
	return filepath.Join(sf.proc, strconv.Itoa(int(pid)), "stat")
}

func closeHeld(map[int32]procPrev) {}
