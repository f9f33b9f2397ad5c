package procfs

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"strconv"
	"syscall"
)

// Plain syscalls instead of os.Open: os.File costs several allocations and an
// epoll registration attempt per open, and the process collector opens a few
// hundred /proc files per sample.

// read returns the whole file at path. The returned slice aliases r's buffer
// and is valid until the next read.
func (r *reader) read(path string) ([]byte, error) {
	fd, err := openRetry(path, syscall.O_RDONLY|syscall.O_CLOEXEC)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd) //nolint:errcheck // read-only fd: close cannot lose data.
	if len(r.buf) == 0 {
		r.buf = make([]byte, minBuf)
	}
	n := 0
	for {
		if n == len(r.buf) {
			if len(r.buf) >= maxFileSize {
				return nil, fmt.Errorf("read %s: larger than %d bytes", path, maxFileSize)
			}
			grown := make([]byte, 2*len(r.buf))
			copy(grown, r.buf[:n])
			r.buf = grown
		}
		m, err := syscall.Read(fd, r.buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if m <= 0 {
			return r.buf[:n], nil
		}
		n += m
	}
}

// readPrefix reads at most len(buf) bytes from the start of path with a
// single read: enough for a truncated /proc/<pid>/cmdline, whose full length
// is bounded only by ARG_MAX.
func readPrefix(path string, buf []byte) ([]byte, error) {
	fd, err := openRetry(path, syscall.O_RDONLY|syscall.O_CLOEXEC)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd) //nolint:errcheck // read-only fd: close cannot lose data.
	for {
		n, err := syscall.Read(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		return buf[:max(n, 0)], nil
	}
}

func openRetry(path string, flags int) (int, error) {
	for {
		fd, err := syscall.Open(path, flags, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

// readNumericNames appends to pids the names of the entries of dir that are
// positive decimal numbers, reading raw directory records into buf so that
// listing /proc allocates nothing per entry.
func readNumericNames(dir string, buf []byte, pids []int32) ([]int32, error) {
	fd, err := openRetry(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC)
	if err != nil {
		return pids, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer syscall.Close(fd) //nolint:errcheck // read-only fd: close cannot lose data.
	for {
		n, err := syscall.Getdents(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return pids, &fs.PathError{Op: "readdirent", Path: dir, Err: err}
		}
		if n <= 0 {
			return pids, nil
		}
		pids = appendDirents(buf[:n], pids)
	}
}

// linux_dirent64: d_ino u64, d_off s64, d_reclen u16, d_type u8, d_name.
const (
	direntReclen = 16
	direntName   = 19
)

func appendDirents(b []byte, pids []int32) []int32 {
	for len(b) >= direntName {
		reclen := int(binary.NativeEndian.Uint16(b[direntReclen:]))
		if reclen < direntName || reclen > len(b) {
			return pids
		}
		name := b[direntName:reclen]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		if pid, ok := parsePid(name); ok {
			pids = append(pids, pid)
		}
		b = b[reclen:]
	}
	return pids
}

// statFiles reads /proc/<pid>/stat and keeps each file open between calls:
// re-reading an open /proc file with pread costs the kernel about 2 µs where
// open, read and close cost 3.5 µs, and reopening builds a path string. A
// file stays open while its process is listed. The file of a process that
// exited reads ESRCH, also when its pid has been reused, and is reopened.
type statFiles struct {
	proc  string
	buf   []byte
	path  []byte
	open  int // files held open
	limit int // most files held open at once
}

// maxHeld bounds the stat files held open, whatever the fd limit allows.
const maxHeld = 4096

func newStatFiles(proc string) statFiles {
	limit := maxHeld
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
		// A quarter of the descriptors at most: the agent has sockets and
		// files of its own.
		limit = int(min(uint64(maxHeld), rl.Cur/4))
	}
	return statFiles{proc: proc, buf: make([]byte, minBuf), limit: limit}
}

// read returns the stat line of pid. *fd is the file held for it, noFD if
// none, and is updated. The slice is valid until the next read.
func (sf *statFiles) read(pid int32, fd *int32) ([]byte, error) {
	if *fd != noFD {
		n, err := preadRetry(int(*fd), sf.buf)
		if err == nil && n > 0 && n < len(sf.buf) {
			return sf.buf[:n], nil
		}
		// Exited (ESRCH or empty), or longer than the buffer: start over.
		sf.close(fd)
	}
	path := sf.pathOf(pid)
	f, err := openRetry(path, syscall.O_RDONLY|syscall.O_CLOEXEC)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	n := 0
	for {
		if n == len(sf.buf) {
			if len(sf.buf) >= maxFileSize {
				syscall.Close(f) //nolint:errcheck // read-only fd
				return nil, fmt.Errorf("read %s: larger than %d bytes", path, maxFileSize)
			}
			sf.buf = append(sf.buf, make([]byte, len(sf.buf))...)
		}
		m, err := syscall.Read(f, sf.buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			syscall.Close(f) //nolint:errcheck // read-only fd
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if m <= 0 {
			break
		}
		n += m
	}
	if sf.open < sf.limit {
		*fd = int32(f)
		sf.open++
	} else {
		syscall.Close(f) //nolint:errcheck // read-only fd
	}
	return sf.buf[:n], nil
}

// close releases the file held in *fd, if any.
func (sf *statFiles) close(fd *int32) {
	if *fd != noFD {
		syscall.Close(int(*fd)) //nolint:errcheck // read-only fd
		*fd = noFD
		sf.open--
	}
}

// pathOf returns <proc>/<pid>/stat for error messages and opening.
func (sf *statFiles) pathOf(pid int32) string {
	b := append(sf.path[:0], sf.proc...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(pid), 10)
	b = append(b, "/stat"...)
	sf.path = b
	return string(b)
}

// closeHeld closes the files of a collector that was dropped without Close.
func closeHeld(prev map[int32]procPrev) {
	for _, pp := range prev {
		if pp.fd != noFD {
			syscall.Close(int(pp.fd)) //nolint:errcheck // read-only fd
		}
	}
}

func preadRetry(fd int, b []byte) (int, error) {
	for {
		n, err := syscall.Pread(fd, b, 0)
		if err != syscall.EINTR {
			return n, err
		}
	}
}
