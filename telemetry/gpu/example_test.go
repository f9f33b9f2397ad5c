package gpu_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
	"github.com/krystalstack/gamesa/telemetry/gpu"
)

// The collector is built once and asked once per tick; a machine without an
// NVIDIA driver answers ErrNotAvailable, which is no failure.
func Example() {
	c := gpu.New(gpu.Options{Logger: slog.Default()})
	defer c.Close()

	s := &gamesav1.Sample{Time: timestamppb.New(time.Now())}
	err := c.Collect(context.Background(), s)
	switch {
	case errors.Is(err, telemetry.ErrNotAvailable):
		fmt.Println("no GPU:", err)
	case err != nil:
		fmt.Println("partial reading:", err)
	}
	for _, g := range s.Gpus {
		fmt.Printf("gpu %d %s: %.0f%% busy, %.1f W of %.1f W\n",
			g.Index, g.Name, g.UtilizationPercent, g.PowerWatts, g.PowerLimitWatts)
	}
}
