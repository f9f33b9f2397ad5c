package thermal

import (
	"cmp"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/telemetry/ohm"
)

// heldOutForget is the forgetting factor the held-out report adapts
// with, chosen on the validation split.
const heldOutForget = 0.9999

// realDataDir is ../shared/data/thermal from the project root.
var realDataDir = filepath.Join("..", "..", "..", "..", "shared", "data", "thermal")

// loadDays reads the laptop's logs as one Series per day (the desktop log
// is excluded by ohm.DefaultConfig), largest first.
func loadDays(t *testing.T) []Series {
	t.Helper()
	if _, err := os.Stat(realDataDir); err != nil {
		t.Skipf("real thermal logs not found at %s (%v): skipping", realDataDir, err)
	}
	logs, excluded, err := ohm.ReadDir(realDataDir, ohm.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("excluded as another machine: %v", excluded)
	var days []Series
	for _, l := range logs {
		s := Series{Name: l.Name}
		for _, seg := range l.Segments {
			for i := range seg.Time {
				s.Points = append(s.Points, Point{
					Time: seg.Time[i], PackageC: seg.PackageC[i], LoadPercent: seg.LoadPercent[i],
					ClockMHz: seg.ClockMHz[i], PowerW: seg.PackageW[i],
				})
			}
		}
		days = append(days, s)
	}
	slices.SortStableFunc(days, func(a, b Series) int { return cmp.Compare(len(b.Points), len(a.Points)) })
	return days
}

// TestAccuracyOnHeldOutDays trains on the two biggest days and tests on
// the others (chosen by size, not by their results). DefaultConfig's
// training settings were chosen by cross-validation within the training
// days and between them (validation_test.go); the held-out days were
// scored after. It asserts what the model reaches there, with a margin,
// as a guard against regressions: on raw and on smoothed targets the
// LSTM's MAE is below persistence's and the linear baseline's at every
// horizon, at 30 s at most 90 % of persistence's and 98 % of the linear
// baseline's; its RMSE is below persistence's at every horizon. Its RMSE
// does not beat the linear baseline's on these days (at 30 s it is 2 %
// above it raw, 3 % smoothed, though below it on every validation split):
// that is only bounded, at 104 % of the baseline's.
//
// The report also shows the model and its linear part adapting online
// with λ = 0.9999 (heldOutForget). Train does not depend on
// Config.Forget. Only what adaptation must not break is asserted: the
// adaptive linear part is no worse than the static one by RMSE at any
// horizon.
func TestAccuracyOnHeldOutDays(t *testing.T) {
	days := loadDays(t)
	if len(days) < 3 {
		t.Skipf("need 3 or more days of logs; have %d", len(days))
	}
	train, test := days[:2], days[2:]
	start := time.Now()
	cfg := DefaultConfig()
	cfg.Forget = heldOutForget
	m, in, err := Train(train, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep := Evaluate(m, test)
	t.Logf("train %s, %s; test %d days; train + evaluate %v", train[0].Name, train[1].Name, len(test), time.Since(start))
	t.Logf("in-sample:\n%s", in)
	t.Logf("held out:\n%s", rep)
	if rep.Points < 1000 || !rep.LinearFitted {
		t.Fatalf("held out: %d points, linear fitted %v; want 1000+ and true", rep.Points, rep.LinearFitted)
	}
	for _, tab := range []struct {
		name string
		t    Table
	}{{"raw", rep.Raw}, {"smoothed", rep.Smoothed}} {
		for h, sec := range Horizons {
			l, p, a := tab.t.LSTM.MAE[h], tab.t.Persistence.MAE[h], tab.t.Linear.MAE[h]
			if l >= p || l >= a {
				t.Errorf("%s %d s: LSTM MAE %.3f; want below persistence %.3f and linear %.3f", tab.name, sec, l, p, a)
			}
			lr, pr, ar := tab.t.LSTM.RMSE[h], tab.t.Persistence.RMSE[h], tab.t.Linear.RMSE[h]
			if lr >= pr || lr > 1.04*ar {
				t.Errorf("%s %d s: LSTM RMSE %.3f; want below persistence %.3f and at most 104%% of linear %.3f", tab.name, sec, lr, pr, ar)
			}
			if a, s := tab.t.LinearAdaptive.RMSE[h], tab.t.Linear.RMSE[h]; a > s {
				t.Errorf("%s %d s: adaptive linear RMSE %.3f; want at most the static %.3f", tab.name, sec, a, s)
			}
		}
		if l, p, a := tab.t.LSTM.MAE[2], tab.t.Persistence.MAE[2], tab.t.Linear.MAE[2]; l > 0.9*p || l > 0.98*a {
			t.Errorf("%s 30 s: LSTM MAE %.3f; want at most 90%% of persistence %.3f and 98%% of linear %.3f", tab.name, l, p, a)
		}
	}
}
