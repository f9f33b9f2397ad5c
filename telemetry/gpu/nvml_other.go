//go:build !linux || !cgo

package gpu

import (
	"context"
	"fmt"
	"runtime"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

// Collector stands in for the NVML collector in builds that cannot load NVML
// (another OS, or CGO_ENABLED=0). It has the same API, so callers compile
// unchanged, and it always reports telemetry.ErrNotAvailable.
type Collector struct {
	err error
}

var _ telemetry.Collector = (*Collector)(nil)

// New returns a Collector whose Collect always reports
// telemetry.ErrNotAvailable; opts are accepted for API parity and ignored.
func New(opts Options) *Collector {
	reason := "built without cgo"
	if runtime.GOOS != "linux" {
		reason = "not linux"
	}
	return &Collector{err: fmt.Errorf("nvml: %s: %w", reason, telemetry.ErrNotAvailable)}
}

// Collect reports that NVML is not available in this build.
func (c *Collector) Collect(ctx context.Context, s *gamesav1.Sample) error {
	return c.err
}

// Close does nothing: this build never loads NVML.
func (c *Collector) Close() error {
	return nil
}
