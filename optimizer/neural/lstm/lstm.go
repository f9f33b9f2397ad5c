package lstm

import (
	"fmt"

	"github.com/krystalstack/gamesa/optimizer/neural"
)

// LSTM is one LSTM layer of In inputs and Hidden units.
type LSTM struct {
	In, Hidden int
	W, B       *neural.Param // W [4H, In+H], B [4H]

	// Streaming state for Step.
	h, c, z, gates []float32

	// Per-step caches of the last Forward, grown on demand.
	seq []stepCache
	n   int // steps in the last Forward
	hs  [][]float32
	gxs [][]float32
	// Backward scratch.
	da, dh, dc, dz []float32
	zeros          []float32 // the initial h and c of Forward
}

type stepCache struct {
	z     []float32 // [x; h_prev]
	gates []float32 // activated gates i, f, g, o
	c     []float32 // cell state after the step
	tc    []float32 // tanh(c)
	h     []float32
}

// New returns a layer with Glorot weights, zero biases and forget-gate
// biases of 1.
func New(name string, in, hidden int, init *neural.Init) (*LSTM, error) {
	if in < 1 || hidden < 1 {
		return nil, fmt.Errorf("lstm %s: sizes must be positive; got in %d, hidden %d", name, in, hidden)
	}
	l := &LSTM{
		In: in, Hidden: hidden,
		W: neural.NewParam(name+".w", 4*hidden, in+hidden),
		B: neural.NewParam(name+".b", 4*hidden),
	}
	init.Glorot(l.W.W, in+hidden, hidden)
	for j := hidden; j < 2*hidden; j++ {
		l.B.W[j] = 1
	}
	l.h, l.c = make([]float32, hidden), make([]float32, hidden)
	l.z, l.gates = make([]float32, in+hidden), make([]float32, 4*hidden)
	l.da, l.dh, l.dc = make([]float32, 4*hidden), make([]float32, hidden), make([]float32, hidden)
	l.dz = make([]float32, in+hidden)
	l.zeros = make([]float32, hidden)
	return l, nil
}

// Params returns the layer's parameters: W then B.
func (l *LSTM) Params() []*neural.Param { return []*neural.Param{l.W, l.B} }

// Reset zeroes the streaming state, starting a new sequence.
func (l *LSTM) Reset() {
	clear(l.h)
	clear(l.c)
}

// State returns the streaming hidden and cell states (owned by the layer).
func (l *LSTM) State() (h, c []float32) { return l.h, l.c }

// Step advances the streaming state by one input x (len In) and returns
// the new hidden state, owned by the layer and overwritten by the next
// Step. It allocates nothing.
func (l *LSTM) Step(x []float32) []float32 {
	copy(l.z, x[:l.In])
	copy(l.z[l.In:], l.h)
	l.cell(l.z, l.gates, l.c, l.c, l.h, nil)
	return l.h
}

// cell computes one step: gates from z, then c = f·cPrev + i·g and
// h = o·tanh(c). c may alias cPrev; tc receives tanh(c) when not nil.
func (l *LSTM) cell(z, gates, cPrev, c, h, tc []float32) {
	H, n := l.Hidden, l.In+l.Hidden
	w, b := l.W.W, l.B.W
	_ = z[n-1]
	for r := 0; r < 4*H; r++ {
		row := w[r*n : (r+1)*n]
		gates[r] = b[r] + dot(row, z)
	}
	for r := 0; r < 2*H; r++ {
		gates[r] = sigmoid32(gates[r])
	}
	for r := 2 * H; r < 3*H; r++ {
		gates[r] = tanh32(gates[r])
	}
	for r := 3 * H; r < 4*H; r++ {
		gates[r] = sigmoid32(gates[r])
	}
	gi, gf, gg, gO := gates[:H], gates[H:2*H], gates[2*H:3*H], gates[3*H:]
	for j := 0; j < H; j++ {
		cj := gf[j]*cPrev[j] + gi[j]*gg[j]
		c[j] = cj
		t := tanh32(cj)
		if tc != nil {
			tc[j] = t
		}
		h[j] = gO[j] * t
	}
}

// Forward runs the sequence xs (each of len In) from a zero state, keeping
// what Backward needs, and returns the hidden state after each step (owned
// by the layer, overwritten by the next Forward).
func (l *LSTM) Forward(xs [][]float32) [][]float32 {
	H, n := l.Hidden, l.In+l.Hidden
	for len(l.seq) < len(xs) {
		l.seq = append(l.seq, stepCache{
			z: make([]float32, n), gates: make([]float32, 4*H),
			c: make([]float32, H), tc: make([]float32, H), h: make([]float32, H),
		})
		l.gxs = append(l.gxs, make([]float32, l.In))
	}
	l.n = len(xs)
	l.hs = l.hs[:0]
	hPrev, cPrev := l.zeros, l.zeros
	for t, x := range xs {
		s := &l.seq[t]
		copy(s.z, x[:l.In])
		copy(s.z[l.In:], hPrev)
		l.cell(s.z, s.gates, cPrev, s.c, s.h, s.tc)
		hPrev, cPrev = s.h, s.c
		l.hs = append(l.hs, s.h)
	}
	return l.hs
}

// Backward takes the loss gradient with respect to each hidden output of
// the last Forward (ghs[t] may be nil: no loss at step t; len(ghs) must be
// that Forward's length), accumulates the parameter gradients and returns
// the gradient with respect to each input (owned by the layer).
func (l *LSTM) Backward(ghs [][]float32) [][]float32 {
	if len(ghs) != l.n {
		panic(fmt.Sprintf("lstm: Backward got %d gradients for a Forward of %d steps", len(ghs), l.n))
	}
	H, n := l.Hidden, l.In+l.Hidden
	w, gw, gb := l.W.W, l.W.G, l.B.G
	dhNext, dcNext := l.dh, l.dc
	clear(dhNext)
	clear(dcNext)
	da := l.da
	for t := l.n - 1; t >= 0; t-- {
		s := &l.seq[t]
		gi, gf, gg, gO := s.gates[:H], s.gates[H:2*H], s.gates[2*H:3*H], s.gates[3*H:]
		for j := 0; j < H; j++ {
			dh := dhNext[j]
			if ghs[t] != nil {
				dh += ghs[t][j]
			}
			tc := s.tc[j]
			dc := dcNext[j] + dh*gO[j]*(1-tc*tc)
			var cPrev float32
			if t > 0 {
				cPrev = l.seq[t-1].c[j]
			}
			da[j] = dc * gg[j] * gi[j] * (1 - gi[j])
			da[H+j] = dc * cPrev * gf[j] * (1 - gf[j])
			da[2*H+j] = dc * gi[j] * (1 - gg[j]*gg[j])
			da[3*H+j] = dh * tc * gO[j] * (1 - gO[j])
			dcNext[j] = dc * gf[j]
		}
		dz := l.dz
		clear(dz)
		for r := 0; r < 4*H; r++ {
			g := da[r]
			if g == 0 {
				continue
			}
			gb[r] += g
			grow := gw[r*n : (r+1)*n]
			row := w[r*n : (r+1)*n]
			for k, zk := range s.z {
				grow[k] += g * zk
				dz[k] += g * row[k]
			}
		}
		copy(l.gxs[t], dz[:l.In])
		copy(dhNext, dz[l.In:])
	}
	return l.gxs[:l.n]
}

// dot is the inner product of a and b (len(b) >= len(a)), in four
// independent sums so the adds pipeline.
func dot(a, b []float32) float32 {
	var s0, s1, s2, s3 float32
	b = b[:len(a)]
	k := 0
	for ; k+4 <= len(a); k += 4 {
		s0 += a[k] * b[k]
		s1 += a[k+1] * b[k+1]
		s2 += a[k+2] * b[k+2]
		s3 += a[k+3] * b[k+3]
	}
	for ; k < len(a); k++ {
		s0 += a[k] * b[k]
	}
	return (s0 + s1) + (s2 + s3)
}
