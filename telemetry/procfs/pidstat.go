package procfs

import (
	"bytes"
	"fmt"
)

// maxComm bounds a process name: 16 bytes for ordinary tasks, up to 64 for
// the workqueue threads whose names the kernel extends.
const maxComm = 64

// pidStat is what the process collector takes from /proc/<pid>/stat.
type pidStat struct {
	comm     [maxComm]byte
	commLen  uint8
	state    byte
	ppid     int32
	utime    uint64
	stime    uint64
	nice     int32
	threads  uint32
	start    uint64 // starttime, ticks after boot: tells a reused pid apart
	rssPages uint64
}

// Field numbers of /proc/<pid>/stat as proc(5) counts them (pid is 1, comm 2).
const (
	psState     = 3
	psPPid      = 4
	psUtime     = 14
	psStime     = 15
	psNice      = 19
	psThreads   = 20
	psStarttime = 22
	psRSS       = 24
)

// parsePidStat parses one /proc/<pid>/stat line into st without allocating;
// the caller adds the file's name to an error, so that the path is only
// built when it is needed.
// comm may hold spaces and parentheses ("((sd-pam))", "evil) S 1"), so the
// fields are counted from the line's last ')'.
func parsePidStat(b []byte, st *pidStat) error {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return badValue("comm", b)
	}
	comm := b[open+1 : end]
	st.commLen = uint8(copy(st.comm[:], comm))
	rest := b[end+1:]
	for n := psState; n <= psRSS; n++ {
		var f []byte
		f, rest = nextField(rest)
		switch n {
		case psState:
			// One letter (R, S, D, Z, I, ...); anything else is not a
			// stat line, and would not be valid UTF-8 in the sample.
			if len(f) != 1 || !(f[0] >= 'A' && f[0] <= 'Z' || f[0] >= 'a' && f[0] <= 'z') {
				return badValue("state", f)
			}
			st.state = f[0]
		case psPPid:
			v, ok := parseInt(f)
			if !ok || v < 0 || v > 1<<31-1 {
				return badValue("ppid", f)
			}
			st.ppid = int32(v)
		case psUtime, psStime, psStarttime, psRSS:
			v, ok := parseUint(f)
			if !ok {
				return badValue(pidStatName(n), f)
			}
			switch n {
			case psUtime:
				st.utime = v
			case psStime:
				st.stime = v
			case psStarttime:
				st.start = v
			default:
				st.rssPages = v
			}
		case psNice:
			v, ok := parseInt(f)
			if !ok || v < -20 || v > 19 {
				return badValue("nice", f)
			}
			st.nice = int32(v)
		case psThreads:
			v, ok := parseUint(f)
			if !ok || v > 1<<32-1 {
				return badValue("num_threads", f)
			}
			st.threads = uint32(v)
		default:
			if len(f) == 0 {
				return badValue(fmt.Sprintf("#%d", n), []byte("<missing>"))
			}
		}
	}
	return nil
}

func pidStatName(n int) string {
	switch n {
	case psUtime:
		return "utime"
	case psStime:
		return "stime"
	case psStarttime:
		return "starttime"
	default:
		return "rss"
	}
}

// parseStatusUID returns the effective uid from the "Uid:" line of
// /proc/<pid>/status (real, effective, saved, filesystem), the uid ps and
// top show.
func parseStatusUID(src string, b []byte) (uint32, error) {
	for len(b) > 0 {
		var line []byte
		line, b = cutLine(b)
		rest, ok := bytes.CutPrefix(line, []byte("Uid:"))
		if !ok {
			continue
		}
		_, rest = nextField(rest)
		f, _ := nextField(rest)
		v, ok := parseUint(f)
		if !ok || v > 1<<32-1 {
			return 0, badField(src, "Uid", line)
		}
		return uint32(v), nil
	}
	return 0, badField(src, "Uid", []byte("<missing>"))
}
