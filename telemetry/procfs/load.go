package procfs

import (
	"context"
	"path/filepath"
	"strconv"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

// Load reads the load averages from /proc/loadavg into s.Load. The run-queue
// counts in s.Load come from /proc/stat and belong to the CPU collector.
type Load struct {
	path string
	r    reader
}

// NewLoad returns the load-average collector for the machine at roots.
func NewLoad(roots telemetry.Roots) *Load {
	return &Load{path: filepath.Join(roots.Proc, "loadavg")}
}

// Collect implements telemetry.Collector.
func (l *Load) Collect(_ context.Context, s *gamesav1.Sample) error {
	b, err := l.r.read(l.path)
	if err != nil {
		return notAvailable(err)
	}
	if s.Load == nil {
		s.Load = &gamesav1.Load{}
	}
	avg, err := parseLoadavg(l.path, b)
	s.Load.Load1, s.Load.Load5, s.Load.Load15 = avg[0], avg[1], avg[2]
	return err
}

// parseLoadavg parses "0.62 0.84 0.38 1/83 7519"; a bad average reads as 0.
func parseLoadavg(src string, b []byte) ([3]float64, error) {
	var avg [3]float64
	var errs fieldErrors
	names := [3]string{"load1", "load5", "load15"}
	for i := range avg {
		var f []byte
		f, b = nextField(b)
		v, err := strconv.ParseFloat(string(f), 64)
		if err != nil || v < 0 || v != v || v > 1e12 {
			errs.add(badField(src, names[i], f))
			continue
		}
		avg[i] = v
	}
	return avg, errs.err()
}
