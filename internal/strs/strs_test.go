package strs

import (
	"strings"
	"testing"
)

// TestSame: Same agrees with == on equal and different strings, whether
// or not they share their bytes.
func TestSame(t *testing.T) {
	s := "wine64-preloader"
	copied := strings.Clone(s)
	cases := []struct {
		a, b string
		want bool
	}{
		{"", "", true},
		{s, s, true},
		{s, copied, true},
		{s, s[:4], false},
		{s[:4], "wine", true},
		{"game", "gamf", false},
		{"", "x", false},
	}
	for _, c := range cases {
		if got := Same(c.a, c.b); got != c.want || got != (c.a == c.b) {
			t.Errorf("Same(%q, %q) = %v; want %v", c.a, c.b, got, c.want)
		}
	}
}

func FuzzSame(f *testing.F) {
	f.Add("a", "a")
	f.Add("ab", "ac")
	f.Fuzz(func(t *testing.T, a, b string) {
		if Same(a, b) != (a == b) || !Same(a, a) {
			t.Fatalf("Same(%q, %q) = %v", a, b, Same(a, b))
		}
	})
}
