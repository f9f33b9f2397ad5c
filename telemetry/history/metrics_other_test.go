//go:build !linux

package history

import "time"

// processCPU is measured on Linux only.
func processCPU() time.Duration { return 0 }

// processWritten is measured on Linux only.
func processWritten() int64 { return 0 }
