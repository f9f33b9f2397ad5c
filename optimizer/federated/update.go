package federated

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"slices"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Global is the model a round starts from: the round number, the content
// hash of its model file (neural.Hash) and its tensors, which Merge never
// changes.
type Global struct {
	Round   uint64
	Hash    []byte
	Tensors []*gamesav1.Tensor
}

// Update is one node's answer to a round: the weights it trained from the
// round's global model, on how many samples, and which round and base
// model (by hash) it trained from.
type Update struct {
	Node     string
	Round    uint64
	BaseHash []byte
	// Samples weighs the update in FedAvg: the node's training examples.
	Samples uint64
	Tensors []*gamesav1.Tensor
}

// Delta is a checked update as the rules see it: the flattened difference
// between the node's weights and the global model's, after clipping.
type Delta struct {
	Node    string
	Samples uint64
	V       []float32
	// Norm is the L2 norm of the difference before clipping; Clipped says
	// whether V was scaled down to Config.ClipNorm.
	Norm    float64
	Clipped bool
}

// Config bounds what the leader accepts.
type Config struct {
	// ClipNorm scales a delta whose L2 norm is above it down to it, so no
	// single node moves the model further than this in a round (0: off).
	ClipNorm float64
	// RejectNorm refuses a delta whose norm is above it outright: no
	// training step goes that far, so it is garbage (0: off). When both
	// are set, RejectNorm ≥ ClipNorm.
	RejectNorm float64
	// MaxParams bounds the parameters of an update (and of the model).
	MaxParams int
	// MaxTensors bounds the number of tensors.
	MaxTensors int
	// MaxBytes bounds an encoded update (DecodeUpdate).
	MaxBytes int
	// MaxSamples bounds the sample count a node may claim, so one node
	// cannot outweigh the others in FedAvg by lying about it.
	MaxSamples uint64
}

// DefaultConfig accepts models up to a million parameters in 64 tensors
// and 8 MiB, a million samples per node, with no norm bound (the bounds
// depend on the model and learning rate; set them per model kind).
func DefaultConfig() Config {
	return Config{MaxParams: 1 << 20, MaxTensors: 64, MaxBytes: 8 << 20, MaxSamples: 1 << 20}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case !(c.ClipNorm >= 0) || math.IsInf(c.ClipNorm, 0) || !(c.RejectNorm >= 0) || math.IsInf(c.RejectNorm, 0):
		return fmt.Errorf("%w: ClipNorm %v and RejectNorm %v must be finite and not negative", ErrInvalidConfig, c.ClipNorm, c.RejectNorm)
	case c.ClipNorm > 0 && c.RejectNorm > 0 && c.RejectNorm < c.ClipNorm:
		return fmt.Errorf("%w: RejectNorm %v below ClipNorm %v", ErrInvalidConfig, c.RejectNorm, c.ClipNorm)
	case c.MaxParams < 1 || c.MaxTensors < 1 || c.MaxBytes < 1 || c.MaxSamples < 1:
		return fmt.Errorf("%w: MaxParams %d, MaxTensors %d, MaxBytes %d and MaxSamples %d must be positive",
			ErrInvalidConfig, c.MaxParams, c.MaxTensors, c.MaxBytes, c.MaxSamples)
	}
	return nil
}

// Params is the number of parameters in ts.
func Params(ts []*gamesav1.Tensor) int {
	n := 0
	for _, t := range ts {
		n += len(t.GetData())
	}
	return n
}

// Flatten appends the tensors' data to dst in order.
func Flatten(dst []float32, ts []*gamesav1.Tensor) []float32 {
	for _, t := range ts {
		dst = append(dst, t.GetData()...)
	}
	return dst
}

// Check validates u against the round's global model g and returns its
// delta (clipped to ClipNorm). A refusal is a *RefusedError. Check does
// not modify u or g.
func (c Config) Check(g *Global, u *Update) (Delta, error) {
	node := u.Node
	switch {
	case u.Round != g.Round:
		return Delta{}, refuse(node, ErrWrongRound, "round %d, the open round is %d", u.Round, g.Round)
	case !bytes.Equal(u.BaseHash, g.Hash):
		return Delta{}, refuse(node, ErrWrongBase, "base %s, the round's model is %s", short(u.BaseHash), short(g.Hash))
	case u.Samples == 0 || u.Samples > c.MaxSamples:
		return Delta{}, refuse(node, ErrSamples, "%d samples (want 1..%d)", u.Samples, c.MaxSamples)
	case len(u.Tensors) > c.MaxTensors:
		return Delta{}, refuse(node, ErrTooLarge, "%d tensors (at most %d)", len(u.Tensors), c.MaxTensors)
	case Params(u.Tensors) > c.MaxParams:
		return Delta{}, refuse(node, ErrTooLarge, "%d parameters (at most %d)", Params(u.Tensors), c.MaxParams)
	case len(u.Tensors) != len(g.Tensors):
		return Delta{}, refuse(node, ErrShape, "%d tensors, the model has %d", len(u.Tensors), len(g.Tensors))
	}
	for i, t := range u.Tensors {
		w := g.Tensors[i]
		if t.GetName() != w.GetName() || !slices.Equal(t.GetShape(), w.GetShape()) || len(t.GetData()) != len(w.GetData()) {
			return Delta{}, refuse(node, ErrShape, "tensor %d is %s%v with %d values, want %s%v with %d",
				i, t.GetName(), t.GetShape(), len(t.GetData()), w.GetName(), w.GetShape(), len(w.GetData()))
		}
	}
	d := Delta{Node: node, Samples: u.Samples, V: make([]float32, 0, Params(g.Tensors))}
	var sq float64
	for i, t := range u.Tensors {
		w := g.Tensors[i].GetData()
		for j, x := range t.GetData() {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return Delta{}, refuse(node, ErrNonFinite, "%s[%d] = %v", t.GetName(), j, x)
			}
			v := x - w[j]
			sq += float64(v) * float64(v)
			d.V = append(d.V, v)
		}
	}
	// Two finite float32 weights can still differ by more than MaxFloat32.
	d.Norm = math.Sqrt(sq)
	if math.IsInf(d.Norm, 0) || (c.RejectNorm > 0 && d.Norm > c.RejectNorm) {
		return Delta{}, refuse(node, ErrNormBound, "distance %.4g from the global model (at most %.4g)", d.Norm, c.RejectNorm)
	}
	for _, v := range d.V {
		if math.IsInf(float64(v), 0) {
			return Delta{}, refuse(node, ErrNormBound, "a weight moved beyond float32 range")
		}
	}
	if c.ClipNorm > 0 && d.Norm > c.ClipNorm {
		scale(d.V, c.ClipNorm/d.Norm)
		d.Clipped = true
	}
	return d, nil
}

func scale(v []float32, s float64) {
	for i := range v {
		v[i] = float32(float64(v[i]) * s)
	}
}

func short(h []byte) string {
	if len(h) == 0 {
		return "(none)"
	}
	return hex.EncodeToString(h[:min(len(h), 6)])
}

// Result is a merged round.
type Result struct {
	// Tensors are the new global weights, shaped as the round's model.
	Tensors []*gamesav1.Tensor
	// Accepted lists the nodes whose updates went into the rule, sorted;
	// Clipped those of them whose delta was clipped.
	Accepted, Clipped []string
	// Refused holds each refused update's error (a *RefusedError), in the
	// order the updates came.
	Refused []error
	// Samples is the sum of the accepted updates' sample counts.
	Samples uint64
	// Delta is what Tensors add to the round's global model, flattened:
	// the rule's aggregate (a Server's Apply replaces it with its step).
	Delta []float32
}

// Merge checks every update against g, refuses the bad ones, and applies
// the rule to the deltas of the rest: the new global model is g plus the
// rule's aggregate delta. It fails (and the caller keeps g) only when the
// config is invalid or the rule cannot run on the accepted updates (none
// accepted, or too few for a robust rule). The result does not depend on
// the order of us.
func (c Config) Merge(g *Global, us []*Update, rule Rule) (*Result, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if Params(g.Tensors) > c.MaxParams {
		return nil, fmt.Errorf("%w: the global model has %d parameters, above MaxParams %d", ErrInvalidConfig, Params(g.Tensors), c.MaxParams)
	}
	res := &Result{}
	seen := make(map[string]bool, len(us))
	var ds []Delta
	for _, u := range us {
		if seen[u.Node] {
			res.Refused = append(res.Refused, refuse(u.Node, ErrDuplicate, "a second update in round %d", g.Round))
			continue
		}
		d, err := c.Check(g, u)
		if err != nil {
			res.Refused = append(res.Refused, err)
			continue
		}
		seen[u.Node] = true
		ds = append(ds, d)
	}
	agg, err := rule.Aggregate(ds)
	if err != nil {
		return nil, fmt.Errorf("federated: round %d: %w", g.Round, err)
	}
	res.Tensors = Apply(g.Tensors, agg)
	res.Delta = agg
	for _, d := range sortedByNode(ds) {
		res.Accepted = append(res.Accepted, d.Node)
		res.Samples += d.Samples
		if d.Clipped {
			res.Clipped = append(res.Clipped, d.Node)
		}
	}
	return res, nil
}

// Apply returns new tensors: base plus delta (flattened in base's order).
// base is not modified.
func Apply(base []*gamesav1.Tensor, delta []float32) []*gamesav1.Tensor {
	out := make([]*gamesav1.Tensor, len(base))
	k := 0
	for i, t := range base {
		data := make([]float32, len(t.GetData()))
		for j, w := range t.GetData() {
			data[j] = w + delta[k]
			k++
		}
		out[i] = &gamesav1.Tensor{Name: t.GetName(), Shape: slices.Clone(t.GetShape()), Data: data}
	}
	return out
}
