package procfs

import (
	"bytes"
	"os"
	"strconv"
	"time"
)

// users maps uids to names from <Etc>/passwd. The file is parsed once and
// again only when its modification time or size changes, so a user added
// while the agent runs gets a name at the next sample.
type users struct {
	path  string
	r     reader
	names map[uint32]string
	mtime time.Time
	size  int64
	known bool // names reflects the file at mtime/size
}

// refresh re-reads the file if it changed. A missing or unreadable passwd
// (a minimal container) leaves every uid nameless, which is not an error:
// names then print as numbers.
func (u *users) refresh() {
	fi, err := os.Stat(u.path)
	if err != nil {
		u.names, u.known = nil, false
		return
	}
	if u.known && fi.ModTime().Equal(u.mtime) && fi.Size() == u.size {
		return
	}
	b, err := u.r.read(u.path)
	if err != nil {
		u.names, u.known = nil, false
		return
	}
	u.names, u.mtime, u.size, u.known = parsePasswd(b), fi.ModTime(), fi.Size(), true
}

// name returns the user name of uid, or uid as a decimal string when
// passwd does not name it.
func (u *users) name(uid uint32) string {
	if n, ok := u.names[uid]; ok {
		return n
	}
	return strconv.FormatUint(uint64(uid), 10)
}

// parsePasswd parses passwd(5) lines "name:password:uid:gid:gecos:dir:shell".
// Like getpwuid, the first line naming a uid wins. Comments, NIS "+"/"-"
// lines and lines without a numeric uid are skipped: a bad line costs that
// user's name, nothing more.
func parsePasswd(b []byte) map[uint32]string {
	names := make(map[uint32]string)
	for len(b) > 0 {
		var line []byte
		line, b = cutLine(b)
		if len(line) == 0 || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		name, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 {
			continue
		}
		_, rest, ok = bytes.Cut(rest, []byte(":"))
		if !ok {
			continue
		}
		uidText, _, _ := bytes.Cut(rest, []byte(":"))
		uid, ok := parseUint(uidText)
		if !ok || uid > 1<<32-1 {
			continue
		}
		if _, dup := names[uint32(uid)]; !dup {
			names[uint32(uid)] = text(name)
		}
	}
	return names
}
