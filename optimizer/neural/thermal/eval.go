package thermal

import (
	"fmt"
	"math"
	"strings"
)

// evalWarm is how many observations after a stream reset evaluation waits
// before it scores: the linear baseline's longest lag, and at least the
// model's warm-up.
const evalWarm = MaxHorizon

// smoothHalf is the half-width of the smoothed target: the mean of the
// 5 observations centred on the target time.
const smoothHalf = 2

// Errors are one method's mean absolute and root-mean-square errors in °C,
// per horizon.
type Errors struct {
	MAE, RMSE [NumHorizons]float64
}

// Table is the errors of the model and of the baselines against one kind
// of target. LSTM and Linear are the model and its linear part as fitted
// offline (adaptation off); Adaptive and LinearAdaptive the same two with
// the linear part adapting online (Config.Forget), zero when it is off.
type Table struct {
	LSTM, Persistence, Linear Errors
	Adaptive, LinearAdaptive  Errors
}

// Report is an evaluation: the errors against the raw package temperature
// and against its centred 5-s mean, over the same points.
type Report struct {
	// Points is the number of scored observations: those with 30 earlier
	// and 32 later observations in their stream.
	Points int
	// Invalid counts observations dropped as non-finite (each resets the
	// stream).
	Invalid int
	// LinearFitted is false for a model trained online only: its linear
	// baseline is unset and Raw.Linear / Smoothed.Linear mean nothing.
	LinearFitted bool
	// Forget is the adaptation's forgetting factor; 0: off, and the
	// tables' Adaptive and LinearAdaptive mean nothing.
	Forget        float64
	Raw, Smoothed Table
}

// String prints the report as a table.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "thermal forecast: %d points", r.Points)
	if r.Invalid > 0 {
		fmt.Fprintf(&b, " (%d invalid observations dropped)", r.Invalid)
	}
	if r.Forget != 0 {
		fmt.Fprintf(&b, "; -rls: linear part adapting online, λ = %g", r.Forget)
	}
	b.WriteString("; MAE / RMSE in °C\n")
	fmt.Fprintf(&b, "%-9s %-12s", "target", "method")
	for _, h := range Horizons {
		fmt.Fprintf(&b, " %15s", fmt.Sprintf("%d s", h))
	}
	b.WriteByte('\n')
	for _, t := range []struct {
		name string
		tab  *Table
	}{{"raw", &r.Raw}, {"smooth5", &r.Smoothed}} {
		for _, m := range []struct {
			name string
			e    *Errors
		}{{"lstm", &t.tab.LSTM}, {"persistence", &t.tab.Persistence}, {"linear-ar", &t.tab.Linear},
			{"lstm-rls", &t.tab.Adaptive}, {"linear-rls", &t.tab.LinearAdaptive}} {
			if m.e == &t.tab.Linear && !r.LinearFitted {
				continue
			}
			if (m.e == &t.tab.Adaptive || m.e == &t.tab.LinearAdaptive) && r.Forget == 0 {
				continue
			}
			fmt.Fprintf(&b, "%-9s %-12s", t.name, m.name)
			for h := range NumHorizons {
				fmt.Fprintf(&b, " %15s", fmt.Sprintf("%.3f / %.3f", m.e.MAE[h], m.e.RMSE[h]))
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// errAcc accumulates absolute and squared errors.
type errAcc struct{ abs, sq [NumHorizons]float64 }

func (a *errAcc) add(h int, e float64) {
	a.abs[h] += math.Abs(e)
	a.sq[h] += e * e
}

func (a *errAcc) errors(n int) (e Errors) {
	if n == 0 {
		return e
	}
	for h := range NumHorizons {
		e.MAE[h] = a.abs[h] / float64(n)
		e.RMSE[h] = math.Sqrt(a.sq[h] / float64(n))
	}
	return e
}

// step is what evaluation records per observation.
type step struct {
	temp   float64
	seg    uint32
	scored bool // warm and forecast available
	lstm   [NumHorizons]float32
	linear [NumHorizons]float64
	// With the linear part adapting.
	adaptive [NumHorizons]float32
	linAdapt [NumHorizons]float64
}

// Evaluate scores m on series, running a copy of it (m is left as it is)
// through each series from a reset stream, against persistence and the
// model's linear baseline. Horizons count observations, nominally seconds.
// A model without normalisers scores no points.
//
// With Config.Forget set it also scores the model and its linear part
// adapting online (a second copy, whose LSTM reads the adapted linear
// forecast), prequentially: each forecast is recorded before the
// observations it is scored on reach the model. Each series starts from
// the offline fit, so the result does not depend on the series' order.
func Evaluate(m *Model, series []Series) Report {
	r := Report{LinearFitted: m.linOK}
	if m.in == nil {
		return r
	}
	c := m.clone() // the static model
	var a *Model   // the adapting one, when Config.Forget is set
	if c.adapt.on {
		r.Forget = c.adapt.lambda
		a = m.clone()
		c.adapt.on = false
	}
	var acc [2][5]errAcc // target kind × method
	var steps []step
	for _, s := range series {
		c.resetStream()
		if a != nil {
			a.resetStream()
			a.resetAdapt()
		}
		steps = steps[:0]
		for _, p := range s.Points {
			if err := c.ObservePoint(p); err != nil {
				r.Invalid++
				c.resetStream()
				if a != nil {
					a.resetStream()
				}
				continue
			}
			if a != nil {
				// c took p: it passed the only check ObservePoint makes.
				_ = a.ObservePoint(p)
			}
			st := step{temp: p.PackageC, seg: c.seg}
			if c.st.n > evalWarm {
				st.lstm, st.scored = c.Forecast()
				for h, v := range c.linY {
					st.linear[h] = p.PackageC + v
				}
				if a != nil {
					st.adaptive, _ = a.Forecast()
					for h, v := range a.linY {
						st.linAdapt[h] = p.PackageC + v
					}
				}
			}
			steps = append(steps, st)
		}
		for i, st := range steps {
			end := i + MaxHorizon + smoothHalf
			if !st.scored || end >= len(steps) || steps[end].seg != st.seg {
				continue
			}
			r.Points++
			for h, ahead := range Horizons {
				j := i + ahead
				var smooth float64
				for k := j - smoothHalf; k <= j+smoothHalf; k++ {
					smooth += steps[k].temp
				}
				smooth /= 2*smoothHalf + 1
				for t, truth := range [2]float64{steps[j].temp, smooth} {
					acc[t][0].add(h, float64(st.lstm[h])-truth)
					acc[t][1].add(h, st.temp-truth)
					acc[t][2].add(h, st.linear[h]-truth)
					acc[t][3].add(h, float64(st.adaptive[h])-truth)
					acc[t][4].add(h, st.linAdapt[h]-truth)
				}
			}
		}
	}
	for t, tab := range [2]*Table{&r.Raw, &r.Smoothed} {
		tab.LSTM = acc[t][0].errors(r.Points)
		tab.Persistence = acc[t][1].errors(r.Points)
		tab.Linear = acc[t][2].errors(r.Points)
		if r.Forget != 0 {
			tab.Adaptive = acc[t][3].errors(r.Points)
			tab.LinearAdaptive = acc[t][4].errors(r.Points)
		}
	}
	return r
}
