package procfs

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// seed adds the fixture's and the malformed variants' copies of rel.
func seed(f *testing.F, rel string) {
	f.Helper()
	for _, root := range []string{sharedFixture, tick2, filepath.Join("testdata", "malformed")} {
		if b, err := os.ReadFile(filepath.Join(root, rel)); err == nil {
			f.Add(b)
		}
	}
}

func inPercent(v float64) bool { return v >= 0 && v <= 100 && !math.IsNaN(v) }

func FuzzParseStat(f *testing.F) {
	seed(f, "proc/stat")
	f.Add([]byte("cpu  1 2 3 4\ncpu0 1 2 3 4\ncpu9 1 2 3\nctxt x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var prev, cur statSnapshot
		var errs fieldErrors
		parseStat("stat", b, &prev, &errs)
		// The same text with every counter doubled must give sane shares
		// against the first reading.
		parseStat("stat", b, &cur, &errs)
		for i := range cur.total {
			cur.total[i] *= 2
		}
		for i := 1; i < len(prev.cores); i++ {
			if prev.cores[i-1].id >= prev.cores[i].id {
				t.Fatalf("cores not strictly sorted: %+v", prev.cores)
			}
		}
		sh := shares(&cur.total, &prev.total)
		for _, v := range []float64{sh.util, sh.user, sh.system, sh.iowait, sh.steal} {
			if !inPercent(v) {
				t.Fatalf("shares = %+v; want each in 0..100", sh)
			}
		}
		if d := sh.util - (sh.user + sh.system + sh.steal); math.Abs(d) > 1e-6 {
			t.Fatalf("util %v != user + system + steal in %+v", sh.util, sh)
		}
	})
}

func FuzzParseMeminfo(f *testing.F) {
	seed(f, "proc/meminfo")
	f.Add([]byte("MemTotal: 18446744073709551615 kB\nMemAvailable: 1 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, _ := parseMeminfo("meminfo", b)
		if m.GetUsedBytes() > m.GetTotalBytes() || !inPercent(m.GetUsedPercent()) {
			t.Fatalf("memory = %v; want used <= total and a percentage", m)
		}
		if _, err := proto.Marshal(m); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParseLoadavg(f *testing.F) {
	seed(f, "proc/loadavg")
	f.Fuzz(func(t *testing.T, b []byte) {
		avg, _ := parseLoadavg("loadavg", b)
		for _, v := range avg {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("parseLoadavg(%q) = %v", b, avg)
			}
		}
		// The last pid is what follows the last space, digits only.
		if pid, ok := parseLastPid(b); ok {
			last := bytes.TrimRight(b, "\n")
			last = last[bytes.LastIndexByte(last, ' ')+1:]
			if strings.TrimLeft(string(last), "0") != strings.TrimLeft(strconv.FormatUint(pid, 10), "0") {
				t.Fatalf("parseLastPid(%q) = %d", b, pid)
			}
		}
	})
}

func FuzzParseDiskstats(f *testing.F) {
	seed(f, "proc/diskstats")
	f.Fuzz(func(t *testing.T, b []byte) {
		var errs fieldErrors
		parseDiskstats("diskstats", b, &errs, func(name []byte, _ diskCounters) {
			checkName(t, name)
			_ = isPartitionName(string(name))
		})
	})
}

func FuzzParseNetDev(f *testing.F) {
	seed(f, "proc/net/dev")
	f.Fuzz(func(t *testing.T, b []byte) {
		var errs fieldErrors
		parseNetDev("dev", b, &errs, func(name []byte, _ netCounters) { checkName(t, name) })
	})
}

func checkName(t *testing.T, name []byte) {
	t.Helper()
	if len(name) == 0 {
		t.Fatal("empty device name")
	}
	if _, err := proto.Marshal(&gamesav1.NetInterface{Name: text(name)}); err != nil {
		t.Fatalf("name %q: %v", name, err)
	}
}

func FuzzParsePidStat(f *testing.F) {
	for _, pid := range []string{"1", "57", "1102", "1523", "1710", "4242"} {
		seed(f, filepath.Join("proc", pid, "stat"))
	}
	f.Add([]byte("1 (a) b) R 0 0 0 0 0 0 0 0 0 0 1 1 0 0 20 -20 1 0 5 0 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var st pidStat
		if err := parsePidStat(b, &st); err != nil {
			return
		}
		if int(st.commLen) > maxComm || st.nice < -20 || st.nice > 19 || st.ppid < 0 {
			t.Fatalf("parsePidStat(%q) = %+v", b, st)
		}
		p := &gamesav1.Process{Name: text(st.comm[:st.commLen]), State: string(st.state)}
		if _, err := proto.Marshal(p); err != nil {
			t.Fatalf("%v: %v", p, err)
		}
	})
}

func FuzzParseStatusUID(f *testing.F) {
	seed(f, "proc/1523/status")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseStatusUID("status", b)
	})
}

func FuzzParsePasswd(f *testing.F) {
	seed(f, "etc/passwd")
	f.Fuzz(func(t *testing.T, b []byte) {
		for uid, name := range parsePasswd(b) {
			if name == "" || !utf8.ValidString(name) {
				t.Fatalf("uid %d named %q", uid, name)
			}
		}
	})
}

func FuzzParseCPUModel(f *testing.F) {
	seed(f, "proc/cpuinfo")
	f.Fuzz(func(t *testing.T, b []byte) {
		if m := parseCPUModel(b); !utf8.ValidString(m) {
			t.Fatalf("model %q is not UTF-8", m)
		}
	})
}

func FuzzCmdline(f *testing.F) {
	seed(f, "proc/1710/cmdline")
	f.Fuzz(func(t *testing.T, b []byte) {
		if c := cmdline(b); !utf8.ValidString(c) {
			t.Fatalf("cmdline %q is not UTF-8", c)
		}
	})
}
