package neural

// Dense is a fully connected layer y = act(W x + b), W of shape [Out, In].
type Dense struct {
	In, Out int
	Act     Activation
	W, B    *Param
}

// NewDense builds a layer with Glorot (or He, for ReLU) weights and zero
// biases.
func NewDense(name string, in, out int, act Activation, init *Init) *Dense {
	d := &Dense{In: in, Out: out, Act: act, W: NewParam(name+".w", out, in), B: NewParam(name+".b", out)}
	if act == ReLU {
		init.He(d.W.W, in)
	} else {
		init.Glorot(d.W.W, in, out)
	}
	return d
}

// Params returns the layer's parameters.
func (d *Dense) Params() []*Param { return []*Param{d.W, d.B} }

// Forward writes act(W x + b) into y (len Out). x has len In.
func (d *Dense) Forward(y, x []float32) {
	in, out := d.In, d.Out
	w, b := d.W.W[:out*in], d.B.W[:out]
	x, y = x[:in], y[:out]
	for o := range y {
		y[o] = b[o] + dot(w[o*in:(o+1)*in], x)
	}
	d.Act.Apply(y)
}

// dot returns Σ a[i]·b[i] over len(a) (b at least as long). Four
// independent accumulators let the CPU overlap the multiply-adds instead of
// waiting on one running sum; the re-slicing lets the compiler drop the
// bounds checks in the loop. The summation order therefore differs from a
// plain loop's in the last bits.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		a4, b4 := a[i:i+4:i+4], b[i:i+4:i+4]
		s0 += a4[0] * b4[0]
		s1 += a4[1] * b4[1]
		s2 += a4[2] * b4[2]
		s3 += a4[3] * b4[3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpy adds alpha·x to y over len(y) (x at least as long).
func axpy(y []float32, alpha float32, x []float32) {
	x = x[:len(y)]
	i := 0
	for ; i+4 <= len(y); i += 4 {
		y4, x4 := y[i:i+4:i+4], x[i:i+4:i+4]
		y4[0] += alpha * x4[0]
		y4[1] += alpha * x4[1]
		y4[2] += alpha * x4[2]
		y4[3] += alpha * x4[3]
	}
	for ; i < len(y); i++ {
		y[i] += alpha * x[i]
	}
}

// Backward takes the gradient gy of the loss with respect to y (it is
// overwritten), the layer's input x and output y from Forward, accumulates
// the parameter gradients, and writes the gradient with respect to x into
// gx (which may be nil when the input needs none).
func (d *Dense) Backward(gx, gy, x, y []float32) {
	in, out := d.In, d.Out
	gy = gy[:out]
	d.Act.Backprop(gy, y)
	w, gw, gb := d.W.W[:out*in], d.W.G[:out*in], d.B.G[:out]
	x = x[:in]
	for o, g := range gy {
		gb[o] += g
		axpy(gw[o*in:(o+1)*in], g, x)
	}
	if gx == nil {
		return
	}
	gx = gx[:in]
	clear(gx)
	for o, g := range gy {
		axpy(gx, g, w[o*in:(o+1)*in])
	}
}
