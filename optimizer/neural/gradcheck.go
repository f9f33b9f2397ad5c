package neural

import (
	"fmt"
	"math"
)

// CheckGradients compares the analytic gradients in ps (which the caller has
// just computed with loss's Forward/Backward) against central finite
// differences of loss, and returns an error naming the first weight whose
// relative error exceeds tol. loss must recompute the loss from scratch for
// the current weights and must not touch the gradients. It checks at most
// perParam weights of each parameter, spread evenly, to stay fast.
func CheckGradients(ps []*Param, loss func() float64, tol float64, perParam int) error {
	const h = 1e-2
	for _, p := range ps {
		step := max(1, len(p.W)/max(perParam, 1))
		for i := 0; i < len(p.W); i += step {
			orig := p.W[i]
			p.W[i] = orig + h
			lp := loss()
			p.W[i] = orig - h
			lm := loss()
			p.W[i] = orig
			num := (lp - lm) / (2 * h)
			ana := float64(p.G[i])
			den := math.Max(math.Abs(num)+math.Abs(ana), 1e-3)
			if rel := math.Abs(num-ana) / den; rel > tol {
				return fmt.Errorf("%s[%d]: analytic gradient %.6g, numeric %.6g (relative error %.3g > %.3g)", p.Name, i, ana, num, rel, tol)
			}
		}
	}
	return nil
}
