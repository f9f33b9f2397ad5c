package federated

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/krystalstack/gamesa/optimizer/neural"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// NewGlobal returns the Global of a round that starts from model m (a
// decoded model file, whose content hash identifies it).
func NewGlobal(round uint64, m *gamesav1.Model) *Global {
	return &Global{Round: round, Hash: slices.Clone(m.GetContentHash()), Tensors: m.GetTensors()}
}

// Envelope is what comes with an uploaded model file besides the file:
// who sent it, for which round and base model, and on how many samples.
type Envelope struct {
	Node     string
	Round    uint64
	BaseHash []byte
	// Samples is the node's training examples; 0 takes the model file's
	// training_samples.
	Samples uint64
}

// DecodeUpdate parses an uploaded model file into an Update, refusing
// (with a *RefusedError) one that is over Config.MaxBytes, is not a model
// file of base's kind with a valid content hash and finite weights
// (neural.Decode), or has another architecture or normalisation than base:
// its weights would mean something else. The round, base hash and shapes
// are checked later by Check or Merge.
func (c Config) DecodeUpdate(data []byte, base *gamesav1.Model, env Envelope) (*Update, error) {
	if len(data) > c.MaxBytes {
		return nil, refuse(env.Node, ErrTooLarge, "%d bytes (at most %d)", len(data), c.MaxBytes)
	}
	m, err := neural.Decode(data, base.GetKind())
	if err != nil {
		return nil, refuse(env.Node, ErrMalformed, "%v", err)
	}
	switch {
	case !slices.Equal(m.GetArch(), base.GetArch()):
		return nil, refuse(env.Node, ErrShape, "architecture %v, the model's is %v", m.GetArch(), base.GetArch())
	case !proto.Equal(m.GetInput(), base.GetInput()) || !proto.Equal(m.GetOutput(), base.GetOutput()):
		return nil, refuse(env.Node, ErrShape, "normalisation differs from the model's")
	}
	u := &Update{Node: env.Node, Round: env.Round, BaseHash: env.BaseHash, Samples: env.Samples, Tensors: m.GetTensors()}
	if u.Samples == 0 {
		u.Samples = m.GetTrainingSamples()
	}
	return u, nil
}

// Seal builds the next global model from base and a merged round: base's
// kind, architecture and normalisation with the merged tensors, version
// base's + 1, training samples the round's, and a fresh content hash. It
// returns the model and its file.
func Seal(base *gamesav1.Model, res *Result) (*gamesav1.Model, []byte, error) {
	m := proto.CloneOf(base)
	if len(res.Tensors) != len(m.Tensors) {
		return nil, nil, fmt.Errorf("%w: %d merged tensors for a model of %d", ErrShape, len(res.Tensors), len(m.Tensors))
	}
	m.Tensors = res.Tensors
	m.Version = base.GetVersion() + 1
	m.TrainingSamples = res.Samples
	m.ContentHash = neural.Hash(m)
	data, err := proto.Marshal(m)
	if err != nil {
		return nil, nil, fmt.Errorf("federated: seal: %w", err)
	}
	return m, data, nil
}
