package node

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/optimizer/federated"
	"github.com/krystalstack/gamesa/optimizer/neural"
	"github.com/krystalstack/gamesa/optimizer/neural/thermal"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry/sim"
)

// benchRound is a round from a fitted thermal model with n nodes' trained
// updates, as the leader holds it when the last upload arrives.
func benchRound(b *testing.B, n int) (*federation, *collector, map[string][]byte) {
	b.Helper()
	cfg := thermal.DefaultConfig()
	s := simSeries(b, sim.ScenarioCycle, 1, 400)
	base, err := fitThermal(cfg, s)
	if err != nil {
		b.Fatal(err)
	}
	m, err := neural.Decode(base, thermal.Kind)
	if err != nil {
		b.Fatal(err)
	}
	f := &federation{thermal: cfg, bounds: federated.DefaultConfig()}
	col := &collector{
		round:   &gamesav1.FederatedRound{Round: 2, Kind: thermal.Kind, BaseHash: m.GetContentHash(), Rule: "median"},
		base:    m,
		global:  federated.NewGlobal(2, m),
		updates: map[string]*upload{},
	}
	files := map[string][]byte{}
	for i := range n {
		data, _, _, err := trainThermal(context.Background(), cfg, base, simSeries(b, sim.Scenarios()[i%5], uint64(i+2), 200), 2, time.Millisecond)
		if err != nil {
			b.Fatal(err)
		}
		files[fmt.Sprintf("n%d", i)] = data
	}
	return f, col, files
}

// BenchmarkCheckThermalUpload is the leader's check of one upload (decode,
// architecture, hash, shapes, finiteness, delta): what each UploadUpdate
// costs it besides the transfer.
func BenchmarkCheckThermalUpload(b *testing.B) {
	f, col, files := benchRound(b, 1)
	data := files["n0"]
	h := &gamesav1.UpdateHeader{Round: 2, BaseHash: col.round.GetBaseHash(), NodeId: "n0", Samples: 200, SizeBytes: uint64(len(data))}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := f.check(col, h, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMergeThermalRound merges six nodes' thermal updates with the
// median and seals the next version: the leader's work to close a round.
func BenchmarkMergeThermalRound(b *testing.B) {
	f, col, files := benchRound(b, 6)
	for id, data := range files {
		h := &gamesav1.UpdateHeader{Round: 2, BaseHash: col.round.GetBaseHash(), NodeId: id, Samples: 200, SizeBytes: uint64(len(data))}
		up, _, err := f.check(col, h, data)
		if err != nil {
			b.Fatal(err)
		}
		col.updates[id] = up
	}
	b.ResetTimer()
	for b.Loop() {
		if _, _, _, err := f.merge(col, "median", col.updates); err != nil {
			b.Fatal(err)
		}
	}
}
