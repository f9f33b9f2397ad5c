package neural

import (
	"fmt"
	"math"
)

// Activation is an element-wise non-linearity. Its numeric value is stored
// in model files: never renumber.
type Activation int32

// The activations.
const (
	Linear  Activation = 0
	ReLU    Activation = 1
	Tanh    Activation = 2
	Sigmoid Activation = 3
)

func (a Activation) String() string {
	switch a {
	case Linear:
		return "linear"
	case ReLU:
		return "relu"
	case Tanh:
		return "tanh"
	case Sigmoid:
		return "sigmoid"
	default:
		return fmt.Sprintf("activation(%d)", int32(a))
	}
}

// Valid reports whether a is a known activation.
func (a Activation) Valid() bool { return a >= Linear && a <= Sigmoid }

// Apply sets x[i] = a(x[i]) in place.
func (a Activation) Apply(x []float32) {
	switch a {
	case ReLU:
		for i, v := range x {
			if v < 0 {
				x[i] = 0
			}
		}
	case Tanh:
		for i, v := range x {
			x[i] = tanh32(v)
		}
	case Sigmoid:
		for i, v := range x {
			x[i] = sigmoid32(v)
		}
	}
}

// Backprop multiplies the upstream gradient g by a'(.) given the
// activation's output y (every activation here has a derivative expressible
// in its output), in place.
func (a Activation) Backprop(g, y []float32) {
	switch a {
	case ReLU:
		for i := range g {
			if y[i] <= 0 {
				g[i] = 0
			}
		}
	case Tanh:
		for i := range g {
			g[i] *= 1 - y[i]*y[i]
		}
	case Sigmoid:
		for i := range g {
			g[i] *= y[i] * (1 - y[i])
		}
	}
}

func tanh32(x float32) float32 { return float32(math.Tanh(float64(x))) }

func sigmoid32(x float32) float32 {
	// Split by sign so exp never overflows.
	if x >= 0 {
		return float32(1 / (1 + math.Exp(-float64(x))))
	}
	e := math.Exp(float64(x))
	return float32(e / (1 + e))
}
