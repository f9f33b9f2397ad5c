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
	w, b := d.W.W, d.B.W
	_ = x[d.In-1]
	for o := 0; o < d.Out; o++ {
		row := w[o*d.In : (o+1)*d.In]
		s := b[o]
		for i, v := range row {
			s += v * x[i]
		}
		y[o] = s
	}
	d.Act.Apply(y)
}

// Backward takes the gradient gy of the loss with respect to y (it is
// overwritten), the layer's input x and output y from Forward, accumulates
// the parameter gradients, and writes the gradient with respect to x into
// gx (which may be nil when the input needs none).
func (d *Dense) Backward(gx, gy, x, y []float32) {
	d.Act.Backprop(gy, y)
	w, gw, gb := d.W.W, d.W.G, d.B.G
	for o := 0; o < d.Out; o++ {
		g := gy[o]
		gb[o] += g
		row := gw[o*d.In : (o+1)*d.In]
		for i := range row {
			row[i] += g * x[i]
		}
	}
	if gx == nil {
		return
	}
	clear(gx[:d.In])
	for o := 0; o < d.Out; o++ {
		g := gy[o]
		row := w[o*d.In : (o+1)*d.In]
		for i, v := range row {
			gx[i] += g * v
		}
	}
}
