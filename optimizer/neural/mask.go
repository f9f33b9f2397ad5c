package neural

import "strings"

// ListMask caches one boolean per item of a list that a model reads every
// tick and that rarely changes (a host's sensors, say): the mask is made
// again only when the list differs in length or in an item's two key
// strings. Matching names every tick cost more than the rest of a model's
// features. The zero value is ready to use; a ListMask is not safe for
// concurrent use.
type ListMask struct {
	a, b []string // the keys of the list the mask was made for
	mask []bool
}

// Of returns the mask of a list of n items, where key(i) names item i and
// match(i) is its bit; the next call may overwrite the slice returned. The
// keys are copied, so the mask keeps no item alive.
func (m *ListMask) Of(n int, key func(i int) (string, string), match func(i int) bool) []bool {
	if m.holds(n, key) {
		return m.mask
	}
	m.a, m.b, m.mask = m.a[:0], m.b[:0], m.mask[:0]
	for i := range n {
		a, b := key(i)
		m.a = append(m.a, strings.Clone(a))
		m.b = append(m.b, strings.Clone(b))
		m.mask = append(m.mask, match(i))
	}
	return m.mask
}

func (m *ListMask) holds(n int, key func(i int) (string, string)) bool {
	if n != len(m.mask) {
		return false
	}
	for i := range n {
		if a, b := key(i); a != m.a[i] || b != m.b[i] {
			return false
		}
	}
	return true
}
