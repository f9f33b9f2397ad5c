package neural

import (
	"fmt"
	"math"
)

// Normalizer maps raw features to (x - Mean) / Std. It is stored with a
// model so the node feeds the network what it was trained on.
type Normalizer struct {
	Mean, Std []float32
}

// FitNormalizer computes per-feature mean and standard deviation over rows.
// A feature that never varies gets Std 1, so it passes through centred.
func FitNormalizer(rows [][]float32) (*Normalizer, error) {
	if len(rows) == 0 {
		return nil, fmt.Errorf("normalizer: no rows")
	}
	n := len(rows[0])
	sum, sq := make([]float64, n), make([]float64, n)
	for r, row := range rows {
		if len(row) != n {
			return nil, fmt.Errorf("normalizer: row %d has %d features; want %d", r, len(row), n)
		}
		if err := CheckFinite(fmt.Sprintf("row %d", r), row); err != nil {
			return nil, fmt.Errorf("normalizer: %w", err)
		}
		for i, v := range row {
			sum[i] += float64(v)
			sq[i] += float64(v) * float64(v)
		}
	}
	z := &Normalizer{Mean: make([]float32, n), Std: make([]float32, n)}
	c := float64(len(rows))
	for i := range n {
		mean := sum[i] / c
		std := math.Sqrt(math.Max(sq[i]/c-mean*mean, 0))
		if std < 1e-6 {
			std = 1
		}
		z.Mean[i], z.Std[i] = float32(mean), float32(std)
	}
	return z, nil
}

// Apply writes the normalised x into dst (which may be x).
func (z *Normalizer) Apply(dst, x []float32) {
	for i, v := range x {
		dst[i] = (v - z.Mean[i]) / z.Std[i]
	}
}

// Invert writes the raw value of normalised y into dst (which may be y).
func (z *Normalizer) Invert(dst, y []float32) {
	for i, v := range y {
		dst[i] = v*z.Std[i] + z.Mean[i]
	}
}
