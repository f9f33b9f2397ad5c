package cpulist_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/krystalstack/gamesa/internal/cpulist"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		want []int
		ok   bool
	}{
		{"", nil, true},
		{"0\n", []int{0}, true},
		{"0-3,8-11", []int{0, 1, 2, 3, 8, 9, 10, 11}, true},
		{"3,1,2,1", []int{1, 2, 3}, true},
		{"0-0", []int{0}, true},
		{"3-1", nil, false},
		{"-1", nil, false},
		{"+1", nil, false},
		{"1,", nil, false},
		{"a", nil, false},
		{"0-9000", nil, false},
		{"1--2", nil, false},
		{"0-1,1-2,7", []int{0, 1, 2, 7}, true},
		{" 4,6 \n", []int{4, 6}, true},
		{"0-", nil, false},
		{"0,,1", nil, false},
	}
	for _, c := range cases {
		got, err := cpulist.Parse(c.in)
		if (err == nil) != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v (ok %v)", c.in, got, err, c.want, c.ok)
		}
		if err != nil && !errors.Is(err, cpulist.ErrInvalid) {
			t.Errorf("Parse(%q) error %v; want ErrInvalid", c.in, err)
		}
	}
}

func TestFormat(t *testing.T) {
	cases := []struct {
		in   []int
		want string
	}{
		{nil, ""},
		{[]int{0}, "0"},
		{[]int{0, 1, 2, 3, 8}, "0-3,8"},
		{[]int{8, 0, 1, 1}, "0-1,8"},
		{[]int{1, 3, 5}, "1,3,5"},
	}
	for _, c := range cases {
		if got := cpulist.Format(c.in); got != c.want {
			t.Errorf("Format(%v) = %q; want %q", c.in, got, c.want)
		}
	}
}

// FuzzParse: a list either fails with ErrInvalid or parses to a
// sorted set that formats and parses back to itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"0-3,8-11", "0", "", "1,3,5", "0-8191", "3-1", "-", ",", "00-01", "1-2-3", " 4 ", "0-3,\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cpus, err := cpulist.Parse(s)
		if err != nil {
			if !errors.Is(err, cpulist.ErrInvalid) {
				t.Fatalf("Parse(%q) = %v; want ErrInvalid", s, err)
			}
			return
		}
		if !slices.IsSorted(cpus) || len(slices.Compact(slices.Clone(cpus))) != len(cpus) {
			t.Fatalf("Parse(%q) = %v; not sorted and unique", s, cpus)
		}
		for _, c := range cpus {
			if c < 0 || c > cpulist.Max {
				t.Fatalf("Parse(%q) holds CPU %d", s, c)
			}
		}
		back, err := cpulist.Parse(cpulist.Format(cpus))
		if err != nil || !slices.Equal(back, cpus) {
			t.Fatalf("Parse(FormatCPUList(%v)) = %v, %v", cpus, back, err)
		}
	})
}
