package conv

import (
	"fmt"

	"github.com/krystalstack/gamesa/optimizer/neural"
)

// Conv1D is a 1-D convolution over time: Out filters, each of width K over
// all In channels, valid padding, stride 1, then an activation. W has shape
// [Out, K, In]: filter o's weight for time offset k and channel i is
// W[(o*K+k)*In+i], the same layout as the K input rows it meets.
type Conv1D struct {
	In, Out, K int
	Act        neural.Activation
	W, B       *neural.Param
}

// NewConv1D builds a layer with He (ReLU) or Glorot weights over the
// filter's fan-in K·In and zero biases.
func NewConv1D(name string, in, out, k int, act neural.Activation, init *neural.Init) (*Conv1D, error) {
	if in < 1 || out < 1 || k < 1 {
		return nil, fmt.Errorf("conv %s: channels in %d, filters %d and width %d must be positive", name, in, out, k)
	}
	if !act.Valid() {
		return nil, fmt.Errorf("conv %s: unknown %v", name, act)
	}
	c := &Conv1D{In: in, Out: out, K: k, Act: act,
		W: neural.NewParam(name+".w", out, k, in), B: neural.NewParam(name+".b", out)}
	if act == neural.ReLU {
		init.He(c.W.W, k*in)
	} else {
		init.Glorot(c.W.W, k*in, out)
	}
	return c, nil
}

// Params returns the layer's parameters.
func (c *Conv1D) Params() []*neural.Param { return []*neural.Param{c.W, c.B} }

// OutLen is the number of output steps for t input steps (t − K + 1; less
// than 1 when the window is shorter than a filter).
func (c *Conv1D) OutLen(t int) int { return t - c.K + 1 }

// Forward convolves x (t × In) into y (OutLen(t) × Out).
func (c *Conv1D) Forward(y, x []float32, t int) {
	n := c.K * c.In
	tout := c.OutLen(t)
	w, b := c.W.W, c.B.W
	s := 0
	// Two output steps at a time when the filters come in fours: eight
	// independent sums from six loads per input element.
	if c.Out%4 == 0 {
		for ; s+2 <= tout; s += 2 {
			win := x[s*c.In : (s+1)*c.In+n]
			r0 := y[s*c.Out : (s+1)*c.Out]
			r1 := y[(s+1)*c.Out : (s+2)*c.Out]
			for o := 0; o+4 <= c.Out; o += 4 {
				dot4x2(r0[o:o+4], r1[o:o+4], w[o*n:(o+4)*n], win[:n], win[c.In:])
			}
			for o := range r0 {
				r0[o] += b[o]
				r1[o] += b[o]
			}
		}
	}
	for ; s < tout; s++ {
		win := x[s*c.In : s*c.In+n]
		row := y[s*c.Out : (s+1)*c.Out]
		for o := range row {
			row[o] = b[o] + dot(w[o*n:(o+1)*n], win)
		}
	}
	c.Act.Apply(y[:tout*c.Out])
}

// forwardRow computes one output row y (Out values) from the K input rows
// it covers, win (K × In), with the arithmetic Forward uses for a row:
// the same sums in the same order, so the same bits. It is what a Stream
// computes a row with; NewStream refuses the shapes where Forward's row
// arithmetic depends on the row's place in the window.
func (c *Conv1D) forwardRow(y, win []float32) {
	n := c.K * c.In
	w, b := c.W.W, c.B.W
	win = win[:n]
	if c.Out%4 == 0 {
		for o := 0; o+4 <= c.Out; o += 4 {
			dot4x1(y[o:o+4], w[o*n:(o+4)*n], win)
		}
		for o := range y[:c.Out] {
			y[o] += b[o]
		}
	} else {
		for o := range y[:c.Out] {
			y[o] = b[o] + dot(w[o*n:(o+1)*n], win)
		}
	}
	c.Act.Apply(y[:c.Out])
}

// Backward takes the gradient gy with respect to Forward's output y (it is
// overwritten), the input x, accumulates the parameter gradients and writes
// the gradient with respect to x into gx (nil when the input needs none).
func (c *Conv1D) Backward(gx, gy, x, y []float32, t int) {
	n := c.K * c.In
	tout := c.OutLen(t)
	c.Act.Backprop(gy[:tout*c.Out], y[:tout*c.Out])
	w, gw, gb := c.W.W, c.W.G, c.B.G
	if gx != nil {
		clear(gx[:t*c.In])
	}
	for s := range tout {
		win := x[s*c.In : s*c.In+n]
		for o, g := range gy[s*c.Out : (s+1)*c.Out] {
			if g == 0 { // common after ReLU: nothing flows back
				continue
			}
			gb[o] += g
			axpy(gw[o*n:(o+1)*n], g, win)
			if gx != nil {
				axpy(gx[s*c.In:s*c.In+n], g, w[o*n:(o+1)*n])
			}
		}
	}
}

// dot is Σ a[i]·b[i] with four accumulators: independent sums let the CPU
// overlap the additions, which the compiler will not reorder on its own.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// dot4x2 writes the dot products of the four consecutive rows of w (each
// len(x0) long) with x0 into out0 and with x1 into out1: each weight is
// loaded once for two time steps and each input once for four filters.
func dot4x2(out0, out1, w, x0, x1 []float32) {
	n := len(x0)
	x1 = x1[:n]
	w0, w1, w2, w3 := w[:n], w[n:2*n], w[2*n:3*n], w[3*n:4*n]
	var a0, a1, a2, a3, b0, b1, b2, b3 float32
	for i, u := range x0 {
		v := x1[i]
		a0 += w0[i] * u
		b0 += w0[i] * v
		a1 += w1[i] * u
		b1 += w1[i] * v
		a2 += w2[i] * u
		b2 += w2[i] * v
		a3 += w3[i] * u
		b3 += w3[i] * v
	}
	out0[0], out0[1], out0[2], out0[3] = a0, a1, a2, a3
	out1[0], out1[1], out1[2], out1[3] = b0, b1, b2, b3
}

// dot4x1 is dot4x2 for one input: out[j] is the dot product of row j of
// the four rows of w with x, summed as dot4x2 sums it (one accumulator
// per row, in index order), so that a Stream's rows match Forward's.
func dot4x1(out, w, x []float32) {
	n := len(x)
	w0, w1, w2, w3 := w[:n], w[n:2*n], w[2*n:3*n], w[3*n:4*n]
	var a0, a1, a2, a3 float32
	for i, u := range x {
		a0 += w0[i] * u
		a1 += w1[i] * u
		a2 += w2[i] * u
		a3 += w3[i] * u
	}
	out[0], out[1], out[2], out[3] = a0, a1, a2, a3
}

// axpy sets y[i] += a·x[i].
func axpy(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}
