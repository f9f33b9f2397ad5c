package neural

import "math"

// Optimizer updates parameters from their accumulated gradients.
type Optimizer interface {
	Step(ps []*Param)
}

// SGD is stochastic gradient descent with momentum and optional gradient
// clipping by global norm.
type SGD struct {
	LR       float32
	Momentum float32
	ClipNorm float32 // 0: no clipping
	vel      map[*Param][]float32
}

// Step applies one update. A step whose gradients are not all finite is
// skipped: one bad batch must not poison every weight.
func (o *SGD) Step(ps []*Param) {
	if !gradsFinite(ps) {
		return
	}
	if o.vel == nil {
		o.vel = make(map[*Param][]float32)
	}
	scale := clipScale(ps, o.ClipNorm)
	for _, p := range ps {
		v := o.vel[p]
		if v == nil {
			v = make([]float32, len(p.W))
			o.vel[p] = v
		}
		for i, g := range p.G {
			v[i] = o.Momentum*v[i] - o.LR*g*scale
			p.W[i] += v[i]
		}
	}
}

// Adam is the Adam optimiser (Kingma & Ba) with optional clipping by global
// norm.
type Adam struct {
	LR, Beta1, Beta2, Eps float32
	ClipNorm              float32 // 0: no clipping
	t                     int
	m, v                  map[*Param][]float32
}

// NewAdam returns Adam with the usual constants.
func NewAdam(lr float32) *Adam { return &Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

// Step applies one update, or none when the gradients are not all finite
// (as SGD.Step).
func (o *Adam) Step(ps []*Param) {
	if !gradsFinite(ps) {
		return
	}
	if o.m == nil {
		o.m, o.v = make(map[*Param][]float32), make(map[*Param][]float32)
	}
	o.t++
	c1 := 1 - float32(math.Pow(float64(o.Beta1), float64(o.t)))
	c2 := 1 - float32(math.Pow(float64(o.Beta2), float64(o.t)))
	scale := clipScale(ps, o.ClipNorm)
	for _, p := range ps {
		m, v := o.m[p], o.v[p]
		if m == nil {
			m, v = make([]float32, len(p.W)), make([]float32, len(p.W))
			o.m[p], o.v[p] = m, v
		}
		for i, g := range p.G {
			g *= scale
			m[i] = o.Beta1*m[i] + (1-o.Beta1)*g
			v[i] = o.Beta2*v[i] + (1-o.Beta2)*g*g
			mh, vh := m[i]/c1, v[i]/c2
			p.W[i] -= o.LR * mh / (float32(math.Sqrt(float64(vh))) + o.Eps)
		}
	}
}

// clipScale returns the factor that brings the global gradient norm to at
// most limit (1 when limit is 0 or the norm is within it).
func clipScale(ps []*Param, limit float32) float32 {
	if limit <= 0 {
		return 1
	}
	var s float64
	for _, p := range ps {
		for _, g := range p.G {
			s += float64(g) * float64(g)
		}
	}
	n := math.Sqrt(s)
	if n <= float64(limit) || n == 0 {
		return 1
	}
	return float32(float64(limit) / n)
}

// gradsFinite reports whether every gradient in ps is a finite number.
func gradsFinite(ps []*Param) bool {
	for _, p := range ps {
		for _, g := range p.G {
			// g-g is 0 for finite g and NaN for NaN or ±Inf.
			if g-g != 0 {
				return false
			}
		}
	}
	return true
}
