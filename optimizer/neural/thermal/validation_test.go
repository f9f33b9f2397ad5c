package thermal

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

// validationEnv turns TestValidationSplits on; validationSeedsEnv sets how
// many seeds it trains per split (default 3).
const (
	validationEnv      = "GAMESA_THERMAL_VALIDATION"
	validationSeedsEnv = "GAMESA_THERMAL_VALIDATION_SEEDS"
)

// valSplit is one validation split of the training days.
type valSplit struct {
	name       string
	train, val []Series
}

// validationSplits cuts the two training days without touching any other:
// blocked 4-fold cross-validation (fold k validates on the k-th quarter
// of each day and trains on the rest of both) and leave-one-day-out in
// both directions (train on one day, validate on the other: a harder
// shift than a new day brings, since the model then has seen only one of
// the light and the heavy day).
func validationSplits(days []Series) (folds, lodo []valSplit) {
	const k = 4
	for f := range k {
		sp := valSplit{name: fmt.Sprintf("fold %d", f+1)}
		for _, d := range days {
			n := len(d.Points)
			lo, hi := f*n/k, (f+1)*n/k
			if lo > 0 {
				sp.train = append(sp.train, Series{Name: d.Name, Points: d.Points[:lo]})
			}
			if hi < n {
				sp.train = append(sp.train, Series{Name: d.Name, Points: d.Points[hi:]})
			}
			sp.val = append(sp.val, Series{Name: d.Name, Points: d.Points[lo:hi]})
		}
		folds = append(folds, sp)
	}
	lodo = []valSplit{
		{"validate on " + days[0].Name, days[1:2], days[:1]},
		{"validate on " + days[1].Name, days[:1], days[1:2]},
	}
	return folds, lodo
}

// pool merges reports on disjoint points: MAE weighted by points, RMSE
// from the pooled squared errors. Only LSTM, Persistence and Linear are
// kept.
func pool(reps []Report) Report {
	var out Report
	out.LinearFitted = true
	for _, r := range reps {
		out.Points += r.Points
		out.LinearFitted = out.LinearFitted && r.LinearFitted
	}
	if out.Points == 0 {
		return out
	}
	for _, get := range []func(*Report) *Table{
		func(r *Report) *Table { return &r.Raw },
		func(r *Report) *Table { return &r.Smoothed },
	} {
		for _, method := range []func(*Table) *Errors{
			func(t *Table) *Errors { return &t.LSTM },
			func(t *Table) *Errors { return &t.Persistence },
			func(t *Table) *Errors { return &t.Linear },
		} {
			dst := method(get(&out))
			for h := range NumHorizons {
				var abs, sq float64
				for i := range reps {
					e, n := method(get(&reps[i])), float64(reps[i].Points)
					abs += n * e.MAE[h]
					sq += n * e.RMSE[h] * e.RMSE[h]
				}
				dst.MAE[h] = abs / float64(out.Points)
				dst.RMSE[h] = math.Sqrt(sq / float64(out.Points))
			}
		}
	}
	return out
}

// ratios is the LSTM's RMSE over the linear baseline's per horizon.
func ratios(t Table) (r [NumHorizons]float64) {
	for h := range NumHorizons {
		r[h] = t.LSTM.RMSE[h] / t.Linear.RMSE[h]
	}
	return r
}

// TestValidationSplits reproduces the validation behind DefaultConfig's
// training settings on the two training days only (never the held-out
// days): for each seed, the cross-validation folds pooled, and each
// leave-one-day-out split, with the LSTM's RMSE as a fraction of the
// linear baseline's. It asserts what the settings were chosen for: over
// the seeds, the pooled cross-validation RMSE is below the linear
// baseline's at every horizon on raw and smoothed targets. It trains
// 6 models a seed (about 10 s each seed on one core), so it runs only
// with GAMESA_THERMAL_VALIDATION=1:
//
//	GAMESA_THERMAL_VALIDATION=1 go test -run TestValidationSplits -v ./optimizer/neural/thermal/
func TestValidationSplits(t *testing.T) {
	if os.Getenv(validationEnv) == "" {
		t.Skipf("set %s=1 to run the validation splits", validationEnv)
	}
	seeds := 3
	if v, err := strconv.Atoi(os.Getenv(validationSeedsEnv)); err == nil && v > 0 {
		seeds = v
	}
	days := loadDays(t)
	if len(days) < 2 {
		t.Skipf("need 2 or more days of logs; have %d", len(days))
	}
	folds, lodo := validationSplits(days[:2])
	var meanRaw, meanSmooth [NumHorizons]float64
	for seed := range uint64(seeds) {
		cfg := DefaultConfig()
		cfg.Seed = 1 + seed
		eval := func(sp valSplit) Report {
			m, _, err := Train(sp.train, cfg)
			if err != nil {
				t.Fatalf("%s: %v", sp.name, err)
			}
			return Evaluate(m, sp.val)
		}
		var reps []Report
		for _, sp := range folds {
			reps = append(reps, eval(sp))
		}
		cv := pool(reps)
		rr, rs := ratios(cv.Raw), ratios(cv.Smoothed)
		var b strings.Builder
		fmt.Fprintf(&b, "seed %d, %d folds pooled: LSTM RMSE / linear RMSE raw %.3f, smoothed %.3f\n%s", cfg.Seed, len(folds), rr, rs, cv)
		for h := range NumHorizons {
			meanRaw[h] += rr[h] / float64(seeds)
			meanSmooth[h] += rs[h] / float64(seeds)
		}
		for _, sp := range lodo {
			r := eval(sp)
			fmt.Fprintf(&b, "seed %d, %s: LSTM RMSE / linear RMSE raw %.3f, smoothed %.3f\n%s", cfg.Seed, sp.name, ratios(r.Raw), ratios(r.Smoothed), r)
		}
		t.Log("\n" + b.String())
	}
	t.Logf("mean over %d seeds of the pooled folds' LSTM RMSE / linear RMSE: raw %.3f, smoothed %.3f", seeds, meanRaw, meanSmooth)
	for h, sec := range Horizons {
		if meanRaw[h] >= 1 || meanSmooth[h] >= 1 {
			t.Errorf("%d s: cross-validated RMSE ratio raw %.3f, smoothed %.3f; want below 1", sec, meanRaw[h], meanSmooth[h])
		}
	}
}
