package procfs

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

// PidWatch tells whether a process can have appeared under a /proc since
// the previous look, for readers that would otherwise list the whole
// directory to find out. Listing /proc makes the kernel walk every task
// and build a directory entry for each: on an idle VM one pass cost 2-5 ms
// of CPU. A process can only appear by taking a new pid, and the last pid
// the namespace handed out is the fifth field of <Proc>/loadavg; while it
// stays put, no process or thread was created.
//
// The watch trusts loadavg only when <Proc> is this process's own pid
// namespace (<Proc>/self names this process): the last pid is the
// reader's, so a host's /proc mounted in a container would hide the host's
// new processes. Elsewhere, and whenever loadavg cannot be read, Moved
// always says yes. A PidWatch is not safe for concurrent use.
type PidWatch struct {
	proc, path string
	r          reader
	sameNS     int8 // 0 unknown, 1 yes, -1 no
	last       uint64
	has        bool
}

// NewPidWatch watches the pid namespace of the procfs at proc.
func NewPidWatch(proc string) *PidWatch {
	return &PidWatch{proc: proc, path: filepath.Join(proc, "loadavg")}
}

// Moved reports whether a pid may have been handed out since the previous
// call: true on the first call and whenever it cannot tell.
func (w *PidWatch) Moved() bool {
	if w.sameNS == 0 {
		w.sameNS = -1
		if self, err := os.Readlink(filepath.Join(w.proc, "self")); err == nil && self == strconv.Itoa(os.Getpid()) {
			w.sameNS = 1
		}
	}
	if w.sameNS < 0 {
		return true
	}
	last, ok := uint64(0), false
	if b, err := w.r.read(w.path); err == nil {
		last, ok = parseLastPid(b)
	}
	moved := !ok || !w.has || last != w.last
	w.last, w.has = last, ok
	return moved
}

// parseLastPid parses the last field of /proc/loadavg
// ("0.20 0.18 0.12 1/80 11206"): the most recently allocated pid.
func parseLastPid(b []byte) (uint64, bool) {
	b = bytes.TrimRight(b, "\n")
	if bytes.Count(b, []byte{' '}) != 4 {
		return 0, false
	}
	return parseUint(b[bytes.LastIndexByte(b, ' ')+1:])
}
