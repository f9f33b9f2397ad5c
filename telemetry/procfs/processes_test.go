package procfs

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

// newTestProcesses fixes the page size so that rss reads the same on a
// machine with 16 KiB or 64 KiB pages, and closes the collector when the
// test ends.
func newTestProcesses(t *testing.T, roots telemetry.Roots, topN int) *Processes {
	t.Helper()
	p := NewProcesses(roots, topN)
	p.pageSize = 4096
	t.Cleanup(func() { p.Close() }) //nolint:errcheck // cannot fail
	return p
}

type procWant struct {
	pid int32
	cpu float64
}

func checkTop(t *testing.T, top []*gamesav1.Process, want []procWant) {
	t.Helper()
	if len(top) != len(want) {
		t.Fatalf("top has %d processes: %v; want %d", len(top), top, len(want))
	}
	for i, w := range want {
		if top[i].GetPid() != w.pid || !near(top[i].GetCpuPercent(), w.cpu) {
			t.Errorf("top[%d] = pid %d at %v%%; want pid %d at %v%%", i, top[i].GetPid(), top[i].GetCpuPercent(), w.pid, w.cpu)
		}
	}
}

func TestProcessesFixture(t *testing.T) {
	dir, roots := fixture(t)
	s := twoTicks(t, dir, newTestProcesses(t, roots, 5))
	checkGolden(t, "processes", s)

	// Over 2 s (200 ticks = one full core): factorio used 340 ticks,
	// firefox and its content process 150 each (the tie goes to the lower
	// pid), cc1 started and used 90, and pid 3000 was reused by make,
	// which used 40 since it started.
	checkTop(t, s.GetProcesses().GetTop(), []procWant{{4242, 170}, {1523, 75}, {1710, 75}, {7000, 45}, {3000, 20}})
	ps := s.GetProcesses()
	if ps.GetTotal() != 11 || ps.GetThreads() != 1+1+1+3+1+87+28+1+24+4+1 {
		t.Errorf("total %d threads %d; want 11 and 152", ps.GetTotal(), ps.GetThreads())
	}
	f := ps.GetTop()[0]
	if f.GetName() != "factorio" || f.GetUser() != "alice" || f.GetUid() != 1000 || f.GetNice() != -5 ||
		f.GetState() != "R" || f.GetThreads() != 24 || f.GetPpid() != 2400 || f.GetRssBytes() != 819200*4096 ||
		f.GetCmdline() != "/home/alice/.steam/steamapps/common/Factorio/bin/x64/factorio --fullscreen" {
		t.Errorf("factorio = %v", f)
	}
	if w := ps.GetTop()[2]; w.GetName() != "Isolated Web Co" || !strings.HasPrefix(w.GetCmdline(), "/usr/lib/firefox/firefox -contentproc -childID 1 ") {
		t.Errorf("content process = %v; want its name with spaces and its arguments joined", w)
	}
	if m := ps.GetTop()[4]; m.GetName() != "make" || m.GetCmdline() != "make -j4" {
		t.Errorf("reused pid 3000 = %v; want the new process, make", m)
	}
}

func TestProcessesAllListed(t *testing.T) {
	dir, roots := fixture(t)
	ps := twoTicks(t, dir, newTestProcesses(t, roots, 100)).GetProcesses()
	byPid := map[int32]*gamesav1.Process{}
	for _, p := range ps.GetTop() {
		byPid[p.GetPid()] = p
	}
	if len(byPid) != 11 || byPid[2999] != nil {
		t.Fatalf("listed %d processes %v; want the 11 alive ones, not the exited 2999", len(byPid), ps.GetTop())
	}
	for _, tc := range []struct {
		pid           int32
		name, user    string
		cmdline       string
		cpu           float64
		state         string
		nice, threads int
	}{
		{1, "systemd", "root", "/sbin/init splash", 0.5, "S", 0, 1},
		{2, "kthreadd", "root", "", 0, "S", 0, 1},
		{57, "kworker/u8:3-events_unbound", "root", "", 1, "I", 0, 1},
		{812, "Xorg", "root", "/usr/lib/xorg/Xorg vt2 -displayfd 3 -auth /run/user/1000/gdm/Xauthority -nolisten tcp", 10, "S", 0, 3},
		{1102, "(sd-pam)", "alice", "(sd-pam)", 0, "S", 0, 1},
		{6001, "backup-agent", "1234", "/opt/backup/bin/backup-agent --daemon", 0, "S", 19, 4},
	} {
		p := byPid[tc.pid]
		if p.GetName() != tc.name || p.GetUser() != tc.user || p.GetCmdline() != tc.cmdline || !near(p.GetCpuPercent(), tc.cpu) ||
			p.GetState() != tc.state || int(p.GetNice()) != tc.nice || int(p.GetThreads()) != tc.threads {
			t.Errorf("pid %d = %v; want %s by %s %q at %v%%, %s, nice %d, %d threads", tc.pid, p, tc.name, tc.user, tc.cmdline, tc.cpu, tc.state, tc.nice, tc.threads)
		}
	}
	for i := 1; i < len(ps.GetTop()); i++ {
		a, b := ps.GetTop()[i-1], ps.GetTop()[i]
		if a.GetCpuPercent() < b.GetCpuPercent() || a.GetCpuPercent() == b.GetCpuPercent() && a.GetPid() > b.GetPid() {
			t.Errorf("top[%d] (pid %d, %v%%) before top[%d] (pid %d, %v%%): want busiest first, then lowest pid",
				i-1, a.GetPid(), a.GetCpuPercent(), i, b.GetPid(), b.GetCpuPercent())
		}
	}
}

func TestProcessesFirstCall(t *testing.T) {
	_, roots := fixture(t)
	ps := collect(t, newTestProcesses(t, roots, 3), 0).GetProcesses()
	// No interval yet: everyone at zero, so the lowest pids.
	checkTop(t, ps.GetTop(), []procWant{{1, 0}, {2, 0}, {57, 0}})
	if ps.GetTotal() != 11 {
		t.Errorf("total = %d; want 11", ps.GetTotal())
	}
}

func TestProcessesNoTop(t *testing.T) {
	_, roots := fixture(t)
	ps := collect(t, newTestProcesses(t, roots, 0), 0).GetProcesses()
	if len(ps.GetTop()) != 0 || ps.GetTotal() != 11 || ps.GetThreads() != 152 {
		t.Errorf("processes = %v; want totals only (11, 152 threads)", ps)
	}
}

func TestProcessesVanishedMidRead(t *testing.T) {
	dir, roots := fixture(t)
	// The directory is still listed but the files are gone: the process
	// exited between readdir and open.
	for _, f := range []string{"stat", "status", "cmdline", "comm"} {
		if err := os.Remove(filepath.Join(dir, "proc", "812", f)); err != nil {
			t.Fatal(err)
		}
	}
	// And a process whose stat is still there but whose cmdline is not:
	// it exited after the stat read.
	if err := os.Remove(filepath.Join(dir, "proc", "1", "cmdline")); err != nil {
		t.Fatal(err)
	}
	ps := collect(t, newTestProcesses(t, roots, 100), 0).GetProcesses()
	if ps.GetTotal() != 10 {
		t.Errorf("total = %d; want 10", ps.GetTotal())
	}
	for _, p := range ps.GetTop() {
		if p.GetPid() == 812 || p.GetPid() == 1 {
			t.Errorf("listed pid %d, which vanished", p.GetPid())
		}
	}
}

func TestProcessesMalformedStat(t *testing.T) {
	dir, roots := fixture(t)
	editFile(t, dir, "proc/1523/stat", " 90000 12000 ", " 9o000 12000 ")
	s := sampleAt(0)
	err := newTestProcesses(t, roots, 100).Collect(t.Context(), s)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "proc", "1523", "stat")) || !strings.Contains(err.Error(), "field utime") {
		t.Fatalf("Collect = %v; want an error naming proc/1523/stat and utime", err)
	}
	if got := len(s.GetProcesses().GetTop()); got != 10 {
		t.Errorf("listed %d processes; want the 10 others", got)
	}
}

func TestProcessesCountersBackwards(t *testing.T) {
	dir, roots := fixture(t)
	p := newTestProcesses(t, roots, 1)
	collect(t, p, 0)
	// Same pid, same start time, fewer ticks: cannot happen, must not wrap.
	editFile(t, dir, "proc/4242/stat", " 150000 9000 ", " 10 10 ")
	top := collect(t, p, 2).GetProcesses().GetTop()
	if len(top) != 1 || top[0].GetCpuPercent() != 0 {
		t.Errorf("top = %v; want every process at 0%%", top)
	}
}

func TestProcessesPasswdReloaded(t *testing.T) {
	dir, roots := fixture(t)
	p := newTestProcesses(t, roots, 100)
	find := func(ps *gamesav1.Processes, pid int32) *gamesav1.Process {
		for _, proc := range ps.GetTop() {
			if proc.GetPid() == pid {
				return proc
			}
		}
		t.Fatalf("pid %d not listed", pid)
		return nil
	}
	if u := find(collect(t, p, 0).GetProcesses(), 6001).GetUser(); u != "1234" {
		t.Errorf("user of uid 1234 = %q; want the number", u)
	}
	passwd := filepath.Join(dir, "etc", "passwd")
	editFile(t, dir, "etc/passwd", "nobody:", "backup:x:1234:1234::/var/backups:/usr/sbin/nologin\nnobody:")
	later := time.Now().Add(time.Hour) // a new mtime even on a coarse clock
	if err := os.Chtimes(passwd, later, later); err != nil {
		t.Fatal(err)
	}
	if u := find(collect(t, p, 1).GetProcesses(), 6001).GetUser(); u != "backup" {
		t.Errorf("user of uid 1234 after passwd changed = %q; want backup", u)
	}
	if err := os.Remove(passwd); err != nil {
		t.Fatal(err)
	}
	if u := find(collect(t, p, 2).GetProcesses(), 1523).GetUser(); u != "1000" {
		t.Errorf("user of uid 1000 without passwd = %q; want the number", u)
	}
}

func TestProcessesMissing(t *testing.T) {
	_, roots := fixture(t)
	roots.Proc = filepath.Join(t.TempDir(), "no-proc")
	if err := newTestProcesses(t, roots, 5).Collect(t.Context(), sampleAt(0)); !errors.Is(err, telemetry.ErrNotAvailable) {
		t.Errorf("Collect = %v; want ErrNotAvailable", err)
	}
}

func TestProcessesForgetExited(t *testing.T) {
	dir, roots := fixture(t)
	p := newTestProcesses(t, roots, 5)
	twoTicks(t, dir, p)
	if _, ok := p.prev[2999]; ok {
		t.Error("pid 2999 exited but is still remembered")
	}
	if len(p.prev) != 11 {
		t.Errorf("remembers %d processes; want 11", len(p.prev))
	}
}

func TestCmdline(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/bin/sh\x00-c\x00make -j4\x00", "/bin/sh -c make -j4"},
		{"", ""},
		{"nginx: worker process\x00\x00\x00", "nginx: worker process"},
		{"cut\xe2\x82", "cut\uFFFD"},
	} {
		if got := cmdline([]byte(tc.in)); got != tc.want {
			t.Errorf("cmdline(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestParsePidStat(t *testing.T) {
	line := func(comm string) string {
		return "42 (" + comm + ") S 7 42 42 0 -1 4194560 10 0 0 0 123 45 0 0 20 -3 6 0 999 1000 77 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
	}
	for _, tc := range []struct {
		name, in string
		comm     string
		wantErr  string
	}{
		{"plain", line("bash"), "bash", ""},
		{"spaces", line("Isolated Web Co"), "Isolated Web Co", ""},
		{"parens", line("(sd-pam)"), "(sd-pam)", ""},
		{"fake fields in the name", line("x) R 1 2 3"), "x) R 1 2 3", ""},
		{"no comm", "42 bash S 7", "", "comm"},
		{"truncated", "42 (bash) S 7 42 42 0", "bash", "field #8"},
		{"bad nice", strings.Replace(line("bash"), " -3 ", " -30 ", 1), "bash", "nice"},
		{"bad ppid", strings.Replace(line("bash"), "S 7 ", "S x ", 1), "bash", "ppid"},
		{"bad state", strings.Replace(line("bash"), " S ", " Sx ", 1), "bash", "state"},
	} {
		var st pidStat
		err := parsePidStat([]byte(tc.in), &st)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: parsePidStat(%q) error = %v; want one naming %s", tc.name, tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: parsePidStat(%q) = %v", tc.name, tc.in, err)
			continue
		}
		want := pidStat{state: 'S', ppid: 7, utime: 123, stime: 45, nice: -3, threads: 6, start: 999, rssPages: 77}
		st.comm, st.commLen = [maxComm]byte{}, 0
		if got := string(tc.comm); st != want {
			t.Errorf("%s: parsePidStat = %+v; want %+v (comm %q)", tc.name, st, want, got)
		}
	}
}

func TestParsePidStatComm(t *testing.T) {
	var st pidStat
	long := strings.Repeat("w", 80)
	if err := parsePidStat([]byte("1 ("+long+") S 0 0 0 0 0 0 0 0 0 0 1 1 0 0 20 0 1 0 5 0 0"), &st); err != nil {
		t.Fatal(err)
	}
	if got := string(st.comm[:st.commLen]); got != long[:maxComm] {
		t.Errorf("comm = %q; want the first %d bytes", got, maxComm)
	}
}

func TestParseStatusUID(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    uint32
		wantErr bool
	}{
		{"Name:\tsudo\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n", 0, false},
		{"Uid:\t65534\t65534\t65534\t65534\n", 65534, false},
		{"Name:\tx\n", 0, true},
		{"Uid:\t1000\n", 0, true},
		{"Uid:\t1000\t4294967296\t0\t0\n", 0, true},
	} {
		got, err := parseStatusUID("status", []byte(tc.in))
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("parseStatusUID(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestProcessesUntrackedOldProcess(t *testing.T) {
	dir, roots := fixture(t)
	p := newTestProcesses(t, roots, 1)
	collect(t, p, 0)
	// pid 8000 shows up now but started long before the previous call
	// (a readdir that missed it, say): how much of its time falls in the
	// interval is unknown, so it is charged none rather than its lifetime.
	old := strings.Replace(readFixture(t, dir, "proc/6001/stat"), "6001 (backup-agent)", "8000 (old)", 1)
	writeFile(t, dir, "proc/8000/stat", strings.Replace(old, " 800 600 ", " 90000 9000 ", 1))
	writeFile(t, dir, "proc/8000/status", readFixture(t, dir, "proc/6001/status"))
	writeFile(t, dir, "proc/8000/cmdline", "old\x00")
	top := collect(t, p, 2).GetProcesses().GetTop()
	if len(top) != 1 || top[0].GetCpuPercent() != 0 {
		t.Errorf("top = %v; want nobody charged, pid 8000 included", top)
	}
}

func TestProcessesWithoutUptime(t *testing.T) {
	dir, roots := fixture(t)
	if err := os.Remove(filepath.Join(dir, "proc", "uptime")); err != nil {
		t.Fatal(err)
	}
	s := twoTicks(t, dir, newTestProcesses(t, roots, 5))
	// Without the boot clock new processes cannot be told from untracked
	// ones, so cc1 and the new make are charged nothing; the rest hold.
	checkTop(t, s.GetProcesses().GetTop(), []procWant{{4242, 170}, {1523, 75}, {1710, 75}, {812, 10}, {57, 1}})
}

func TestParseUptime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"3550.27 13952.31\n", 355027, true},
		{"12.5 1.0", 1250, true},
		{"7 0", 700, true},
		{"3550.279 1", 355027, true},
		{"x.27 1", 0, false},
		{"3550.2x 1", 0, false},
		{"", 0, false},
		{"184467440737095516 1", 0, false},
	} {
		got, ok := parseUptime([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseUptime(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestProcessesDescriptionCached: a top process's cmdline is read once and
// kept for describeEvery calls, then read again; a pid reused by a new
// process (another start time) is read at once.
func TestProcessesDescriptionCached(t *testing.T) {
	dir, roots := fixture(t)
	p := newTestProcesses(t, roots, 100)
	cmdOf := func(s *gamesav1.Sample, pid int32) string {
		t.Helper()
		for _, proc := range s.GetProcesses().GetTop() {
			if proc.GetPid() == pid {
				return proc.GetCmdline()
			}
		}
		t.Fatalf("pid %d not listed", pid)
		return ""
	}
	const firefox = "/usr/lib/firefox/firefox"
	if got := cmdOf(collect(t, p, 0), 1523); got != firefox {
		t.Fatalf("cmdline = %q; want %q", got, firefox)
	}
	writeFile(t, dir, "proc/1523/cmdline", "firefox-renamed\x00")
	for i := 1; i < describeEvery; i++ {
		if got := cmdOf(collect(t, p, float64(i)), 1523); got != firefox {
			t.Fatalf("call %d: cmdline = %q; want the cached %q", i, got, firefox)
		}
	}
	if got := cmdOf(collect(t, p, describeEvery), 1523); got != "firefox-renamed" {
		t.Errorf("after %d calls cmdline = %q; want it read again", describeEvery, got)
	}

	// The pid now belongs to a process started later: no cache applies.
	writeFile(t, dir, "proc/1523/cmdline", "/usr/bin/newcomer\x00")
	editFile(t, dir, "proc/1523/stat", " 0 4000 ", " 0 4100 ")
	if got := cmdOf(collect(t, p, describeEvery+1), 1523); got != "/usr/bin/newcomer" {
		t.Errorf("reused pid: cmdline = %q; want the new process's", got)
	}
}

// TestProcessesListOnlyAfterANewPid: the collector lists <Proc> again
// only when its namespace handed out a pid since the last listing (the
// last field of loadavg), or relistEvery calls after it; in between it
// re-reads the processes it knows. Without <Proc>/self naming this process
// (another namespace's /proc, as here at first) it lists every call.
func TestProcessesListOnlyAfterANewPid(t *testing.T) {
	dir, roots := fixture(t)
	proc := filepath.Join(dir, "proc")
	spawn := func(pid string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(proc, "1523", "stat"))
		if err != nil {
			t.Fatal(err)
		}
		copyTree(t, filepath.Join(proc, "1523"), filepath.Join(proc, pid))
		if err := os.WriteFile(filepath.Join(proc, pid, "stat"), []byte(strings.Replace(string(b), "1523", pid, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setLastPid := func(pid string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(proc, "loadavg"), []byte("1.25 0.98 0.71 3/413 "+pid+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	listed := func(s *gamesav1.Sample, pid int32) bool {
		for _, pr := range s.GetProcesses().GetTop() {
			if pr.GetPid() == pid {
				return true
			}
		}
		return false
	}

	p := newTestProcesses(t, roots, 100)
	collect(t, p, 0)
	spawn("9001")
	if s := collect(t, p, 1); !listed(s, 9001) {
		t.Error("another namespace's /proc: a new process was not listed at once")
	}

	if err := os.Symlink(strconv.Itoa(os.Getpid()), filepath.Join(proc, "self")); err != nil {
		t.Fatal(err)
	}
	p = newTestProcesses(t, roots, 100)
	s := collect(t, p, 0)
	total := s.GetProcesses().GetTotal()
	spawn("9002")
	s = collect(t, p, 1)
	if listed(s, 9002) || s.GetProcesses().GetTotal() != total {
		t.Errorf("no pid handed out, yet the directory was listed: %d processes, 9002 listed %v", s.GetProcesses().GetTotal(), listed(s, 9002))
	}
	if !listed(s, 9001) {
		t.Error("a known process was not read again without a listing")
	}
	setLastPid("9002")
	s = collect(t, p, 2)
	if !listed(s, 9002) || s.GetProcesses().GetTotal() != total+1 {
		t.Errorf("after the last pid moved: %d processes, 9002 listed %v; want %d and listed", s.GetProcesses().GetTotal(), listed(s, 9002), total+1)
	}
	spawn("9003")
	for i := range relistEvery {
		s = collect(t, p, float64(3+i))
	}
	if !listed(s, 9003) {
		t.Errorf("not listed again within %d calls", relistEvery)
	}
}

// TestProcessesQuietReadLessOften: a process that used no CPU in
// quietReads reads in a row is read again only every quietEvery calls
// while no pid is handed out; the CPU time it used meanwhile shows at that
// read, spread over the calls it covers, and a busy process is read every
// call. A listing (a new pid) reads every process.
func TestProcessesQuietReadLessOften(t *testing.T) {
	dir, roots := fixture(t)
	proc := filepath.Join(dir, "proc")
	if err := os.Symlink(strconv.Itoa(os.Getpid()), filepath.Join(proc, "self")); err != nil {
		t.Fatal(err)
	}
	// addTicks adds n to utime (field 14) of pid's stat, in place (the
	// collector holds the file open).
	addTicks := func(pid string, n uint64) {
		t.Helper()
		path := filepath.Join(proc, pid, "stat")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		line := string(b)
		end := strings.LastIndexByte(line, ')')
		f := strings.Fields(line[end+2:]) // field 3 on
		u, err := strconv.ParseUint(f[14-3], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		f[14-3] = strconv.FormatUint(u+n, 10)
		if err := os.WriteFile(path, []byte(line[:end+2]+strings.Join(f, " ")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cpu := func(s *gamesav1.Sample, pid int32) float64 {
		for _, pr := range s.GetProcesses().GetTop() {
			if pr.GetPid() == pid {
				return pr.GetCpuPercent()
			}
		}
		t.Fatalf("pid %d not listed", pid)
		return 0
	}

	p := newTestProcesses(t, roots, 100)
	sec := 0.0
	next := func() *gamesav1.Sample {
		t.Helper()
		addTicks("4242", 50) // busy: half a core every call
		sec++
		return collect(t, p, sec)
	}
	collect(t, p, 0)
	for range quietReads {
		next()
	}
	// 1523 is quiet now; its last read was the call before. It uses a
	// full core's second (100 ticks) right away.
	addTicks("1523", 100)
	for i := 1; i < quietEvery; i++ {
		s := next()
		if got := cpu(s, 1523); got != 0 {
			t.Fatalf("call %d after going quiet: 1523 at %v%%; want 0 (not read)", i, got)
		}
		if got := cpu(s, 4242); !near(got, 50) {
			t.Fatalf("busy 4242 at %v%%; want 50 every call", got)
		}
	}
	s := next()
	if got, want := cpu(s, 1523), 100.0/quietEvery; !near(got, want) {
		t.Errorf("1523 re-read after %d calls at %v%%; want its 100 ticks spread over them: %v%%", quietEvery, got, want)
	}
	// It was busy: read every call again until it is quiet for
	// quietReads reads; a listing reads everyone at once.
	addTicks("1523", 30)
	if got := cpu(next(), 1523); !near(got, 30) {
		t.Errorf("1523 after its busy read: %v%%; want 30 (read every call)", got)
	}
	for range quietReads {
		next()
	}
	addTicks("1523", 20)
	if err := os.WriteFile(filepath.Join(proc, "loadavg"), []byte("1.25 0.98 0.71 3/413 9999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := cpu(next(), 1523); !near(got, 20) {
		t.Errorf("quiet 1523 on a listing call: %v%%; want 20 (every process is read)", got)
	}
}
