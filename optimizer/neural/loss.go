package neural

import "math"

// MSE returns the mean squared error of y against want and writes its
// gradient with respect to y into g (when g is not nil).
func MSE(g, y, want []float32) float32 {
	var s float32
	n := float32(len(y))
	for i := range y {
		d := y[i] - want[i]
		s += d * d
		if g != nil {
			g[i] = 2 * d / n
		}
	}
	return s / n
}

// Softmax writes the softmax of logits into p.
func Softmax(p, logits []float32) {
	m := logits[0]
	for _, v := range logits[1:] {
		m = max(m, v)
	}
	var sum float64
	for i, v := range logits {
		e := math.Exp(float64(v - m))
		p[i] = float32(e)
		sum += e
	}
	for i := range p {
		p[i] = float32(float64(p[i]) / sum)
	}
}

// SoftmaxCrossEntropy returns the cross-entropy of softmax(logits) against
// the class label and writes the gradient with respect to the logits into g
// (when not nil). p receives the probabilities.
func SoftmaxCrossEntropy(g, p, logits []float32, label int) float32 {
	Softmax(p, logits)
	if g != nil {
		for i := range g {
			g[i] = p[i]
		}
		g[label]--
	}
	return -float32(math.Log(math.Max(float64(p[label]), 1e-12)))
}
