package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseImage asks the kernel to page out the private read-only file
// mappings of the process (the executable's code, read-only data and Go
// function tables, and those of the shared libraries it loaded, NVML's among
// them) with MADV_PAGEOUT (Linux 5.4 and later). The pages are clean copies
// of their files, so nothing is lost: the next touch maps them again. It
// returns how many bytes of mappings it advised; a mapping the kernel refuses
// is skipped and the first refusal returned with the count.
func releaseImage() (int, error) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	total := 0
	var first error
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		lo, hi, ok := readOnlyMapping(sc.Text())
		if !ok {
			continue
		}
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, lo, hi-lo, unix.MADV_PAGEOUT); e != 0 {
			if first == nil {
				first = fmt.Errorf("madvise(MADV_PAGEOUT) %#x-%#x: %w", lo, hi, e)
			}
			continue
		}
		total += int(hi - lo)
	}
	if err := sc.Err(); err != nil {
		return total, err
	}
	return total, first
}

// readOnlyMapping parses one /proc/self/maps line and reports the range of
// a private, non-writable mapping of a file (not a device, not the stack or
// the vDSO):
//
//	00411000-00ebf000 r-xp 00011000 fd:01 1234   /usr/bin/gamesa
func readOnlyMapping(line string) (lo, hi uintptr, ok bool) {
	f := strings.Fields(line)
	if len(f) < 6 || !strings.HasPrefix(f[5], "/") || strings.HasPrefix(f[5], "/dev/") || strings.HasSuffix(line, " (deleted)") {
		return 0, 0, false
	}
	if perm := f[1]; len(perm) != 4 || perm[1] == 'w' || perm[3] != 'p' {
		return 0, 0, false
	}
	a, b, found := strings.Cut(f[0], "-")
	l, err1 := strconv.ParseUint(a, 16, 64)
	h, err2 := strconv.ParseUint(b, 16, 64)
	if !found || err1 != nil || err2 != nil || h <= l {
		return 0, 0, false
	}
	return uintptr(l), uintptr(h), true
}
