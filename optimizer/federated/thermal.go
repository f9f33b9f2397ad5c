package federated

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/krystalstack/gamesa/optimizer/neural"
	"github.com/krystalstack/gamesa/optimizer/neural/thermal"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// The thermal predictor's federated training, built from the exported
// pieces of optimizer/neural/thermal (which has no federated hook):
//
//   - Round 0 (ThermalTrainer.Fit, MergeThermalFits): each node fits the
//     predictor's normalisers and linear part to its own data, with no
//     LSTM step; the leader pools them into one starting model, the one
//     central training would start from on all nodes' rows. The input
//     normaliser pools exactly (means and variances weighted by rows);
//     the linear part is the ridge least-squares solution over all
//     nodes' rows, recovered from each node's solution and second moment
//     once both are moved to the pooled normalisation (exact up to the
//     float32 rounding of the files); the output normaliser is that of
//     the residual over the pooled linear part, which the LSTM learns on
//     every node (see residualNorm). The LSTM starts from the common
//     seed.
//   - Rounds 1..R (ThermalTrainer.Train, Merge, Server.Apply): each node
//     loads the global model, replays its data and runs a bounded number
//     of Adam steps on the LSTM and head; the linear part and
//     normalisers stay the global model's, so only the LSTM's deltas are
//     non-zero. Many short rounds (5 to 10 steps), with server momentum
//     (Server) at the larger budget, come within 4 % of central training
//     at the same compute; see the experiment in experiment_test.go.
//   - Each node then keeps a copy fine-tuned on its own data when it
//     forecasts the node's newest data better (ThermalTrainer.Personalise).
//
// What thermal lacks for more: a hook between Backward and Step, or
// exported parameters, for FedProx's proximal term; a way to load new
// weights into a model that already holds the node's data (each round
// replays it, which costs more than a round's training at a few steps);
// and a seed for the window sampling of a loaded model (Load seeds it
// with 1).

// ThermalTrainer is the node side of federated thermal training.
type ThermalTrainer struct {
	// Config is the predictor's shape and training settings; every node
	// of a federation uses the same Hidden and Seed.
	Config thermal.Config
	// Steps is the bound on local training per round, in Adam steps.
	Steps int
}

// Rows is the number of observations in series: the weight of a node's
// update in FedAvg.
func Rows(series []thermal.Series) uint64 {
	var n uint64
	for _, s := range series {
		n += uint64(len(s.Points))
	}
	return n
}

// Fit is a node's round 0: the predictor's normalisers and linear part
// fitted to series, LSTM untrained. It returns the model file.
func (t ThermalTrainer) Fit(series []thermal.Series) ([]byte, error) {
	cfg := t.Config
	cfg.TrainSteps = 0
	m, _, err := thermal.Train(series, cfg)
	if err != nil {
		return nil, fmt.Errorf("federated: thermal fit: %w", err)
	}
	return m.MarshalBinary()
}

// Train is a node's round: it loads the global model file, replays series
// through it and runs Steps Adam steps from the global weights. It
// returns the trained model file.
//
// A loaded model samples its training windows from a fixed seed, so
// each round the replay starts at another offset (from round): the same
// draws then pick other windows. The rotated part comes earlier in time,
// which the model takes as a new stream, so no window spans the seam.
func (t ThermalTrainer) Train(global []byte, series []thermal.Series, round uint64) ([]byte, error) {
	cfg := t.Config
	rows := int(Rows(series))
	// Keep every row (the replay buffer drops its oldest half when full)
	// and let a node with little data train at all.
	cfg.ReplayCapacity = max(cfg.ReplayCapacity, 2*rows)
	cfg.MinRows = max(min(cfg.MinRows, rows), cfg.Window+thermal.MaxHorizon+cfg.TargetSmooth+1)
	m, err := thermal.Load(global, cfg)
	if err != nil {
		return nil, fmt.Errorf("federated: thermal round: %w", err)
	}
	for _, s := range series {
		n := len(s.Points)
		if n == 0 {
			continue
		}
		off := int((round * 7919) % uint64(n))
		for k := range n {
			i := (off + k) % n
			if err := m.ObservePoint(s.Points[i]); err != nil {
				return nil, fmt.Errorf("federated: thermal round: %s point %d: %w", s.Name, i, err)
			}
		}
	}
	if _, err := m.Train(t.Steps); err != nil {
		return nil, fmt.Errorf("federated: thermal round: %w", err)
	}
	return m.MarshalBinary()
}

// Score is a model file's forecast error on series: the RMSE against the
// raw temperature over all their scored points, averaged over the
// horizons (°C). Series too short to score a point are an error wrapping
// thermal.ErrNoData. It is what a node validates with, and what it may
// report as a round's metric.
func (t ThermalTrainer) Score(model []byte, series []thermal.Series) (float64, error) {
	m, err := thermal.Load(model, t.Config)
	if err != nil {
		return 0, fmt.Errorf("federated: thermal score: %w", err)
	}
	return score(m, series)
}

func score(m *thermal.Model, series []thermal.Series) (float64, error) {
	r := thermal.Evaluate(m, series)
	if r.Points == 0 {
		return 0, fmt.Errorf("federated: thermal score: %w: no point to score in %d series", thermal.ErrNoData, len(series))
	}
	var s float64
	for _, v := range r.Raw.LSTM.RMSE {
		s += v
	}
	return s / thermal.NumHorizons, nil
}

// Personal is a node's copy of a global model (Personalise).
type Personal struct {
	// Model is the file the node should run: the fine-tuned copy when
	// it validated better than the global model, else the global model.
	Model []byte
	// Kept says that Model is the fine-tuned copy.
	Kept bool
	// Global and Tuned are the two models' Score on the validation
	// series.
	Global, Tuned float64
}

// Personalise is what a node does with a new global model: it
// fine-tunes a copy on its own train series (Train's Steps Adam steps
// from the global weights; the linear part and the normalisers stay the
// global model's) and keeps the copy when it forecasts the node's val
// series (newer data that train lacks) better than the global model
// does. The global model helps a node with little data most; the copy
// adds what is peculiar to the node's machine where there is enough of
// it to tell.
func (t ThermalTrainer) Personalise(global []byte, train, val []thermal.Series) (Personal, error) {
	g, err := t.Score(global, val)
	if err != nil {
		return Personal{}, fmt.Errorf("federated: personalise: %w", err)
	}
	tuned, err := t.Train(global, train, 0)
	if err != nil {
		return Personal{}, fmt.Errorf("federated: personalise: %w", err)
	}
	p, err := t.Score(tuned, val)
	if err != nil {
		return Personal{}, fmt.Errorf("federated: personalise: %w", err)
	}
	if p < g {
		return Personal{Model: tuned, Kept: true, Global: g, Tuned: p}, nil
	}
	return Personal{Model: global, Global: g, Tuned: p}, nil
}

// ThermalFit is one node's round-0 answer.
type ThermalFit struct {
	Node  string
	Model []byte // ThermalTrainer.Fit's file
	Rows  uint64 // Rows of the node's series
}

// thermal's file layout (checked against the arch): tensors in this
// order, arch = [features, hidden, horizons, linear inputs, format].
const (
	thermalTensors = 6
	tLinear        = 4
	tGram          = 5
)

// MergeThermalFits pools the nodes' round-0 fits into the first global
// model (version 1), as described above. Fits are taken in node order,
// so the result does not depend on the order of fits.
func MergeThermalFits(fits []ThermalFit) (*gamesav1.Model, []byte, error) {
	if len(fits) == 0 {
		return nil, nil, fmt.Errorf("federated: thermal fits: %w: none", ErrTooFew)
	}
	fits = slices.Clone(fits)
	slices.SortFunc(fits, func(a, b ThermalFit) int { return cmp.Compare(a.Node, b.Node) })
	ms := make([]*gamesav1.Model, len(fits))
	var total float64
	var err error
	for i, f := range fits {
		m, err := neural.Decode(f.Model, thermal.Kind)
		if err != nil {
			return nil, nil, refuse(f.Node, ErrMalformed, "%v", err)
		}
		if err := checkThermal(m, ms[0]); err != nil {
			return nil, nil, refuse(f.Node, ErrShape, "%v", err)
		}
		if f.Rows == 0 {
			return nil, nil, refuse(f.Node, ErrSamples, "no rows")
		}
		ms[i] = m
		total += float64(f.Rows)
	}
	w := make([]float64, len(fits))
	for i, f := range fits {
		w[i] = float64(f.Rows) / total
	}
	out := proto.CloneOf(ms[0])
	out.Input = poolNorm(ms, w, func(m *gamesav1.Model) *gamesav1.Normalization { return m.Input })
	// The LSTM and head start from the common seed: their mean is that.
	for _, k := range []int{0, 1, 2, 3} {
		d := out.Tensors[k].Data
		for j := range d {
			var s float64
			for i, m := range ms {
				s += w[i] * float64(m.Tensors[k].Data[j])
			}
			d[j] = float32(s)
		}
	}
	if err := poolLinear(out, ms, w); err != nil {
		return nil, nil, err
	}
	if out.Output, err = residualNorm(out, ms, w); err != nil {
		return nil, nil, err
	}
	out.Version = 1
	out.TrainingSamples = uint64(total)
	out.ContentHash = neural.Hash(out)
	data, err := proto.Marshal(out)
	if err != nil {
		return nil, nil, fmt.Errorf("federated: thermal fits: %w", err)
	}
	return out, data, nil
}

func checkThermal(m, first *gamesav1.Model) error {
	a := m.GetArch()
	if len(a) != 5 || len(m.Tensors) != thermalTensors || m.Input == nil || m.Output == nil {
		return fmt.Errorf("not a fitted thermal model (arch %v, %d tensors)", a, len(m.Tensors))
	}
	nf, nh, nl := int(a[0]), int(a[2]), int(a[3])
	if nf < 1 || nh < 1 || nl < 1 || (nl-1)%nf != 0 || len(m.Input.Mean) != nf || len(m.Output.Mean) != nh ||
		len(m.Tensors[tLinear].Data) != nh*nl || len(m.Tensors[tGram].Data) != nl*nl {
		return fmt.Errorf("thermal layout not as expected (arch %v)", a)
	}
	if first != nil && !slices.Equal(a, first.Arch) {
		return fmt.Errorf("arch %v, another node's is %v", a, first.Arch)
	}
	return nil
}

// poolNorm pools per-node normalisers into the one of all rows: weighted
// means, and variances from the weighted second moments.
func poolNorm(ms []*gamesav1.Model, w []float64, get func(*gamesav1.Model) *gamesav1.Normalization) *gamesav1.Normalization {
	n := len(get(ms[0]).Mean)
	out := &gamesav1.Normalization{Mean: make([]float32, n), Std: make([]float32, n)}
	for f := range n {
		var m1, m2 float64
		for i, m := range ms {
			mu, sd := float64(get(m).Mean[f]), float64(get(m).Std[f])
			m1 += w[i] * mu
			m2 += w[i] * (sd*sd + mu*mu)
		}
		sd := math.Sqrt(math.Max(m2-m1*m1, 0))
		if sd < 1e-6 {
			sd = 1 // as neural.FitNormalizer: a constant passes through centred
		}
		out.Mean[f], out.Std[f] = float32(m1), float32(sd)
	}
	return out
}

// poolLinear sets out's linear part to the least-squares solution over
// every node's rows in out's input normalisation. Node i's inputs x_i
// (bias, then each lag's normalised features) relate to the pooled ones
// by x_i = A_i x with A_i affine per feature, so its second moment in
// pooled units is A_i⁻¹ G_i A_i⁻ᵀ and its right-hand side A_i⁻¹ G_i w_i;
// the pooled solution solves the weighted sums. Each node's ridge is
// taken out of its G_i and the ridge put back once in pooled units, so
// the result is the fit central training makes on all rows (to float32
// rounding), and out's second moment is that of all rows.
func poolLinear(out *gamesav1.Model, ms []*gamesav1.Model, w []float64) error {
	nh, nl := int(out.Arch[2]), int(out.Arch[3])
	gsum := make([]float64, nl*nl)
	rhs := make([]float64, nl*nh)
	ainv := make([]float64, nl*nl)
	g := make([]float64, nl*nl)
	tmp := make([]float64, nl*nl)
	var ridge float64
	for i, m := range ms {
		toPooled(ainv, out, m)
		for j, v := range m.Tensors[tGram].Data {
			g[j] = float64(v)
		}
		// G_i W_iᵀ is the node's Xᵀy/n whatever its ridge: rhs += w ·
		// A⁻¹ G_i W_iᵀ.
		matMul(tmp, ainv, g, nl, nl, nl, false)
		lin := m.Tensors[tLinear].Data
		for r := range nl {
			for h := range nh {
				var s float64
				for c := range nl {
					s += tmp[r*nl+c] * float64(lin[h*nl+c])
				}
				rhs[r*nh+h] += w[i] * s
			}
		}
		// The second moment without the node's ridge, in pooled units:
		// gsum += w · A⁻¹ (G_i − λ_i I) A⁻ᵀ.
		lambda := nodeRidge(m.Tensors[tGram].Data)
		for k := range nl {
			g[k*nl+k] -= lambda
		}
		matMul(tmp, ainv, g, nl, nl, nl, false)
		matMul(g, tmp, ainv, nl, nl, nl, true)
		for j, v := range g {
			gsum[j] += w[i] * v
		}
		ridge += w[i] * lambda
	}
	// The ridge of central training on all rows, in pooled units.
	for k := range nl {
		gsum[k*nl+k] += ridge
	}
	for j, v := range gsum {
		out.Tensors[tGram].Data[j] = float32(v)
	}
	if err := cholesky(gsum, nl); err != nil {
		return fmt.Errorf("federated: pooled linear part: %w", err)
	}
	col := make([]float64, nl)
	for h := range nh {
		for r := range nl {
			col[r] = rhs[r*nh+h]
		}
		cholSolve(gsum, nl, col)
		for r := range nl {
			out.Tensors[tLinear].Data[h*nl+r] = float32(col[r])
		}
	}
	if err := neural.CheckFinite("linear", out.Tensors[tLinear].Data); err != nil {
		return fmt.Errorf("federated: pooled linear part: %w", err)
	}
	return nil
}

// nodeRidge is the ridge λ of a node's linear fit: its regularised
// second moment G = XᵀX/n + λI has the bias input, always 1, at [0][0].
func nodeRidge(gram []float32) float64 { return math.Max(float64(gram[0])-1, 0) }

func dot(a, b []float64) float64 {
	var s float64
	for i, x := range a {
		s += x * b[i]
	}
	return s
}

// toPooled sets ainv (linInputs²) to A⁻¹ for node model m: its linear
// inputs x_i (bias, then each lag's features in m's normalisation) are
// A x for x the same in out's.
func toPooled(ainv []float64, out, m *gamesav1.Model) {
	nf, nl := int(out.Arch[0]), int(out.Arch[3])
	clear(ainv)
	ainv[0] = 1
	for k := 1; k < nl; k++ {
		f := (k - 1) % nf
		a := float64(out.Input.Std[f]) / float64(m.Input.Std[f])
		b := (float64(out.Input.Mean[f]) - float64(m.Input.Mean[f])) / float64(m.Input.Std[f])
		ainv[k*nl+k] = 1 / a
		ainv[k*nl] = -b / a
	}
}

// residualNorm returns the output normalisation of what the LSTM learns
// on every node's rows: the residual over out's (pooled)
// linear part, not over the node's own. On node i that residual is the
// node's own e plus s = x_iᵀd, d the node's linear weights w_i less the
// pooled ones in its units. Ridge least squares leaves E[e x_i] = λw_i,
// so E[r] = E[e] + E[s], E[e s] = λdᵀw_i and E[s²] = dᵀ(G_i − λI)d,
// with E[x_i] the first row of G_i; the LSTM's target is smoothed
// (thermal.Config.TargetSmooth), which this ignores: on simulated
// machines the result is within 2 % of central training's.
func residualNorm(out *gamesav1.Model, ms []*gamesav1.Model, w []float64) (*gamesav1.Normalization, error) {
	nh, nl := int(out.Arch[2]), int(out.Arch[3])
	ainv := make([]float64, nl*nl)
	d := make([]float64, nl)
	m1, m2 := make([]float64, nh), make([]float64, nh)
	pooled := out.Tensors[tLinear].Data
	for i, m := range ms {
		toPooled(ainv, out, m)
		g := m.Tensors[tGram].Data
		for h := range nh {
			own := m.Tensors[tLinear].Data[h*nl : (h+1)*nl]
			// d = w_i − A⁻ᵀ w_pooled.
			for c := range nl {
				var s float64
				for r := range nl {
					s += ainv[r*nl+c] * float64(pooled[h*nl+r])
				}
				d[c] = float64(own[c]) - s
			}
			// E[s] (E[x_i] is G_i's first row, its bias being 1), E[s²]
			// (G_i holds the ridge on its diagonal) and E[e s].
			lambda := nodeRidge(g)
			es, es2, ees := d[0], -lambda*dot(d, d), 0.0
			for r := range nl {
				if r > 0 {
					es += d[r] * float64(g[r])
				}
				for c := range nl {
					es2 += d[r] * float64(g[r*nl+c]) * d[c]
				}
				ees += lambda * d[r] * float64(own[r])
			}
			mu, sd := float64(m.Output.Mean[h]), float64(m.Output.Std[h])
			m1[h] += w[i] * (mu + es)
			m2[h] += w[i] * (sd*sd + mu*mu + 2*ees + es2)
		}
	}
	norm := &gamesav1.Normalization{Mean: make([]float32, nh), Std: make([]float32, nh)}
	for h := range nh {
		sd := math.Sqrt(math.Max(m2[h]-m1[h]*m1[h], 0))
		if sd < 1e-6 {
			sd = 1 // as neural.FitNormalizer
		}
		norm.Mean[h], norm.Std[h] = float32(m1[h]), float32(sd)
	}
	if err := errors.Join(neural.CheckFinite("mean", norm.Mean), neural.CheckFinite("std", norm.Std)); err != nil {
		return nil, fmt.Errorf("federated: pooled output normalisation: %w", err)
	}
	return norm, nil
}

// matMul sets dst (n×m) = a (n×k) · b, with b k×m or, transposed, m×k.
func matMul(dst, a, b []float64, n, k, m int, bT bool) {
	for r := range n {
		for c := range m {
			var s float64
			for j := range k {
				if bT {
					s += a[r*k+j] * b[c*k+j]
				} else {
					s += a[r*k+j] * b[j*m+c]
				}
			}
			dst[r*m+c] = s
		}
	}
}

var errNotPD = errors.New("matrix not positive definite")

// cholesky factors the symmetric positive definite n×n a in place into L
// (lower triangle).
func cholesky(a []float64, n int) error {
	for j := range n {
		s := a[j*n+j]
		for k := range j {
			s -= a[j*n+k] * a[j*n+k]
		}
		if !(s > 0) {
			return errNotPD
		}
		d := math.Sqrt(s)
		a[j*n+j] = d
		for i := j + 1; i < n; i++ {
			s := a[i*n+j]
			for k := range j {
				s -= a[i*n+k] * a[j*n+k]
			}
			a[i*n+j] = s / d
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
