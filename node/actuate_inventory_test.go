package node

import (
	"context"
	"testing"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry/sim"
)

// countingHands counts how often the knob inventory is read.
type countingHands struct {
	hands
	reads int
}

func (h *countingHands) Inventory(ctx context.Context) ([]*gamesav1.Knob, error) {
	h.reads++
	return h.hands.Inventory(ctx)
}

// TestInventoryRefresh: the step reads the knob inventory again only when
// it is inventoryMaxAge old or the node changed a knob.
func TestInventoryRefresh(t *testing.T) {
	m, err := sim.New(sim.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	h := &countingHands{hands: simHands{m}}
	a := &actuation{hands: h}
	ctx := context.Background()
	t0 := time.Unix(1_800_000_000, 0)
	read := func(at time.Time, want int) []*gamesav1.Knob {
		t.Helper()
		inv, err := a.inventory(ctx, at)
		if err != nil || len(inv) == 0 {
			t.Fatalf("inventory at %v = %d knobs, %v", at.Sub(t0), len(inv), err)
		}
		if h.reads != want {
			t.Fatalf("at %v: %d reads; want %d", at.Sub(t0), h.reads, want)
		}
		return inv
	}
	read(t0, 1)
	read(t0.Add(time.Second), 1)
	read(t0.Add(inventoryMaxAge-time.Millisecond), 1)
	read(t0.Add(inventoryMaxAge), 2)
	read(t0.Add(inventoryMaxAge-time.Hour), 3) // the clock stepped back

	// A change the node made drops the inventory (step sets it to nil
	// when anyApplied): the next step reads it again.
	a.inv = nil
	read(t0.Add(inventoryMaxAge+time.Second), 4)
	if !anyApplied([]*gamesav1.ActionResult{{Status: "unchanged"}, {Status: "applied"}}) {
		t.Error("anyApplied(unchanged, applied) = false")
	}
	if anyApplied([]*gamesav1.ActionResult{{Status: "would-apply"}, {Status: "unchanged"}}) {
		t.Error("anyApplied(would-apply, unchanged) = true")
	}
}
