package sim

// The thermal defaults are fitted here to a real laptop's sensor logs:
// Hardware Performance Archive, ASUS GL553VD OpenHardwareMonitor logs, CC-BY-4.0.
// See /work/shared/data/README.md for the data.

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/telemetry/ohm"
)

// thermalDataDir is the shared data folder, relative to this package.
var thermalDataDir = filepath.Join("..", "..", "..", "shared", "data", "thermal")

// The fit's split: whole days, as the data's README asks. The held-out
// day is the last long day of April: idle stretches and hours of sustained
// load.
var (
	heldOutDay = "gl553vd-2020-04-28.csv.gz"
	trainDays  = []string{
		"gl553vd-2020-04-06.csv.gz",
		"gl553vd-2020-04-12.csv.gz",
		"gl553vd-2020-05-02.csv.gz",
		"gl553vd-2020-05-08.csv.gz",
	}
)

const (
	// segmentGap splits the logs where the logger was off; rows 2–3 s
	// apart (the logger's hiccups) stay in one segment.
	segmentGap = 5 * time.Second
	// minSegment drops segments too short to show dynamics.
	minSegment = 60
	// smoothWindow is the centred moving average that takes the sensor's
	// second-to-second jitter out of the reference temperature.
	smoothWindow = 31
)

// ohmRow is one second of the log.
type ohmRow struct {
	t     time.Time
	watts float64 // CPU package power
	tempC float64 // CPU package temperature
}

func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// segment is a stretch of the log without gaps: times in seconds from its
// start, package power and temperature.
type segment struct {
	t, watts, tempC []float64
}

// segments splits rows where the logger was off and drops repeated
// timestamps and short pieces.
func segments(rows []ohmRow) []segment {
	var out []segment
	var cur segment
	var start, last time.Time
	flush := func() {
		if len(cur.t) >= minSegment {
			out = append(out, cur)
		}
		cur = segment{}
	}
	for _, r := range rows {
		if !last.IsZero() && !r.t.After(last) {
			continue
		}
		if last.IsZero() || r.t.Sub(last) > segmentGap {
			flush()
			start = r.t
		}
		cur.t = append(cur.t, r.t.Sub(start).Seconds())
		cur.watts = append(cur.watts, r.watts)
		cur.tempC = append(cur.tempC, r.tempC)
		last = r.t
	}
	flush()
	return out
}

// rcFit is a fitted lumped RC: C·dT/dt = P − (T − ambient)/R.
type rcFit struct {
	r, c, ambient float64
}

func (f rcFit) tau() float64 { return f.r * f.c }

// predict runs the model over a segment from its first measured
// temperature, power held constant between rows (as Machine's steps do).
func (f rcFit) predict(s segment) []float64 {
	out := make([]float64, len(s.t))
	out[0] = s.tempC[0]
	for k := 1; k < len(s.t); k++ {
		out[k] = rcStep(out[k-1], s.watts[k-1], f.r, f.c, f.ambient, s.t[k]-s.t[k-1])
	}
	return out
}

// fitRC fits R, C and the ambient by least squares of the simulated
// temperature against the measured one over all segments.
//
// For a fixed time constant τ = RC the model's output is linear in the
// other two: T(t) = T0·e^(−t/τ) + ambient·(1 − e^(−t/τ)) + R·F(t), with F
// the power passed through a first-order low-pass of time constant τ. So
// scan τ on a 2 % grid, solve the 2×2 normal equations at each, and refine
// the best τ by golden-section search. Fitting the output (not one-step
// differences) keeps the sensor's jitter out of the regressors.
func fitRC(segs []segment) rcFit {
	bestTau, bestSSE := 0.0, math.Inf(1)
	for tau := 5.0; tau < 2000; tau *= 1.02 {
		if _, sse := fitAtTau(segs, tau); sse < bestSSE {
			bestTau, bestSSE = tau, sse
		}
	}
	// The SSE is smooth in τ near its minimum; narrow to 0.01 %.
	lo, hi := bestTau/1.02, bestTau*1.02
	const g = 0.6180339887498949
	for hi-lo > 1e-4*bestTau {
		a, b := hi-g*(hi-lo), lo+g*(hi-lo)
		if _, sa := fitAtTau(segs, a); func() bool { _, sb := fitAtTau(segs, b); return sa < sb }() {
			hi = b
		} else {
			lo = a
		}
	}
	f, _ := fitAtTau(segs, (lo+hi)/2)
	return f
}

// fitAtTau solves for R and the ambient at a fixed τ and returns the fit
// and its sum of squared errors (+Inf where R comes out ≤ 0).
func fitAtTau(segs []segment, tau float64) (rcFit, float64) {
	var a11, a12, a22, b1, b2, yy float64
	decay1 := math.Exp(-1 / tau) // most rows are 1 s apart
	for _, s := range segs {
		var lowpass float64
		e, t0 := 1.0, s.tempC[0]
		for k := 1; k < len(s.t); k++ {
			a := decay1
			if dt := s.t[k] - s.t[k-1]; dt != 1 {
				a = math.Exp(-dt / tau)
			}
			lowpass = a*lowpass + (1-a)*s.watts[k-1]
			e *= a
			x1, x2, y := 1-e, lowpass, s.tempC[k]-t0*e
			a11 += x1 * x1
			a12 += x1 * x2
			a22 += x2 * x2
			b1 += x1 * y
			b2 += x2 * y
			yy += y * y
		}
	}
	det := a11*a22 - a12*a12
	if det == 0 {
		return rcFit{}, math.Inf(1)
	}
	amb, r := (b1*a22-b2*a12)/det, (a11*b2-a12*b1)/det
	if !(r > 0) {
		return rcFit{}, math.Inf(1)
	}
	// Σ(y − βᵀx)² from the normal equations' sums, without a second pass.
	sse := yy - 2*(amb*b1+r*b2) + amb*amb*a11 + 2*amb*r*a12 + r*r*a22
	return rcFit{r: r, c: tau / r, ambient: amb}, sse
}

// fitErrors is a model's RMSE against the raw and the smoothed temperature,
// and its mean error (prediction − measurement).
type fitErrors struct{ raw, smoothed, bias float64 }

func rmse(segs []segment, predict func(segment) []float64) fitErrors {
	var raw, smooth, bias float64
	var n int
	for _, s := range segs {
		p := predict(s)
		sm := movingAverage(s.tempC, smoothWindow)
		for k := 1; k < len(s.t); k++ { // row 0 is the given start
			raw += (p[k] - s.tempC[k]) * (p[k] - s.tempC[k])
			smooth += (p[k] - sm[k]) * (p[k] - sm[k])
			bias += p[k] - s.tempC[k]
			n++
		}
	}
	return fitErrors{raw: math.Sqrt(raw / float64(n)), smoothed: math.Sqrt(smooth / float64(n)), bias: bias / float64(n)}
}

// movingAverage is a centred average over w samples, narrower at the ends.
func movingAverage(x []float64, w int) []float64 {
	out := make([]float64, len(x))
	for i := range x {
		lo, hi := max(0, i-w/2), min(len(x), i+w/2+1)
		var s float64
		for _, v := range x[lo:hi] {
			s += v
		}
		out[i] = s / float64(hi-lo)
	}
	return out
}

// steadyPredictor has no heat capacity: T = ambient + R·P at every row.
// The RC fit has to beat it for its C to mean anything.
func (f rcFit) steadyPredictor(s segment) []float64 {
	out := make([]float64, len(s.t))
	out[0] = s.tempC[0]
	for k := 1; k < len(s.t); k++ {
		out[k] = f.ambient + f.r*s.watts[k]
	}
	return out
}

// replayDefaults runs DefaultConfig's package model (fan curve included)
// on measured power: what the simulated machine would do with the real
// laptop's power trace.
func replayDefaults(s segment) []float64 {
	cfg := DefaultConfig()
	out := make([]float64, len(s.t))
	out[0] = s.tempC[0]
	for k := 1; k < len(s.t); k++ {
		r := cfg.resistance(fanDuty(cfg.FanCurve, out[k-1]))
		out[k] = rcStep(out[k-1], s.watts[k-1], r, cfg.ThermalCapacitanceJPerC, cfg.AmbientC, s.t[k]-s.t[k-1])
	}
	return out
}

// loadThermalDays reads every log of the data folder by file name (through
// telemetry/ohm, the project's reader), or skips the test when the folder
// is absent. ohm leaves out gl553vd-2020-04-02: a desktop board's sensors
// (nct6791d), an AMD GPU and a 70 W package, not the GL553VD.
func loadThermalDays(t *testing.T) map[string][]segment {
	t.Helper()
	if _, err := os.Stat(thermalDataDir); err != nil {
		t.Skipf("no thermal logs in %s (the shared data folder is absent); the fit needs them", thermalDataDir)
	}
	logs, excluded, err := ohm.ReadDir(thermalDataDir, ohm.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("left out as another machine: %v", excluded)
	days := map[string][]segment{}
	for _, l := range logs {
		var rows []ohmRow
		skipped := 0
		for _, seg := range l.Segments {
			for i := range seg.Time {
				if !isFinite(seg.PackageW[i]) || !isFinite(seg.PackageC[i]) {
					skipped++
					continue
				}
				rows = append(rows, ohmRow{t: seg.Time[i], watts: seg.PackageW[i], tempC: seg.PackageC[i]})
			}
		}
		days[l.Name] = segments(rows)
		t.Logf("%s: %d rows, %d segments, %d rows skipped", l.Name, len(rows), len(days[l.Name]), skipped+l.Skipped)
	}
	return days
}

// TestThermalFit fits the RC model to the laptop's logs, reports the fit
// and its error on the held-out day, and checks that DefaultConfig carries
// the fitted values.
func TestThermalFit(t *testing.T) {
	if testing.Short() {
		t.Skip("the fit reads 40,000 rows of logs; skipped in -short")
	}
	days := loadThermalDays(t)
	pick := func(names ...string) []segment {
		var out []segment
		for _, n := range names {
			s, ok := days[n]
			if !ok {
				t.Fatalf("day %s missing from %s", n, thermalDataDir)
			}
			out = append(out, s...)
		}
		return out
	}
	train, held := pick(trainDays...), pick(heldOutDay)
	fit := fitRC(train)
	trainErr, heldErr := rmse(train, fit.predict), rmse(held, fit.predict)
	steadyErr := rmse(held, fit.steadyPredictor)
	replayErr := rmse(held, replayDefaults)
	t.Logf("fit on %s: R = %.3f °C/W, C = %.2f J/°C, τ = %.1f s, ambient = %.2f °C",
		strings.Join(trainDays, ", "), fit.r, fit.c, fit.tau(), fit.ambient)
	t.Logf("RMSE train %.3f °C (smoothed %.3f); held-out %s %.3f °C (smoothed %.3f, bias %+.2f)",
		trainErr.raw, trainErr.smoothed, heldOutDay, heldErr.raw, heldErr.smoothed, heldErr.bias)
	// Most of the held-out error is one offset for the whole day (the
	// room's temperature changes from day to day; the model's ambient
	// cannot): what is left without it is the dynamics' error.
	t.Logf("held-out RMSE less the day's mean offset: %.3f °C", math.Sqrt(heldErr.raw*heldErr.raw-heldErr.bias*heldErr.bias))
	t.Logf("held-out RMSE without heat capacity (T = ambient + R·P): %.3f °C (smoothed %.3f)", steadyErr.raw, steadyErr.smoothed)
	t.Logf("DefaultConfig's model with its fan curve on the training days: %.3f °C", rmse(train, replayDefaults).raw)
	t.Logf("held-out RMSE of DefaultConfig's model with its fan curve: %.3f °C (smoothed %.3f, bias %+.2f)", replayErr.raw, replayErr.smoothed, replayErr.bias)

	// Leave each day out in turn: how much the fit depends on the split.
	names := make([]string, 0, len(days))
	for n := range days {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, out := range names {
		var rest []string
		for _, n := range names {
			if n != out {
				rest = append(rest, n)
			}
		}
		f := fitRC(pick(rest...))
		e := rmse(days[out], f.predict)
		t.Logf("leave out %s: R %.3f, C %.2f, ambient %.2f → RMSE %.3f °C (smoothed %.3f, bias %+.2f)", out, f.r, f.c, f.ambient, e.raw, e.smoothed, e.bias)
	}

	if heldErr.raw > 8 {
		t.Errorf("held-out RMSE = %.2f °C; want ≤ 8 (the fit has broken)", heldErr.raw)
	}
	// Against the raw sensor the jitter hides the difference; against the
	// smoothed temperature the heat capacity must earn its place.
	if heldErr.smoothed >= steadyErr.smoothed {
		t.Errorf("held-out RMSE (smoothed) %.2f °C with heat capacity, %.2f without; want the RC model to be better", heldErr.smoothed, steadyErr.smoothed)
	}
	if replayErr.raw > heldErr.raw+1 {
		t.Errorf("DefaultConfig replay RMSE = %.2f °C; want within 1 °C of the fit's %.2f", replayErr.raw, heldErr.raw)
	}
	cfg := DefaultConfig()
	for _, c := range []struct {
		name       string
		def, fit   float64
		relTol     float64
		absTolDegC float64
	}{
		{"ThermalResistanceCPerW", cfg.ThermalResistanceCPerW, fit.r, 0.03, 0},
		{"ThermalCapacitanceJPerC", cfg.ThermalCapacitanceJPerC, fit.c, 0.03, 0},
		{"AmbientC", cfg.AmbientC, fit.ambient, 0, 0.3},
	} {
		tol := c.relTol*math.Abs(c.fit) + c.absTolDegC
		if math.Abs(c.def-c.fit) > tol {
			t.Errorf("DefaultConfig().%s = %v; the fit gives %.3f (update the default and its comment)", c.name, c.def, c.fit)
		}
	}
}

// TestSegments checks the split at logger gaps.
func TestSegments(t *testing.T) {
	start := time.Date(2020, 4, 28, 0, 0, 0, 0, time.UTC)
	var rows []ohmRow
	add := func(from, n int) {
		for i := range n {
			rows = append(rows, ohmRow{t: start.Add(time.Duration(from+i) * time.Second), watts: 1, tempC: 40})
		}
	}
	add(0, 100)          // one segment...
	add(102, 50)         // ...continued across a 3 s hiccup
	add(149, 1)          // a repeated timestamp, dropped
	add(400, minSegment) // a new segment after a gap
	add(1000, 10)        // too short, dropped
	got := segments(rows)
	var lens []int
	for _, s := range got {
		lens = append(lens, len(s.t))
	}
	if want := []int{150, minSegment}; !slices.Equal(lens, want) {
		t.Errorf("segments: lengths %v; want %v", lens, want)
	}
	if got[0].t[100] != 102 {
		t.Errorf("segments: time after the hiccup = %v s; want 102", got[0].t[100])
	}
}

// TestFitRCRecoversKnownModel fits synthetic data made by the model itself.
func TestFitRCRecoversKnownModel(t *testing.T) {
	want := rcFit{r: 1.5, c: 30, ambient: 35}
	s := segment{}
	temp := 50.0
	for k := range 3000 {
		w := 5.0
		if (k/300)%2 == 1 {
			w = 30
		}
		s.t = append(s.t, float64(k))
		s.watts = append(s.watts, w)
		s.tempC = append(s.tempC, temp)
		temp = rcStep(temp, w, want.r, want.c, want.ambient, 1)
	}
	got := fitRC([]segment{s})
	if math.Abs(got.r-want.r) > 0.01*want.r || math.Abs(got.tau()-want.tau()) > 0.01*want.tau() || math.Abs(got.ambient-want.ambient) > 0.1 {
		t.Errorf("fitRC = %+v; want %+v", got, want)
	}
}
