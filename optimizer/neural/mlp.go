package neural

import "fmt"

// MLP is a stack of Dense layers. It owns the buffers of its activations, so
// Forward allocates nothing; an MLP is therefore not safe for concurrent use.
type MLP struct {
	Layers []*Dense
	acts   [][]float32 // acts[0] is the input copy, acts[i+1] layer i's output
	grads  [][]float32 // gradient buffers, same shapes as acts
}

// NewMLP builds an MLP with the given layer sizes (sizes[0] inputs, then one
// entry per layer), hidden activation for every layer but the last, and out
// for the last.
func NewMLP(name string, sizes []int, hidden, out Activation, init *Init) (*MLP, error) {
	if len(sizes) < 2 {
		return nil, fmt.Errorf("mlp %s: need at least an input and an output size; got %v", name, sizes)
	}
	m := &MLP{}
	for i := 0; i+1 < len(sizes); i++ {
		if sizes[i] < 1 || sizes[i+1] < 1 {
			return nil, fmt.Errorf("mlp %s: layer sizes must be positive; got %v", name, sizes)
		}
		act := hidden
		if i+2 == len(sizes) {
			act = out
		}
		m.Layers = append(m.Layers, NewDense(fmt.Sprintf("%s.%d", name, i), sizes[i], sizes[i+1], act, init))
	}
	m.alloc()
	return m, nil
}

func (m *MLP) alloc() {
	m.acts = make([][]float32, len(m.Layers)+1)
	m.grads = make([][]float32, len(m.Layers)+1)
	m.acts[0] = make([]float32, m.Layers[0].In)
	m.grads[0] = make([]float32, m.Layers[0].In)
	for i, l := range m.Layers {
		m.acts[i+1] = make([]float32, l.Out)
		m.grads[i+1] = make([]float32, l.Out)
	}
}

// In is the input width; Out the output width.
func (m *MLP) In() int  { return m.Layers[0].In }
func (m *MLP) Out() int { return m.Layers[len(m.Layers)-1].Out }

// Params returns every layer's parameters, in order.
func (m *MLP) Params() []*Param {
	var ps []*Param
	for _, l := range m.Layers {
		ps = append(ps, l.Params()...)
	}
	return ps
}

// Forward runs x through the network and returns the output, a slice owned
// by the MLP that the next Forward overwrites.
func (m *MLP) Forward(x []float32) []float32 {
	copy(m.acts[0], x)
	for i, l := range m.Layers {
		l.Forward(m.acts[i+1], m.acts[i])
	}
	return m.acts[len(m.Layers)]
}

// Backward takes the gradient of the loss with respect to the last
// Forward's output, accumulates parameter gradients, and returns the
// gradient with respect to the input (owned by the MLP).
func (m *MLP) Backward(gout []float32) []float32 {
	n := len(m.Layers)
	copy(m.grads[n], gout)
	for i := n - 1; i >= 0; i-- {
		m.Layers[i].Backward(m.grads[i], m.grads[i+1], m.acts[i], m.acts[i+1])
	}
	return m.grads[0]
}
