package thermal

import (
	"fmt"
	"math"

	"github.com/krystalstack/gamesa/optimizer/neural"
)

// The linear autoregressive baseline sees the same features as the LSTM,
// normalised, at these lags (steps back), plus a bias: ARX on the last
// 30 s. It forecasts the same temperature changes.
var linLags = [...]int{0, 1, 2, 5, 10, 30}

const linInputs = 1 + len(linLags)*numFeatures

// linRidge regularises the normal equations (in normalised units) so that
// collinear lags (a constant clock, say) still solve.
const linRidge = 1e-3

// linInput writes the baseline's inputs given the raw row at each lag.
func (m *Model) linInput(dst []float64, lag func(k int) []float32) {
	dst[0] = 1
	var xn [numFeatures]float32
	for j, k := range linLags {
		m.in.Apply(xn[:], lag(k))
		for f, v := range xn {
			dst[1+j*numFeatures+f] = float64(v)
		}
	}
}

// linPredict returns the baseline's forecast changes.
func (m *Model) linPredict(x []float64) [NumHorizons]float64 {
	return linForecast(m.lin.W, x)
}

// linForecast returns the forecast changes of linear weights w
// ([NumHorizons, linInputs]) for inputs x.
func linForecast(w []float32, x []float64) (y [NumHorizons]float64) {
	for h := range NumHorizons {
		for i, v := range w[h*linInputs : (h+1)*linInputs] {
			y[h] += float64(v) * x[i]
		}
	}
	return y
}

// fitLinear solves the ridge least-squares problem for the baseline over
// every row of d with a full future, lags clamped to the segment's start
// as a stream clamps them.
func (m *Model) fitLinear(d *dataset) error {
	a, rows, err := m.solveLinear(d, m.lin.W, func(int) bool { return false })
	if err != nil {
		return err
	}
	// The second moment sets the adaptation's covariance (initAdapt).
	for i, v := range a {
		m.gram.W[i] = float32(v / float64(rows))
	}
	m.linOK = true
	return nil
}

// solveLinear fits linear weights w ([NumHorizons, linInputs]) on the rows
// of d that skip does not exclude and returns the regularised normal
// matrix (before its factorisation) and the row count.
func (m *Model) solveLinear(d *dataset, w []float32, skip func(i int) bool) ([]float64, int, error) {
	const n = linInputs
	a := make([]float64, n*n)
	b := make([]float64, n*NumHorizons)
	x := make([]float64, n)
	var y [NumHorizons]float32
	segStart := 0
	rows := 0
	for i := range d.n() {
		if i > 0 && d.seg[i] != d.seg[i-1] {
			segStart = i
		}
		if !d.hasTarget(i, MaxHorizon) || skip(i) {
			continue
		}
		m.linInput(x, func(k int) []float32 { return d.row(max(i-k, segStart)) })
		delta(d, i, y[:])
		for r := range n {
			xr := x[r]
			for c := r; c < n; c++ {
				a[r*n+c] += xr * x[c]
			}
			for h := range NumHorizons {
				b[r*NumHorizons+h] += xr * float64(y[h])
			}
		}
		rows++
	}
	if rows < n {
		return nil, 0, fmt.Errorf("%w: %d rows for a %d-input linear baseline", ErrNoData, rows, n)
	}
	for r := range n {
		for c := 0; c < r; c++ {
			a[r*n+c] = a[c*n+r]
		}
		a[r*n+r] += linRidge * float64(rows)
	}
	gram := append([]float64(nil), a...)
	if err := cholesky(a, n); err != nil {
		return nil, 0, fmt.Errorf("thermal: linear baseline: %w", err)
	}
	col := make([]float64, n)
	for h := range NumHorizons {
		for r := range n {
			col[r] = b[r*NumHorizons+h]
		}
		cholSolve(a, n, col)
		for r := range n {
			w[h*n+r] = float32(col[r])
		}
	}
	if err := neural.CheckFinite("linear", w); err != nil {
		return nil, 0, fmt.Errorf("thermal: linear baseline: %w", err)
	}
	return gram, rows, nil
}

// cholesky factors the symmetric positive definite n×n matrix a in place
// into L (lower triangle).
func cholesky(a []float64, n int) error {
	for j := range n {
		s := a[j*n+j]
		for k := range j {
			s -= a[j*n+k] * a[j*n+k]
		}
		if !(s > 0) {
			return fmt.Errorf("matrix not positive definite at %d", j)
		}
		a[j*n+j] = math.Sqrt(s)
		for i := j + 1; i < n; i++ {
			s := a[i*n+j]
			for k := range j {
				s -= a[i*n+k] * a[j*n+k]
			}
			a[i*n+j] = s / a[j*n+j]
		}
	}
	return nil
}

// cholSolve solves L Lᵀ x = b in place given cholesky's factor.
func cholSolve(l []float64, n int, b []float64) {
	for i := range n {
		s := b[i]
		for k := range i {
			s -= l[i*n+k] * b[k]
		}
		b[i] = s / l[i*n+i]
	}
	for i := n - 1; i >= 0; i-- {
		s := b[i]
		for k := i + 1; k < n; k++ {
			s -= l[k*n+i] * b[k]
		}
		b[i] = s / l[i*n+i]
	}
}
