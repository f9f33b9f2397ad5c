package conv

import (
	"fmt"

	"github.com/krystalstack/gamesa/optimizer/neural"
)

// Block is one stage of a Net: a ReLU convolution with Filters filters of
// width Width, then Pool (a Pool of Size 0 or 1 means none).
type Block struct {
	Filters, Width int
	Pool           Pool
}

// Net is a 1-D CNN classifier or regressor: Blocks of convolution and
// pooling over a T × In window, global average pooling over the remaining
// steps, and a linear Dense head to Out outputs. It owns its activation
// buffers, so Forward allocates nothing; a Net is not safe for concurrent
// use.
type Net struct {
	T, In  int
	Convs  []*Conv1D
	Pools  []Pool // Pools[i] follows Convs[i]; Size 0 when there is none
	Global Pool   // the global average pool after the last block
	Head   *neural.Dense

	// Buffers, one per stage boundary: acts[0] is the input, then each
	// convolution's and each pooling's output, the global average and the
	// head's output. lens holds the steps of the time-major ones.
	acts, grads [][]float32
	lens        []int
}

// NewNet builds a Net over windows of t steps × in channels.
func NewNet(name string, t, in int, blocks []Block, out int, init *neural.Init) (*Net, error) {
	if t < 1 || in < 1 || out < 1 || len(blocks) == 0 {
		return nil, fmt.Errorf("net %s: window %d×%d, %d outputs and %d blocks must all be positive", name, t, in, out, len(blocks))
	}
	n := &Net{T: t, In: in}
	steps, ch := t, in
	n.addBuf(steps, ch)
	for i, b := range blocks {
		c, err := NewConv1D(fmt.Sprintf("%s.conv%d", name, i), ch, b.Filters, b.Width, neural.ReLU, init)
		if err != nil {
			return nil, fmt.Errorf("net %s: block %d: %w", name, i, err)
		}
		if steps = c.OutLen(steps); steps < 1 {
			return nil, fmt.Errorf("net %s: block %d: filter width %d is longer than the %d steps left", name, i, b.Width, steps+b.Width-1)
		}
		ch = b.Filters
		n.Convs = append(n.Convs, c)
		n.addBuf(steps, ch)
		p := b.Pool
		if p.Size > 1 {
			if err := p.Validate(); err != nil {
				return nil, fmt.Errorf("net %s: block %d: %w", name, i, err)
			}
			if steps = p.OutLen(steps); steps < 1 {
				return nil, fmt.Errorf("net %s: block %d: pool of %d is longer than the %d steps left", name, i, p.Size, steps)
			}
			n.addBuf(steps, ch)
		} else {
			p = Pool{}
		}
		n.Pools = append(n.Pools, p)
	}
	n.Global = Pool{Kind: AvgPool, Size: steps}
	n.addBuf(1, ch)
	n.Head = neural.NewDense(name+".head", ch, out, neural.Linear, init)
	n.addBuf(1, out)
	return n, nil
}

func (n *Net) addBuf(steps, ch int) {
	n.acts = append(n.acts, make([]float32, steps*ch))
	n.grads = append(n.grads, make([]float32, steps*ch))
	n.lens = append(n.lens, steps)
}

// Out is the number of outputs.
func (n *Net) Out() int { return n.Head.Out }

// Params returns every layer's parameters, in order.
func (n *Net) Params() []*neural.Param {
	var ps []*neural.Param
	for _, c := range n.Convs {
		ps = append(ps, c.Params()...)
	}
	return append(ps, n.Head.Params()...)
}

// Forward runs a T × In window x through the network and returns the
// outputs (logits for a classifier), a slice owned by the Net that the next
// Forward overwrites.
func (n *Net) Forward(x []float32) []float32 {
	copy(n.acts[0], x[:n.T*n.In])
	k := 0
	for i, c := range n.Convs {
		c.Forward(n.acts[k+1], n.acts[k], n.lens[k])
		k++
		if p := n.Pools[i]; p.Size > 1 {
			p.Forward(n.acts[k+1], n.acts[k], n.lens[k], c.Out)
			k++
		}
	}
	n.Global.Forward(n.acts[k+1], n.acts[k], n.lens[k], n.Head.In)
	k++
	n.Head.Forward(n.acts[k+1], n.acts[k])
	return n.acts[k+1]
}

// Backward takes the gradient of the loss with respect to the last
// Forward's output, accumulates parameter gradients, and returns the
// gradient with respect to the input (owned by the Net).
func (n *Net) Backward(gout []float32) []float32 {
	k := len(n.acts) - 1
	copy(n.grads[k], gout)
	n.Head.Backward(n.grads[k-1], n.grads[k], n.acts[k-1], n.acts[k])
	k--
	n.Global.Backward(n.grads[k-1], n.grads[k], n.acts[k-1], n.acts[k], n.lens[k-1], n.Head.In)
	k--
	for i := len(n.Convs) - 1; i >= 0; i-- {
		c := n.Convs[i]
		if p := n.Pools[i]; p.Size > 1 {
			p.Backward(n.grads[k-1], n.grads[k], n.acts[k-1], n.acts[k], n.lens[k-1], c.Out)
			k--
		}
		c.Backward(n.grads[k-1], n.grads[k], n.acts[k-1], n.acts[k], n.lens[k-1])
		k--
	}
	return n.grads[0]
}
