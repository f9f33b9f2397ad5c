package lstm

import "math"

// The gates take 5·H transcendental functions a step; math.Exp and
// math.Tanh in float64 cost more than the whole matrix-vector product, so
// the layer uses a float32 exp (Cephes expf: range reduction by ln 2 and a
// degree-5 polynomial, relative error about 2e-7) for its non-linearities.

const (
	expHi   = 88.3762626647949
	expLo   = -87.3365447505531 // exp below this is a float32 subnormal: flush to 0
	log2e   = 1.44269504088896341
	ln2Hi   = 0.693359375
	ln2Lo   = -2.12194440e-4
	expP0   = 1.9875691500e-4
	expP1   = 1.3981999507e-3
	expP2   = 8.3334519073e-3
	expP3   = 4.1665795894e-2
	expP4   = 1.6666665459e-1
	expP5   = 5.0000001201e-1
	maxTanh = 9.0 // tanh(9) is 1 to float32 precision
)

func exp32(x float32) float32 {
	switch {
	case x > expHi:
		return float32(math.Inf(1))
	case x < expLo:
		return 0
	}
	n := float32(math.Floor(float64(x*log2e + 0.5)))
	r := x - n*ln2Hi - n*ln2Lo
	r2 := r * r
	p := ((((expP0*r+expP1)*r+expP2)*r+expP3)*r+expP4)*r + expP5
	y := p*r2 + r + 1
	return y * math.Float32frombits(uint32(int32(n)+127)<<23)
}

func sigmoid32(x float32) float32 {
	// Split by sign so exp never overflows.
	if x >= 0 {
		return 1 / (1 + exp32(-x))
	}
	e := exp32(x)
	return e / (1 + e)
}

func tanh32(x float32) float32 {
	switch {
	case x > maxTanh:
		return 1
	case x < -maxTanh:
		return -1
	case x > -0.0625 && x < 0.0625:
		// 1 - 2/(e^2x+1) cancels near 0; the series is exact there to
		// float32 precision.
		x2 := x * x
		return x * (1 - x2/3 + 2*x2*x2/15)
	}
	return 1 - 2/(exp32(2*x)+1)
}
