package conv_test

import (
	"fmt"

	"github.com/krystalstack/gamesa/optimizer/neural"
	"github.com/krystalstack/gamesa/optimizer/neural/conv"
)

// A rising-edge detector over one channel: filter [-1 1] and a max pool
// that keeps the strongest edge of each half of the window.
func Example() {
	c, err := conv.NewConv1D("edge", 1, 1, 2, neural.ReLU, neural.NewInit(1))
	if err != nil {
		fmt.Println(err)
		return
	}
	copy(c.W.W, []float32{-1, 1})
	x := []float32{0, 0, 3, 3, 3, 1, 2, 2, 2}
	y := make([]float32, c.OutLen(len(x)))
	c.Forward(y, x, len(x))
	p := conv.Pool{Kind: conv.MaxPool, Size: 4}
	z := make([]float32, p.OutLen(len(y)))
	p.Forward(z, y, len(y), 1)
	fmt.Println(y, z)
	// Output: [0 3 0 0 0 1 0 0] [3 1]
}
