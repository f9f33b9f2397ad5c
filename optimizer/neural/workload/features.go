package workload

import (
	"errors"
	"fmt"
	"math"

	"github.com/krystalstack/gamesa/optimizer/neural"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Window is the number of samples (seconds at the default tick) the
// classifier looks at; Channels the features per sample.
const (
	Window   = 60
	Channels = 8
)

// busyCore is the utilisation from which a core counts as busy.
const busyCore = 50.0

// logBytesScale maps log10 of a byte rate to about 0..1 (1 GB/s → 1).
const logBytesScale = 9.0

// ErrIncomplete reports a Sample without the CPU section every feature
// set needs.
var ErrIncomplete = errors.New("sample has no CPU data")

// Features writes the Channels features of s into dst (len ≥ Channels);
// the package documentation lists them. It returns an error wrapping
// ErrIncomplete when s has no CPU section, or neural.ErrNonFinite when a
// feature is NaN or infinite; dst is then unspecified.
func Features(dst []float32, s *gamesav1.Sample) error {
	cpu := s.GetCpu()
	if cpu == nil {
		return ErrIncomplete
	}
	f := dst[:Channels]
	util := cpu.GetUtilizationPercent()
	var coreMax, busy float64
	for _, c := range cpu.GetCores() {
		u := c.GetUtilizationPercent()
		coreMax = max(coreMax, u)
		if u >= busyCore {
			busy++
		}
	}
	if n := len(cpu.GetCores()); n > 0 {
		busy /= float64(n)
	} else {
		coreMax = util // no per-core data: the average is the best bound
	}
	var gpu float64
	for _, g := range s.GetGpus() {
		gpu = max(gpu, g.GetUtilizationPercent())
	}
	var disk, net float64
	for _, d := range s.GetDisks() {
		disk += d.GetReadBytesPerSecond() + d.GetWriteBytesPerSecond()
	}
	for _, n := range s.GetNet() {
		net += n.GetRxBytesPerSecond() + n.GetTxBytesPerSecond()
	}
	// Below 1 % busy the kernel share is a ratio of rounding errors.
	kernel := min(max(cpu.GetSystemPercent()/max(util, 1), 0), 1)

	f[0] = float32(util / 100)
	f[1] = float32(coreMax / 100)
	f[2] = float32(busy)
	f[3] = float32(gpu / 100)
	f[4] = float32(s.GetMemory().GetUsedPercent() / 100)
	f[5] = float32(logBytes(disk))
	f[6] = float32(logBytes(net))
	f[7] = float32(kernel)
	if err := neural.CheckFinite("feature", f); err != nil {
		return fmt.Errorf("workload features: %w", err)
	}
	return nil
}

// logBytes compresses a byte rate spanning a few B/s to GB/s; a negative
// rate (a counter that went back) counts as none, NaN stays NaN so the
// caller sees it.
func logBytes(r float64) float64 {
	if r < 0 {
		r = 0
	}
	return math.Log10(1+r) / logBytesScale
}
