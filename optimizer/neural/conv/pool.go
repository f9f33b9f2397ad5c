package conv

import "fmt"

// PoolKind is how a Pool reduces a window. Its numeric value is stored in
// model architectures: never renumber.
type PoolKind int32

// The pooling kinds.
const (
	MaxPool PoolKind = 0
	AvgPool PoolKind = 1
)

// String names the kind as model descriptions print it.
func (k PoolKind) String() string {
	switch k {
	case MaxPool:
		return "max"
	case AvgPool:
		return "avg"
	default:
		return fmt.Sprintf("pool(%d)", int32(k))
	}
}

// Pool reduces each channel over non-overlapping windows of Size time
// steps (stride Size); a trailing remainder shorter than Size is dropped.
// Pool{AvgPool, t} over a t-step input is global average pooling.
type Pool struct {
	Kind PoolKind
	Size int
}

// Validate reports whether p is usable.
func (p Pool) Validate() error {
	if p.Kind != MaxPool && p.Kind != AvgPool {
		return fmt.Errorf("pool: unknown kind %v", p.Kind)
	}
	if p.Size < 1 {
		return fmt.Errorf("pool: size %d must be positive", p.Size)
	}
	return nil
}

// OutLen is the number of output steps for t input steps.
func (p Pool) OutLen(t int) int { return t / p.Size }

// Forward pools x (t × ch) into y (OutLen(t) × ch).
func (p Pool) Forward(y, x []float32, t, ch int) {
	for s := range p.OutLen(t) {
		row := y[s*ch : (s+1)*ch]
		base := s * p.Size * ch
		copy(row, x[base:base+ch])
		for j := 1; j < p.Size; j++ {
			in := x[base+j*ch : base+(j+1)*ch]
			if p.Kind == MaxPool {
				for c, v := range in {
					row[c] = max(row[c], v)
				}
			} else {
				for c, v := range in {
					row[c] += v
				}
			}
		}
		if p.Kind == AvgPool {
			inv := 1 / float32(p.Size)
			for c := range row {
				row[c] *= inv
			}
		}
	}
}

// Backward writes the gradient with respect to x into gx given the
// gradient gy with respect to Forward's output y. Max pooling routes each
// gradient to the first step that held the maximum, as Forward chose it;
// steps in a dropped remainder get zero.
func (p Pool) Backward(gx, gy, x, y []float32, t, ch int) {
	clear(gx[:t*ch])
	inv := 1 / float32(p.Size)
	for s := range p.OutLen(t) {
		base := s * p.Size * ch
		for c := range ch {
			g := gy[s*ch+c]
			if p.Kind == AvgPool {
				for j := range p.Size {
					gx[base+j*ch+c] = g * inv
				}
				continue
			}
			m := y[s*ch+c]
			for j := range p.Size {
				if x[base+j*ch+c] == m {
					gx[base+j*ch+c] = g
					break
				}
			}
		}
	}
}
