package thermal

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/krystalstack/gamesa/optimizer/neural"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Horizons are the forecast horizons in steps (one observation a second,
// so seconds); Forecast returns one value per horizon in this order.
var Horizons = [NumHorizons]int{5, 10, 30}

// NumHorizons is the number of forecast horizons; MaxHorizon the longest.
const (
	NumHorizons = 3
	MaxHorizon  = 30
)

// Input features per step, all from the current observation and the
// stream's history: the package temperature, its change over 1 and 5
// steps, load, mean clock, power, and the power's change over 1 step.
const (
	fTemp = iota
	fDTemp1
	fDTemp5
	fLoad
	fClock
	fPower
	fDPower1
	numFeatures
)

// The LSTM's inputs per step: the linear part's forecast change at each
// horizon (in units of the spread of what the LSTM learns), the
// temperature's change over 1 and 5 steps, the load and the power's
// change over 1 step. Absolute temperature, clock and power reach the
// forecast through the linear part only: a day hotter, or with clocks
// capped lower, than the training days then moves the LSTM's inputs
// little, and what it learns — where the linear forecast over- or
// undershoots — carries over to it.
const (
	inLin     = 0 // inLin+h: the linear forecast at Horizons[h]
	inDTemp1  = inLin + NumHorizons
	inDTemp5  = inDTemp1 + 1
	inLoad    = inDTemp5 + 1
	inDPower1 = inLoad + 1
	numInputs = inDPower1 + 1
)

// histLen is how many feature rows a stream keeps: the linear baseline's
// longest lag plus the current row.
const histLen = 32

// ErrMissing reports a sample without what the model needs: a time, a
// temperature sensor and the CPU's utilisation.
var ErrMissing = errors.New("thermal: sample lacks an input")

// Point is one observation: what the model reads from a Sample or a
// recorded log row.
type Point struct {
	Time        time.Time
	PackageC    float64 // CPU package temperature, °C
	LoadPercent float64 // CPU utilisation, 0..100
	ClockMHz    float64 // mean core clock, MHz (0 when unknown)
	PowerW      float64 // package or system power, W (0 when unknown)
}

func (p Point) check() error {
	for _, v := range [...]struct {
		name string
		x    float64
	}{{"package temperature", p.PackageC}, {"load", p.LoadPercent}, {"clock", p.ClockMHz}, {"power", p.PowerW}} {
		if math.IsNaN(v.x) || math.IsInf(v.x, 0) {
			return fmt.Errorf("thermal: %s = %v: %w", v.name, v.x, neural.ErrNonFinite)
		}
		// A float32 overflow would become an infinity inside the model.
		if math.Abs(v.x) > 1e30 {
			return fmt.Errorf("thermal: %s = %v out of range: %w", v.name, v.x, neural.ErrNonFinite)
		}
	}
	return nil
}

// PointFromSample reads a Sample: the package temperature is the hottest
// sensor that looks like a CPU package (label or name with "package",
// "x86_pkg_temp", "Tctl" or "Tdie"), else the hottest sensor; load is the
// CPU utilisation, clock the mean core frequency, power Power.TotalWatts.
func PointFromSample(s *gamesav1.Sample) (Point, error) {
	var m neural.ListMask
	return pointFromSample(s, &m)
}

// pointFromSample is PointFromSample with the package sensors of s's
// list read from m, which keeps them from the last list it saw.
func pointFromSample(s *gamesav1.Sample, m *neural.ListMask) (Point, error) {
	var p Point
	if s.GetTime() == nil {
		return p, fmt.Errorf("%w: no time", ErrMissing)
	}
	if s.GetCpu() == nil {
		return p, fmt.Errorf("%w: no CPU utilisation", ErrMissing)
	}
	p.Time = s.Time.AsTime()
	pkg, hottest := math.Inf(-1), math.Inf(-1)
	isPkg := packageSensors(m, s.Thermal)
	for i, ts := range s.Thermal {
		t := ts.GetTemperatureCelsius()
		if math.IsNaN(t) {
			return p, fmt.Errorf("thermal: sensor %q = NaN: %w", ts.GetName(), neural.ErrNonFinite)
		}
		hottest = max(hottest, t)
		if isPkg[i] {
			pkg = max(pkg, t)
		}
	}
	switch {
	case !math.IsInf(pkg, -1):
		p.PackageC = pkg
	case !math.IsInf(hottest, -1):
		p.PackageC = hottest
	default:
		return p, fmt.Errorf("%w: no temperature sensor", ErrMissing)
	}
	p.LoadPercent = s.Cpu.GetUtilizationPercent()
	if n := len(s.Cpu.Cores); n > 0 {
		var sum float64
		for _, c := range s.Cpu.Cores {
			sum += c.GetFrequencyMhz()
		}
		p.ClockMHz = sum / float64(n)
	}
	p.PowerW = s.GetPower().GetTotalWatts()
	return p, p.check()
}

// packageSensors marks which of a sample's thermal sensors look like a CPU
// package, made again only when the sensor list changes.
func packageSensors(m *neural.ListMask, ts []*gamesav1.ThermalSensor) []bool {
	return m.Of(len(ts),
		func(i int) (string, string) { return ts[i].GetLabel(), ts[i].GetName() },
		func(i int) bool { return looksLikePackage(ts[i].GetLabel()) || looksLikePackage(ts[i].GetName()) })
}

func looksLikePackage(s string) bool {
	return containsFold(s, "package") || containsFold(s, "x86_pkg_temp") || containsFold(s, "tctl") || containsFold(s, "tdie")
}

// containsFold is an ASCII case-insensitive strings.Contains that does not
// allocate (Observe runs every tick). sub must be lower case.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for ; j < len(sub); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				break
			}
		}
		if j == len(sub) {
			return true
		}
	}
	return false
}

// stream turns observations into feature rows and keeps the last histLen
// of them; it is reset where the observations have a gap.
type stream struct {
	n    int // rows since the reset
	last time.Time
	hist [histLen][numFeatures]float32
}

func (s *stream) reset() { s.n = 0 }

// gap reports whether p does not continue the stream.
func (s *stream) gap(p Point, maxGap time.Duration) bool {
	return s.n > 0 && (p.Time.Before(s.last) || p.Time.Sub(s.last) > maxGap)
}

// push adds p and returns its feature row (owned by the stream).
func (s *stream) push(p Point) *[numFeatures]float32 {
	t, pw := float32(p.PackageC), float32(p.PowerW)
	prev1, prev5 := s.lag(0), s.lag(4) // before this row: lags 1 and 5
	r := &s.hist[s.n%histLen]
	d1, d5, dp := float32(0), float32(0), float32(0)
	if s.n > 0 {
		d1, d5, dp = t-prev1[fTemp], t-prev5[fTemp], pw-prev1[fPower]
	}
	*r = [numFeatures]float32{fTemp: t, fDTemp1: d1, fDTemp5: d5, fLoad: float32(p.LoadPercent), fClock: float32(p.ClockMHz), fPower: pw, fDPower1: dp}
	s.n++
	s.last = p.Time
	return r
}

// lag returns the row k steps before the newest, clamped to the oldest the
// stream has since its reset.
func (s *stream) lag(k int) *[numFeatures]float32 {
	if s.n == 0 {
		return &s.hist[0]
	}
	k = min(k, s.n-1, histLen-1)
	return &s.hist[(s.n-1-k)%histLen]
}
