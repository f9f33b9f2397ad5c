package federated_test

import (
	"errors"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/krystalstack/gamesa/optimizer/federated"
	"github.com/krystalstack/gamesa/optimizer/neural"
	"github.com/krystalstack/gamesa/optimizer/neural/thermal"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// fuzzBase is a tiny model file of kind "fuzz".
func fuzzBase(f *testing.F) (*gamesav1.Model, []byte) {
	p := neural.NewParam("w", 2, 2)
	copy(p.W, []float32{1, 2, 3, 4})
	data, err := neural.Encode(neural.Meta{Kind: "fuzz", Arch: []int32{2}, TrainingSamples: 5}, []*neural.Param{p})
	if err != nil {
		f.Fatal(err)
	}
	m, err := neural.Decode(data, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	return m, data
}

// FuzzDecodeUpdate: any bytes either decode into an update that Check
// then accepts or refuses with a typed error, or are refused; nothing
// panics, and the global model never changes.
func FuzzDecodeUpdate(f *testing.F) {
	base, data := fuzzBase(f)
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x04, 'f', 'u', 'z', 'z'})
	cfg := federated.DefaultConfig()
	cfg.MaxBytes = 1 << 16
	g := federated.NewGlobal(1, base)
	before := append([]float32(nil), g.Tensors[0].Data...)
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := cfg.DecodeUpdate(b, base, federated.Envelope{Node: "n", Round: 1, BaseHash: base.ContentHash})
		var re *federated.RefusedError
		if err != nil {
			if !errors.As(err, &re) {
				t.Fatalf("DecodeUpdate error %v is not a *RefusedError", err)
			}
			return
		}
		if _, err := cfg.Check(g, u); err != nil && !errors.As(err, &re) {
			t.Fatalf("Check error %v is not a *RefusedError", err)
		}
		for i, v := range g.Tensors[0].Data {
			if v != before[i] {
				t.Fatalf("the global model changed")
			}
		}
	})
}

func TestDecodeUpdate(t *testing.T) {
	p := neural.NewParam("w", 2, 2)
	data, _ := neural.Encode(neural.Meta{Kind: "fuzz", Arch: []int32{2}, TrainingSamples: 5}, []*neural.Param{p})
	base, _ := neural.Decode(data, "fuzz")
	other, _ := neural.Encode(neural.Meta{Kind: "fuzz", Arch: []int32{3}}, []*neural.Param{p})
	cfg := federated.DefaultConfig()
	env := federated.Envelope{Node: "n", Round: 1}
	u, err := cfg.DecodeUpdate(data, base, env)
	if err != nil || u.Samples != 5 || len(u.Tensors) != 1 {
		t.Fatalf("DecodeUpdate(valid) = %+v, %v; want 1 tensor and 5 samples", u, err)
	}
	small := cfg
	small.MaxBytes = 10
	for _, tc := range []struct {
		name string
		cfg  federated.Config
		data []byte
		want error
	}{
		{"oversized", small, data, federated.ErrTooLarge},
		{"truncated", cfg, data[:len(data)-3], federated.ErrMalformed},
		{"other arch", cfg, other, federated.ErrShape},
	} {
		if _, err := tc.cfg.DecodeUpdate(tc.data, base, env); !errors.Is(err, tc.want) {
			t.Errorf("DecodeUpdate(%s) = %v; want %v", tc.name, err, tc.want)
		}
	}
}

// FuzzMergeThermalFits: a node's round-0 fit with a changed output
// normaliser length, input scale or linear weight (re-hashed, so it
// decodes) is either refused or pooled into a model that is finite and
// loads; nothing panics.
func FuzzMergeThermalFits(f *testing.F) {
	cfg := smallConfig()
	tr := federated.ThermalTrainer{Config: cfg}
	var fits []federated.ThermalFit
	for i, s := range threeMachines(f) {
		data, err := tr.Fit(s)
		if err != nil {
			f.Fatal(err)
		}
		fits = append(fits, federated.ThermalFit{Node: string(rune('a' + i)), Model: data, Rows: federated.Rows(s)})
	}
	base, err := neural.Decode(fits[1].Model, thermal.Kind)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(3), float32(1), float32(0.5), uint16(0))
	f.Add(uint8(2), float32(1e-30), float32(1e30), uint16(7))
	f.Add(uint8(4), float32(3e38), float32(-1e-3), uint16(300))
	f.Fuzz(func(t *testing.T, outLen uint8, std, lin float32, idx uint16) {
		m := proto.CloneOf(base)
		out := m.Output
		for len(out.Mean) > int(outLen) {
			out.Mean, out.Std = out.Mean[:len(out.Mean)-1], out.Std[:len(out.Std)-1]
		}
		for len(out.Mean) < int(outLen)%8 {
			out.Mean, out.Std = append(out.Mean, 0), append(out.Std, 1)
		}
		m.Input.Std[int(idx)%len(m.Input.Std)] = std
		w := m.Tensors[4].Data
		w[int(idx)%len(w)] = lin
		m.ContentHash = neural.Hash(m)
		data, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		fs := slices.Clone(fits)
		fs[1].Model = data
		gm, gdata, err := federated.MergeThermalFits(fs)
		if err != nil {
			return
		}
		for _, tn := range gm.Tensors {
			if err := neural.CheckFinite(tn.Name, tn.Data); err != nil {
				t.Fatalf("merged model: %v", err)
			}
		}
		if _, err := thermal.Load(gdata, cfg); err != nil {
			t.Fatalf("the merged model does not load: %v", err)
		}
	})
}
