// Package strs holds string helpers for the decision's hot path.
package strs

import "unsafe"

// Same is a == b, told without a call where both are one string (the same
// bytes at the same address), as the strings a caller keeps from tick to
// tick are: == calls the runtime to compare bytes whenever the lengths
// agree, which cost the coordinator and the power mode 2.5 µs of a 27 µs
// decision (optimizer/policy BenchmarkDecide).
func Same(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	return len(a) == 0 || unsafe.StringData(a) == unsafe.StringData(b) || a == b
}
