package neural

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// FormatVersion is the model file layout this build writes and the newest
// it reads.
const FormatVersion = 1

// maxModelBytes bounds a model file: the largest model here is well under
// 1 MiB, so anything bigger is not one of ours.
const maxModelBytes = 16 << 20

// Errors from Decode and Load, each wrapped with the detail.
var (
	ErrCorruptModel = errors.New("corrupt model")
	ErrWrongModel   = errors.New("model does not fit")
)

// Meta is everything in a model file besides the weights.
type Meta struct {
	Kind            string
	Arch            []int32
	Input, Output   *Normalizer
	Version         uint64
	TrainingSamples uint64
	TrainedAt       time.Time
	Metrics         map[string]float64
}

// Encode seals params and meta into a model file: the proto bytes of a
// gamesav1.Model with its content hash set.
func Encode(meta Meta, params []*Param) ([]byte, error) {
	m := &gamesav1.Model{
		Kind:            meta.Kind,
		FormatVersion:   FormatVersion,
		Arch:            meta.Arch,
		Version:         meta.Version,
		TrainingSamples: meta.TrainingSamples,
		Metrics:         meta.Metrics,
		Input:           normProto(meta.Input),
		Output:          normProto(meta.Output),
	}
	if !meta.TrainedAt.IsZero() {
		m.TrainedAt = timestamppb.New(meta.TrainedAt)
	}
	for _, p := range params {
		if err := CheckFinite(p.Name, p.W); err != nil {
			return nil, fmt.Errorf("encode %s: %w", meta.Kind, err)
		}
		shape := make([]int32, len(p.Shape))
		for i, d := range p.Shape {
			shape[i] = int32(d)
		}
		m.Tensors = append(m.Tensors, &gamesav1.Tensor{Name: p.Name, Shape: shape, Data: p.W})
	}
	m.ContentHash = Hash(m)
	return proto.Marshal(m)
}

func normProto(z *Normalizer) *gamesav1.Normalization {
	if z == nil {
		return nil
	}
	return &gamesav1.Normalization{Mean: z.Mean, Std: z.Std}
}

// Decode parses and verifies a model file of the given kind: size, format
// version, kind, hash, finite weights and normalisation. The caller then
// checks Arch and calls Load.
func Decode(data []byte, kind string) (*gamesav1.Model, error) {
	if len(data) > maxModelBytes {
		return nil, fmt.Errorf("%w: %d bytes is larger than any model (%d)", ErrCorruptModel, len(data), maxModelBytes)
	}
	m := &gamesav1.Model{}
	if err := proto.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptModel, err)
	}
	switch {
	case m.FormatVersion == 0 || m.FormatVersion > FormatVersion:
		return nil, fmt.Errorf("%w: format version %d (this build reads 1..%d)", ErrWrongModel, m.FormatVersion, FormatVersion)
	case m.Kind != kind:
		return nil, fmt.Errorf("%w: kind %q, want %q", ErrWrongModel, m.Kind, kind)
	case !bytes.Equal(m.ContentHash, Hash(m)):
		return nil, fmt.Errorf("%w: content hash mismatch (truncated or altered)", ErrCorruptModel)
	}
	for _, t := range m.Tensors {
		if err := CheckFinite(t.Name, t.Data); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorruptModel, err)
		}
	}
	for _, n := range []*gamesav1.Normalization{m.Input, m.Output} {
		if n == nil {
			continue
		}
		if len(n.Mean) != len(n.Std) {
			return nil, fmt.Errorf("%w: normalisation has %d means and %d stds", ErrCorruptModel, len(n.Mean), len(n.Std))
		}
		if err := CheckFinite("mean", n.Mean); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorruptModel, err)
		}
		for i, s := range n.Std {
			if !(s > 0) || math.IsInf(float64(s), 0) {
				return nil, fmt.Errorf("%w: std[%d] = %v must be positive and finite", ErrCorruptModel, i, s)
			}
		}
	}
	return m, nil
}

// Load copies a decoded model's tensors into params, which must match them
// in order, name and shape. On error nothing is changed.
func Load(m *gamesav1.Model, params []*Param) error {
	if len(m.Tensors) != len(params) {
		return fmt.Errorf("%w: %d tensors, want %d", ErrWrongModel, len(m.Tensors), len(params))
	}
	for i, p := range params {
		t := m.Tensors[i]
		shape := make([]int, len(t.Shape))
		for j, d := range t.Shape {
			shape[j] = int(d)
		}
		if t.Name != p.Name || !slices.Equal(shape, p.Shape) || len(t.Data) != len(p.W) {
			return fmt.Errorf("%w: tensor %d is %s%v, want %s%v", ErrWrongModel, i, t.Name, t.Shape, p.Name, p.Shape)
		}
	}
	for i, p := range params {
		copy(p.W, m.Tensors[i].Data)
	}
	return nil
}

// Normalizers returns the model's input and output normalisers (nil when
// absent).
func Normalizers(m *gamesav1.Model) (in, out *Normalizer) {
	conv := func(n *gamesav1.Normalization) *Normalizer {
		if n == nil || len(n.Mean) == 0 {
			return nil
		}
		return &Normalizer{Mean: slices.Clone(n.Mean), Std: slices.Clone(n.Std)}
	}
	return conv(m.Input), conv(m.Output)
}

// Hash is the SHA-256 of a model's content in a canonical layout: kind,
// format version, arch, each tensor's name, shape and IEEE-754 bits, the
// normalisers, version, training samples and metrics (sorted by key) — all
// little-endian with length prefixes. It does not depend on the proto encoding, so two builds
// agree on it.
func Hash(m *gamesav1.Model) []byte {
	h := sha256.New()
	var b [8]byte
	u64 := func(v uint64) { binary.LittleEndian.PutUint64(b[:], v); h.Write(b[:]) }
	str := func(s string) { u64(uint64(len(s))); h.Write([]byte(s)) }
	f32s := func(xs []float32) {
		u64(uint64(len(xs)))
		for _, x := range xs {
			binary.LittleEndian.PutUint32(b[:4], math.Float32bits(x))
			h.Write(b[:4])
		}
	}
	i32s := func(xs []int32) {
		u64(uint64(len(xs)))
		for _, x := range xs {
			u64(uint64(int64(x)))
		}
	}
	str(m.Kind)
	u64(uint64(m.FormatVersion))
	i32s(m.Arch)
	u64(uint64(len(m.Tensors)))
	for _, t := range m.Tensors {
		str(t.Name)
		i32s(t.Shape)
		f32s(t.Data)
	}
	for _, n := range []*gamesav1.Normalization{m.Input, m.Output} {
		f32s(n.GetMean())
		f32s(n.GetStd())
	}
	u64(m.Version)
	u64(m.TrainingSamples)
	// Metrics carry model state too (the anomaly detector's threshold), so
	// they are sealed as well, in sorted key order.
	keys := slices.Sorted(maps.Keys(m.Metrics))
	u64(uint64(len(keys)))
	for _, k := range keys {
		str(k)
		u64(math.Float64bits(m.Metrics[k]))
	}
	return h.Sum(nil)
}
