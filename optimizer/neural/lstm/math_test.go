package lstm

import (
	"math"
	"testing"
)

// TestFastMath compares the float32 non-linearities with float64 math over
// the range the gates see, including the branch edges.
func TestFastMath(t *testing.T) {
	for x := -100.0; x <= 100; x += 0.00731 {
		checkFast(t, x)
	}
	for _, x := range []float64{0, 0.0625, -0.0625, 0.06249, 9, -9, 44, -44, 87, -87, 88.3, -88.3, 89, -89} {
		checkFast(t, x)
	}
}

func checkFast(t *testing.T, x float64) {
	t.Helper()
	if got, want := float64(tanh32(float32(x))), math.Tanh(float64(float32(x))); math.Abs(got-want) > 2e-7+1e-6*math.Abs(want) {
		t.Fatalf("tanh32(%v) = %v; want %v", x, got, want)
	}
	s := 1 / (1 + math.Exp(-float64(float32(x))))
	if got := float64(sigmoid32(float32(x))); math.Abs(got-s) > 1e-7+1e-6*s {
		t.Fatalf("sigmoid32(%v) = %v; want %v", x, got, s)
	}
	if math.Abs(x) < 80 {
		e := math.Exp(float64(float32(x)))
		if got := float64(exp32(float32(x))); math.Abs(got-e) > 1e-6*e {
			t.Fatalf("exp32(%v) = %v; want %v", x, got, e)
		}
	}
}
