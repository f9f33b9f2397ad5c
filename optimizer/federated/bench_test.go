package federated_test

import (
	"math/rand/v2"
	"testing"

	"github.com/krystalstack/gamesa/optimizer/federated"
)

// The figure: aggregating 100 updates of 10,000 parameters.
func benchRule(b *testing.B, r federated.Rule) {
	ds := randDeltas(rand.New(rand.NewPCG(1, 1)), 100, 10000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Aggregate(ds); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFedAvg100x10k(b *testing.B)      { benchRule(b, federated.FedAvg{}) }
func BenchmarkMedian100x10k(b *testing.B)      { benchRule(b, federated.Median{}) }
func BenchmarkTrimmedMean100x10k(b *testing.B) { benchRule(b, federated.TrimmedMean{Trim: 0.1}) }
func BenchmarkKrum100x10k(b *testing.B)        { benchRule(b, federated.Krum{F: 10}) }
func BenchmarkMultiKrum100x10k(b *testing.B)   { benchRule(b, federated.Krum{F: 10, M: 50}) }

// The server's step on a round's aggregate of 10,000 parameters.
func BenchmarkServerMomentum10k(b *testing.B) {
	agg := randDeltas(rand.New(rand.NewPCG(1, 1)), 1, 10000)[0].V
	srv := federated.Server{LR: 1, Momentum: 0.8}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := srv.Step(agg); err != nil {
			b.Fatal(err)
		}
	}
}
