package gpu

import (
	"fmt"
	"log/slog"
	"time"
)

// DefaultRetryInterval is how long, in sample time, the collector waits after
// NVML was not available (no driver, no GPU) before it asks again.
const DefaultRetryInterval = 60 * time.Second

// Options configure a Collector. The zero value is ready to use.
type Options struct {
	// RetryInterval is how long, measured in sample time (s.Time), to wait
	// after a failed NVML initialisation or an empty GPU list before trying
	// again. Zero or negative means DefaultRetryInterval; Validate reports
	// a negative value.
	RetryInterval time.Duration
	// Logger receives state changes: NVML found or not, a GPU lost. Nil
	// discards them.
	Logger *slog.Logger
}

// DefaultOptions returns the options a node uses unless told otherwise.
func DefaultOptions() Options {
	return Options{RetryInterval: DefaultRetryInterval}
}

// Validate reports options that New would silently replace.
func (o Options) Validate() error {
	if o.RetryInterval < 0 {
		return fmt.Errorf("gpu options: retry interval %v must not be negative", o.RetryInterval)
	}
	return nil
}
