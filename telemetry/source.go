package telemetry

import (
	"context"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Source produces samples of one machine, real or simulated.
//
// Sample takes the sample's time as a value so that a simulated machine is
// deterministic and rates are computed against the caller's clock. The
// returned sample is owned by the caller. Sample is called from one
// goroutine at a time.
type Source interface {
	Sample(ctx context.Context, now time.Time) (*gamesav1.Sample, error)
	// Collectors names what the source runs, in order.
	Collectors() []string
}
