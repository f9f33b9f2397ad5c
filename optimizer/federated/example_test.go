package federated_test

import (
	"errors"
	"fmt"

	"github.com/krystalstack/gamesa/optimizer/federated"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// A round of three nodes and one that answers a stale round: the leader
// merges with the coordinate-wise median and tells the late node why it
// was refused.
func ExampleConfig_Merge() {
	g := &federated.Global{Round: 7, Hash: []byte("model-v6"), Tensors: []*gamesav1.Tensor{
		{Name: "w", Shape: []int32{3}, Data: []float32{1, 1, 1}},
	}}
	upload := func(node string, round uint64, w ...float32) *federated.Update {
		return &federated.Update{Node: node, Round: round, BaseHash: []byte("model-v6"), Samples: 100,
			Tensors: []*gamesav1.Tensor{{Name: "w", Shape: []int32{3}, Data: w}}}
	}
	us := []*federated.Update{
		upload("pc1", 7, 1.1, 0.9, 1.0),
		upload("pc2", 7, 1.2, 1.0, 1.1),
		upload("pc3", 7, 90, -90, 90), // broken
		upload("pc4", 6, 1.0, 1.0, 1.0),
	}
	res, err := federated.DefaultConfig().Merge(g, us, federated.Median{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("w = %.2f from %v\n", res.Tensors[0].Data, res.Accepted)
	for _, e := range res.Refused {
		fmt.Println(e, errors.Is(e, federated.ErrWrongRound))
	}
	// Output:
	// w = [1.20 0.90 1.10] from [pc1 pc2 pc3]
	// federated: update from "pc4" refused: update for another round: round 6, the open round is 7 true
}

// The privacy budget of 50 rounds with noise multiplier 1.5 at δ = 1e-5.
func ExampleEpsilon() {
	eps, alpha, err := federated.Epsilon(1.5, 50, 1e-5)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("ε = %.1f (α = %.2f)\n", eps, alpha)
	// Output: ε = 33.7 (α = 2.02)
}

// The leader keeps a Server across rounds: with momentum (FedAvgM), a
// direction the nodes agree on round after round gains speed.
func ExampleServer() {
	srv := federated.Server{LR: 1, Momentum: 0.5}
	g := &federated.Global{Round: 1, Hash: []byte("v1"), Tensors: []*gamesav1.Tensor{
		{Name: "w", Shape: []int32{1}, Data: []float32{0}},
	}}
	for round := uint64(1); round <= 3; round++ {
		g.Round = round
		us := []*federated.Update{
			{Node: "pc1", Round: round, BaseHash: g.Hash, Samples: 1, Tensors: []*gamesav1.Tensor{{Name: "w", Shape: []int32{1}, Data: []float32{g.Tensors[0].Data[0] + 1}}}},
			{Node: "pc2", Round: round, BaseHash: g.Hash, Samples: 1, Tensors: []*gamesav1.Tensor{{Name: "w", Shape: []int32{1}, Data: []float32{g.Tensors[0].Data[0] + 3}}}},
		}
		res, err := federated.DefaultConfig().Merge(g, us, federated.FedAvg{})
		if err != nil {
			fmt.Println(err)
			return
		}
		agg := res.Delta[0]
		if err := srv.Apply(g, res); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("round %d: nodes' mean step %.1f, server step %.2f\n", round, agg, res.Delta[0])
		g.Tensors = res.Tensors
	}
	// Output:
	// round 1: nodes' mean step 2.0, server step 2.00
	// round 2: nodes' mean step 2.0, server step 3.00
	// round 3: nodes' mean step 2.0, server step 3.50
}
