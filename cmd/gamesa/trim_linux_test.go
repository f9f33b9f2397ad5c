package main

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestReadOnlyMapping(t *testing.T) {
	for _, tc := range []struct {
		line   string
		lo, hi uintptr
		ok     bool
	}{
		{"00400000-00411000 r--p 00000000 fd:01 1234  /usr/local/bin/gamesa", 0x400000, 0x411000, true},
		{"00411000-00ebf000 r-xp 00011000 fd:01 1234  /usr/local/bin/gamesa", 0x411000, 0xebf000, true},
		{"01b1c000-01b9f000 rw-p 0171b000 fd:01 1234  /usr/local/bin/gamesa", 0, 0, false}, // writable data
		{"7f00000-7f10000 r--s 00000000 fd:01 99  /usr/local/bin/gamesa", 0, 0, false},     // shared
		{"7f00000-7f10000 r-xp 00000000 fd:01 99  /usr/lib/libc.so.6", 0x7f00000, 0x7f10000, true},
		{"7f00000-7f10000 r--p 00000000 00:05 7  /dev/nvidiactl", 0, 0, false},
		{"7ffd000-7fff000 r-xp 00000000 00:00 0  [vdso]", 0, 0, false},
		{"7ffd000-7fff000 r--p 00000000 00:00 0", 0, 0, false}, // anonymous
		{"00411000-00ebf000 r-xp 00011000 fd:01 1234  /usr/local/bin/gamesa (deleted)", 0, 0, false},
		{"zz-00ebf000 r-xp 00011000 fd:01 1234  /usr/local/bin/gamesa", 0, 0, false},
		{"00ebf000-00411000 r-xp 00011000 fd:01 1234  /usr/local/bin/gamesa", 0, 0, false},
		{"00411000-00ebf000 r-xp", 0, 0, false},
		{"", 0, 0, false},
	} {
		lo, hi, ok := readOnlyMapping(tc.line)
		if lo != tc.lo || hi != tc.hi || ok != tc.ok {
			t.Errorf("readOnlyMapping(%q) = %#x, %#x, %v; want %#x, %#x, %v", tc.line, lo, hi, ok, tc.lo, tc.hi, tc.ok)
		}
	}
	if lo, _, ok := readOnlyMapping("00400000-00411000 r--p 00000000 fd:01 1 /opt/my games/gamesa"); !ok || lo != 0x400000 {
		t.Error("a path with a space was not matched")
	}
}

// TestReleaseImage pages out this test binary's own code and libraries: its resident
// file-backed memory must fall, and the test goes on running (the pages
// fault back in).
func TestReleaseImage(t *testing.T) {
	before := rssFileKB(t)
	n, err := releaseImage()
	if errors.Is(err, unix.EINVAL) {
		t.Skipf("kernel without MADV_PAGEOUT: %v", err)
	}
	if err != nil || n == 0 {
		t.Fatalf("releaseImage() = %d, %v; want the executable's read-only mappings", n, err)
	}
	after := rssFileKB(t)
	t.Logf("advised %d KiB; RssFile %d -> %d KiB", n>>10, before, after)
	if after >= before {
		t.Errorf("RssFile %d KiB after releasing the image; want less than %d", after, before)
	}
}

func rssFileKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}
