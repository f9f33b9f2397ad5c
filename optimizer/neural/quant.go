package neural

import (
	"errors"
	"fmt"
	"math"
)

// qmax is the largest int8 magnitude used. The range is symmetric
// (−127..127, never −128) so that negating a quantised value cannot
// overflow and zero is exactly representable.
const qmax = 127

// ErrCalibration reports calibration data that cannot set the activation
// scales: none at all, a row of the wrong width, or a non-finite value.
var ErrCalibration = errors.New("bad calibration data")

// QuantizedMLP is an MLP after post-training INT8 quantisation:
//
//   - weights: symmetric, per output channel: row o is stored as int8
//     q = round(w/s_o) with s_o = max|W[o,:]|/127;
//   - activations: symmetric, per tensor: the input of every layer is
//     quantised with one scale a = max|x|/127, the max-abs over the
//     calibration set of what the float network feeds that layer (max-abs
//     rather than a percentile: at this size the calibration set is the
//     node's own history, and clipping a rare large input costs more than
//     the resolution a percentile buys);
//   - Σ q_w·q_x accumulates in int32 (a 64-wide row of 127·127 products is
//     far from overflowing), then y = acc·(s_o·a) + b in float32, and the
//     activation is applied in float32 before the next layer quantises it.
//
// Values beyond the calibrated range saturate at ±127. Forward allocates
// nothing and, like MLP, is not safe for concurrent use.
type QuantizedMLP struct {
	layers []qLayer
	out    []float32 // the last layer's output
}

// qLayer is one quantised Dense layer.
type qLayer struct {
	in, out int
	act     Activation
	w       []int8    // [out, in], row-major
	rescale []float32 // per output: weight scale × input scale
	b       []float32
	invIn   float32   // 1 / input scale
	xq      []int32   // quantised input, int8 values widened once per layer rather than once per weight
	y       []float32 // float output
}

// Quantize returns an INT8 copy of m, its activation scales calibrated by
// running m (in float) over calib, rows of m.In() features, already
// normalised the way the caller feeds the network. m is not changed, but
// its activation buffers are overwritten.
func Quantize(m *MLP, calib [][]float32) (*QuantizedMLP, error) {
	if len(calib) == 0 {
		return nil, fmt.Errorf("quantize: %w: no rows", ErrCalibration)
	}
	for i, l := range m.Layers {
		if !l.Act.Valid() {
			return nil, fmt.Errorf("quantize: layer %d: unknown %v", i, l.Act)
		}
		if err := CheckFinite(l.W.Name, l.W.W); err != nil {
			return nil, fmt.Errorf("quantize: %w", err)
		}
		if err := CheckFinite(l.B.Name, l.B.W); err != nil {
			return nil, fmt.Errorf("quantize: %w", err)
		}
	}
	// maxAbs[i] is the largest |value| fed to layer i.
	maxAbs := make([]float32, len(m.Layers))
	for r, row := range calib {
		if len(row) != m.In() {
			return nil, fmt.Errorf("quantize: %w: row %d has %d features; want %d", ErrCalibration, r, len(row), m.In())
		}
		if err := CheckFinite(fmt.Sprintf("calibration row %d", r), row); err != nil {
			return nil, fmt.Errorf("quantize: %w: %w", ErrCalibration, err)
		}
		m.Forward(row)
		// Finite inputs and weights can still overflow to Inf.
		if err := CheckFinite(fmt.Sprintf("output for calibration row %d", r), m.acts[len(m.Layers)]); err != nil {
			return nil, fmt.Errorf("quantize: %w: %w", ErrCalibration, err)
		}
		for i := range m.Layers {
			if err := CheckFinite(fmt.Sprintf("layer %d input for calibration row %d", i, r), m.acts[i]); err != nil {
				return nil, fmt.Errorf("quantize: %w: %w", ErrCalibration, err)
			}
			for _, v := range m.acts[i] {
				maxAbs[i] = max(maxAbs[i], abs32(v))
			}
		}
	}

	q := &QuantizedMLP{layers: make([]qLayer, len(m.Layers))}
	for i, l := range m.Layers {
		// An input that was always zero quantises to zero with any
		// scale; 1 keeps the arithmetic finite.
		inScale := scaleFor(maxAbs[i])
		ql := qLayer{
			in: l.In, out: l.Out, act: l.Act,
			w:       make([]int8, l.In*l.Out),
			rescale: make([]float32, l.Out),
			b:       append([]float32(nil), l.B.W...),
			invIn:   1 / inScale,
			xq:      make([]int32, l.In),
			y:       make([]float32, l.Out),
		}
		for o := range l.Out {
			row := l.W.W[o*l.In : (o+1)*l.In]
			var wmax float32
			for _, v := range row {
				wmax = max(wmax, abs32(v))
			}
			// A dead (all-zero) channel gets scale 1: its int8 row is
			// all zeros and its output is the bias, as in float.
			ws := scaleFor(wmax)
			inv := 1 / ws
			for j, v := range row {
				ql.w[o*l.In+j] = quant8(v * inv)
			}
			ql.rescale[o] = ws * inScale
			if math.IsInf(float64(ql.rescale[o]), 0) {
				return nil, fmt.Errorf("quantize: layer %d output %d: rescale %g × %g: %w", i, o, ws, inScale, ErrNonFinite)
			}
		}
		q.layers[i] = ql
	}
	q.out = q.layers[len(q.layers)-1].y
	return q, nil
}

// scaleFor is the symmetric int8 scale for values within ±maxAbs, 1 when
// maxAbs is zero (or too small for its reciprocal to be finite).
func scaleFor(maxAbs float32) float32 {
	s := maxAbs / qmax
	if !(s > 0) || math.IsInf(float64(1/s), 0) {
		return 1
	}
	return s
}

// In is the input width.
func (q *QuantizedMLP) In() int { return q.layers[0].in }

// Out is the output width.
func (q *QuantizedMLP) Out() int { return q.layers[len(q.layers)-1].out }

// InputScales returns each layer's calibrated activation scale (the real
// value of one int8 step of its input), for reports.
func (q *QuantizedMLP) InputScales() []float32 {
	s := make([]float32, len(q.layers))
	for i, l := range q.layers {
		s[i] = 1 / l.invIn
	}
	return s
}

// Forward runs x (len In) through the quantised network and returns the
// output, a slice owned by q that the next Forward overwrites. x must be
// finite (CheckFinite it at the boundary, as for MLP): a NaN saturates to
// −127 rather than being detected here, which keeps this loop branch-light.
func (q *QuantizedMLP) Forward(x []float32) []float32 {
	for i := range q.layers {
		l := &q.layers[i]
		l.forward(x)
		x = l.y
	}
	return q.out
}

func (l *qLayer) forward(x []float32) {
	in, out := l.in, l.out
	x = x[:in]
	xq := l.xq[:in]
	inv := l.invIn
	for i, v := range x {
		xq[i] = int32(quant8(v * inv))
	}
	w, rescale, b, y := l.w[:in*out], l.rescale[:out], l.b[:out], l.y[:out]
	for o := range y {
		y[o] = float32(dot8(w[o*in:(o+1)*in], xq))*rescale[o] + b[o]
	}
	l.act.Apply(y)
}

// quant8 rounds v to the nearest integer, half away from zero, saturating
// at ±qmax; NaN gives −qmax.
func quant8(v float32) int8 {
	if !(v >= -qmax) {
		return -qmax
	}
	if v > qmax {
		return qmax
	}
	if v < 0 {
		return int8(v - 0.5)
	}
	return int8(v + 0.5)
}

// dot8 is Σ a[i]·b[i] in int32 over len(a) (b at least as long, holding
// int8 values), with four accumulators as dot has. 127·127·len stays
// within int32 for any layer narrower than 133 000 inputs.
func dot8(a []int8, b []int32) int32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 int32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		a4, b4 := a[i:i+4:i+4], b[i:i+4:i+4]
		s0 += int32(a4[0]) * b4[0]
		s1 += int32(a4[1]) * b4[1]
		s2 += int32(a4[2]) * b4[2]
		s3 += int32(a4[3]) * b4[3]
	}
	for ; i < len(a); i++ {
		s0 += int32(a[i]) * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }
