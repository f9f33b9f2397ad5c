// Package cpulist reads and writes the kernel's CPU list format
// ("0-3,8-11"): /sys/devices/system/cpu/online, the topology and cache
// shared_cpu_list files, cpuset.cpus. The app coordinator plans with it and
// the actuators write it.
package cpulist

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrInvalid says a CPU list is malformed: a bad number, a backwards
// range, a CPU beyond Max.
var ErrInvalid = errors.New("malformed CPU list")

// Max is the highest CPU number Parse accepts. It bounds the
// memory a hostile list such as "0-2000000000" can make the parser use;
// the kernel's own limit (CONFIG_NR_CPUS) is 8192 on the largest configs.
const Max = 8191

// Parse parses the kernel's CPU list format ("0-3,8-11", "5", ""),
// as in /sys/devices/system/cpu/online and the topology and cache
// shared_cpu_list files. It returns the CPUs sorted and without
// duplicates; an empty or blank list gives nil. Surrounding white space
// (the trailing newline of a sysfs file) is ignored.
func Parse(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var cpus []int
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := Number(lo)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrInvalid, s, err)
		}
		b := a
		if isRange {
			if b, err = Number(hi); err != nil {
				return nil, fmt.Errorf("%w: %q: %w", ErrInvalid, s, err)
			}
			if b < a {
				return nil, fmt.Errorf("%w: %q: range %d-%d runs backwards", ErrInvalid, s, a, b)
			}
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	slices.Sort(cpus)
	return slices.Compact(cpus), nil
}

// Number parses one CPU number ("3", as in the directory name cpu3):
// digits only, at most Max.
func Number(s string) (int, error) {
	// strconv.Atoi accepts a sign; a CPU number never has one.
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, fmt.Errorf("%q is not a CPU number", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a CPU number", s)
	}
	if n > Max {
		return 0, fmt.Errorf("CPU %d is beyond %d", n, Max)
	}
	return n, nil
}

// Format writes CPUs in the kernel's list format, runs collapsed to
// ranges: [0 1 2 3 8] gives "0-3,8". The input need not be sorted;
// duplicates are dropped. The result parses back with Parse to the
// same set.
func Format(cpus []int) string {
	if len(cpus) == 0 {
		return ""
	}
	if !slices.IsSorted(cpus) {
		cpus = slices.Sorted(slices.Values(cpus))
	}
	var b strings.Builder
	b.Grow(len(cpus) * 3)
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] <= cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(cpus[i]))
		if cpus[j] != cpus[i] {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(cpus[j]))
		}
		i = j + 1
	}
	return b.String()
}
