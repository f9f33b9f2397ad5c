package actuators

import "slices"

// subset reports whether every cpu of a is in b (both sorted).
func subset(a, b []int) bool {
	for _, c := range a {
		if _, ok := slices.BinarySearch(b, c); !ok {
			return false
		}
	}
	return true
}
