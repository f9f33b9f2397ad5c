// Package host is the real machine as a telemetry.Source: it composes the
// procfs, sysfs and NVML collectors into one explicit registry.
//
// The caller's contract: New once, Sample from one goroutine once per tick,
// Close when done (it shuts NVML down). Every collector reads through the
// configured Roots, so a fixture tree stands in for the machine in tests.
package host

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
	"github.com/krystalstack/gamesa/telemetry/gpu"
	"github.com/krystalstack/gamesa/telemetry/procfs"
	"github.com/krystalstack/gamesa/telemetry/sysfs"
)

// Config chooses the host paths and the optional collectors.
type Config struct {
	Roots telemetry.Roots
	// TopProcesses is how many of the busiest processes a sample lists.
	TopProcesses int
	// GPU enables the NVIDIA collector.
	GPU bool
	// Logger may be nil.
	Logger *slog.Logger
}

// DefaultConfig reads the real machine.
func DefaultConfig() Config {
	return Config{Roots: telemetry.DefaultRoots(), TopProcesses: 20, GPU: true}
}

// Validate reports an unusable configuration.
func (c Config) Validate() error {
	if err := c.Roots.Validate(); err != nil {
		return err
	}
	if c.TopProcesses < 0 {
		return fmt.Errorf("top processes must not be negative; got %d", c.TopProcesses)
	}
	return nil
}

// Source samples the host.
type Source struct {
	reg telemetry.Registry
}

var _ telemetry.Source = (*Source)(nil)

// New builds the host source. It reads nothing yet: collectors discover
// what the machine has on their first Collect.
func New(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Source{}
	r := cfg.Roots
	for _, c := range []struct {
		name string
		c    telemetry.Collector
	}{
		{"cpu", procfs.NewCPU(r)},
		{"load", procfs.NewLoad(r)},
		{"memory", procfs.NewMemory(r)},
		{"hwmon", sysfs.NewHwmon(r)},
		{"thermal_zone", sysfs.NewThermalZones(r)},
		{"rapl", sysfs.NewRAPL(r)},
		{"power_supply", sysfs.NewPowerSupply(r)},
		{"disk", procfs.NewDisks(r)},
		{"net", procfs.NewNet(r)},
		{"processes", procfs.NewProcesses(r, cfg.TopProcesses)},
	} {
		if err := s.reg.Register(c.name, c.c); err != nil {
			return nil, err
		}
	}
	if cfg.GPU {
		if err := s.reg.Register("gpu", gpu.New(gpu.Options{Logger: cfg.Logger})); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Sample reads every collector into a new sample taken at now.
func (s *Source) Sample(ctx context.Context, now time.Time) (*gamesav1.Sample, error) {
	out := &gamesav1.Sample{Time: timestamppb.New(now), Source: "host"}
	s.reg.Collect(ctx, out)
	return out, nil
}

// Collectors names the collectors in the order they run.
func (s *Source) Collectors() []string { return s.reg.Names() }

// Close releases what the collectors hold: open /proc files, NVML.
func (s *Source) Close() error { return s.reg.Close() }
