package neural

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// ErrNonFinite reports a NaN or an infinity where a number must be finite.
var ErrNonFinite = errors.New("non-finite value")

// Param is one trainable array and its gradient, row-major in Shape.
type Param struct {
	Name  string
	Shape []int
	W     []float32 // weights
	G     []float32 // gradient, accumulated by Backward
}

// NewParam allocates a zeroed parameter of the given shape.
func NewParam(name string, shape ...int) *Param {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return &Param{Name: name, Shape: append([]int(nil), shape...), W: make([]float32, n), G: make([]float32, n)}
}

// ZeroGrad clears the gradients of ps.
func ZeroGrad(ps []*Param) {
	for _, p := range ps {
		clear(p.G)
	}
}

// CheckFinite returns an error wrapping ErrNonFinite naming the first NaN or
// infinity in xs.
func CheckFinite(what string, xs []float32) error {
	for i, x := range xs {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("%s[%d] = %v: %w", what, i, x, ErrNonFinite)
		}
	}
	return nil
}

// Init draws initial weights from a seeded source.
type Init struct{ rng *rand.Rand }

// NewInit returns an initialiser; the same seed gives the same weights.
func NewInit(seed uint64) *Init {
	return &Init{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Uniform fills w from U(-limit, limit).
func (in *Init) Uniform(w []float32, limit float64) {
	for i := range w {
		w[i] = float32((in.rng.Float64()*2 - 1) * limit)
	}
}

// Glorot fills w for a layer of fanIn inputs and fanOut outputs (tanh,
// sigmoid, linear layers).
func (in *Init) Glorot(w []float32, fanIn, fanOut int) {
	in.Uniform(w, math.Sqrt(6/float64(fanIn+fanOut)))
}

// He fills w for a ReLU layer of fanIn inputs.
func (in *Init) He(w []float32, fanIn int) {
	in.Uniform(w, math.Sqrt(6/float64(fanIn)))
}

// Rand exposes the initialiser's source for other seeded choices (shuffles,
// dropout masks), so one seed drives a whole training run.
func (in *Init) Rand() *rand.Rand { return in.rng }
