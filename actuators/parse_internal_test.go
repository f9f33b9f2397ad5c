package actuators

import (
	"strings"
	"testing"
)

func TestParseValues(t *testing.T) {
	ioprio := []struct {
		in   string
		want int
		bad  bool
	}{
		{"none", 0, false}, {"idle", 3 << 13, false}, {"be/0", 2 << 13, false}, {"be/7", 2<<13 | 7, false},
		{"rt/4", 1<<13 | 4, false}, {"be/8", 0, true}, {"be/-1", 0, true}, {"be/04", 0, true}, {"bulk/1", 0, true}, {"", 0, true},
	}
	for _, tt := range ioprio {
		got, err := parseIOPrio(tt.in)
		if (err != nil) != tt.bad || (!tt.bad && got != tt.want) {
			t.Errorf("parseIOPrio(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.bad)
		}
		if !tt.bad && formatIOPrio(got) != tt.in {
			t.Errorf("formatIOPrio(%d) = %q; want %q", got, formatIOPrio(got), tt.in)
		}
	}
	policy := []struct {
		in        string
		pol, prio int
		bad       bool
	}{
		{"normal", schedNormal, 0, false}, {"batch", schedBatch, 0, false}, {"idle", schedIdle, 0, false},
		{"fifo/1", schedFIFO, 1, false}, {"rr/99", schedRR, 99, false},
		{"fifo/0", 0, 0, true}, {"rr/100", 0, 0, true}, {"deadline", 0, 0, true}, {"other", 0, 0, true},
	}
	for _, tt := range policy {
		pol, prio, err := parsePolicy(tt.in)
		if (err != nil) != tt.bad || (!tt.bad && (pol != tt.pol || prio != tt.prio)) {
			t.Errorf("parsePolicy(%q) = %d, %d, %v; want %d, %d, error %v", tt.in, pol, prio, err, tt.pol, tt.prio, tt.bad)
		}
		if !tt.bad && formatPolicy(pol, prio) != tt.in {
			t.Errorf("formatPolicy(%d, %d) = %q; want %q", pol, prio, formatPolicy(pol, prio), tt.in)
		}
	}
	quota := []struct {
		in, want string
		bad      bool
	}{
		{"max", "max 100000", false}, {"max 50000", "max 50000", false}, {"-1", "max 100000", false},
		{"25000", "25000 100000", false}, {"25000 50000", "25000 50000", false},
		{"999", "", true}, {"1000 999", "", true}, {"1000 1000001", "", true}, {"x", "", true}, {"", "", true}, {"1 2 3", "", true},
	}
	for _, tt := range quota {
		q, p, err := parseQuota(tt.in)
		if (err != nil) != tt.bad || (!tt.bad && formatQuota(q, p) != tt.want) {
			t.Errorf("parseQuota(%q) = %s, %v; want %q, error %v", tt.in, formatQuota(q, p), err, tt.want, tt.bad)
		}
	}
}

func TestWeightShares(t *testing.T) {
	for w := int64(1); w <= 10000; w++ {
		s := weightToShares(w)
		if s < 2 || s > 262144 {
			t.Fatalf("weightToShares(%d) = %d; outside [2, 262144]", w, s)
		}
		if got := sharesToWeight(s); got != w {
			t.Fatalf("sharesToWeight(weightToShares(%d) = %d) = %d; want %d", w, s, got, w)
		}
	}
	if got := sharesToWeight(1024); got != 100 {
		t.Errorf("sharesToWeight(1024) = %d; want 100", got)
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		in    string
		pid   int
		comm  string
		start uint64
		flags uint64
		bad   bool
	}{
		{"42 (sleep) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 8192 100 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0",
			42, "sleep", 123456, 4194560, false},
		{"7 (a) (b) c) R 1 7 7 0 -1 2097216 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0 0", 7, "a) (b) c", 99, 2097216, false},
		{"8 (zombie) Z 1 8 8 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0 0", 0, "", 0, 0, true},
		{"9 (short) S 1 2 3", 0, "", 0, 0, true},
		{"garbage", 0, "", 0, 0, true},
	}
	for _, tt := range tests {
		p, err := parseStat([]byte(tt.in))
		if (err != nil) != tt.bad {
			t.Errorf("parseStat(%q) error = %v; want error %v", tt.in, err, tt.bad)
			continue
		}
		if !tt.bad && (p.pid != tt.pid || p.comm != tt.comm || p.start != tt.start || p.flags != tt.flags) {
			t.Errorf("parseStat(%q) = %+v; want pid %d comm %q start %d flags %d", tt.in, p, tt.pid, tt.comm, tt.start, tt.flags)
		}
	}
}

// FuzzValues feeds plan values, which come from outside, through every
// value parser: none panics, and what parses formats to a spelling that
// parses to the same.
func FuzzValues(f *testing.F) {
	for _, s := range []string{"0-3,6", "be/4", "idle", "fifo/50", "max 100000", "25000 50000", "", "-", "0-0", "rt/7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := parseIOPrio(s); err == nil {
			if again, err := parseIOPrio(formatIOPrio(p)); err != nil || again != p {
				t.Fatalf("ioprio %q: %d -> %q -> %d, %v", s, p, formatIOPrio(p), again, err)
			}
		}
		if pol, prio, err := parsePolicy(s); err == nil {
			if p2, pr2, err := parsePolicy(formatPolicy(pol, prio)); err != nil || p2 != pol || pr2 != prio {
				t.Fatalf("policy %q: round trip failed: %v", s, err)
			}
		}
		if q, p, err := parseQuota(s); err == nil {
			if q2, p2, err := parseQuota(formatQuota(q, p)); err != nil || q2 != q || p2 != p {
				t.Fatalf("quota %q: round trip failed: %v", s, err)
			}
		}
		if _, err := parseStat([]byte(s)); err == nil && !strings.Contains(s, "(") {
			t.Fatalf("parseStat(%q) accepted a line without a command name", s)
		}
	})
}
