package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/krystalstack/gamesa/examples/contention/internal/measure"
)

// The agent's modes, in the order of the report.
const (
	modeObserve = "observe"
	modeEnforce = "enforce"
)

var modes = []string{modeObserve, modeEnforce}

// runResult is what one run measured.
type runResult struct {
	Rep  int    `json:"rep"`
	Mode string `json:"mode"`
	// Frames are the game's frames after the warm-up.
	Frames measure.FrameStats `json:"frames"`
	// HogRate is the hogs' throughput after the warm-up, summed, in units
	// per second.
	HogRate float64 `json:"hog_units_per_s"`
	// HogShare is HogRate over the observe run's of the same repetition.
	HogShare float64 `json:"hog_share_of_observe"`
	// Game and Hogs are the processes' affinity and nice value at the end
	// of the run: what the agent left them with.
	Game procState   `json:"game"`
	Hogs []procState `json:"hogs"`
	// OtherCPUs is the CPU time, in CPUs, that processes outside the run
	// used after the warm-up: the figures are only as clean as this is
	// small.
	OtherCPUs float64 `json:"other_cpus"`
	// Applied counts the distinct actions on the game and the hogs that
	// the agent reported applied.
	Applied int `json:"applied_actions"`
}

// line is the one-line account of a run printed as it ends.
func (r runResult) line() string {
	hogs := "-"
	if len(r.Hogs) > 0 {
		hogs = fmt.Sprintf("cpus %s nice %d", r.Hogs[0].CPUs, r.Hogs[0].Nice)
	}
	return fmt.Sprintf("rep %d %-7s  %5.1f fps  p99 %5.1f ms  missed %5.1f%%  hogs %8.0f units/s  other load %.2f CPUs  "+
		"(game cpus %s nice %d; hog 1 %s; %d actions applied)",
		r.Rep, r.Mode, r.Frames.FPS, r.Frames.P99FrameMS, 100*r.Frames.Missed, r.HogRate, r.OtherCPUs,
		r.Game.CPUs, r.Game.Nice, hogs, r.Applied)
}

// fillHogShares sets each result's HogShare from its repetition's
// observe run.
func fillHogShares(results []runResult) {
	observed := map[int]float64{}
	for _, r := range results {
		if r.Mode == modeObserve {
			observed[r.Rep] = r.HogRate
		}
	}
	for i := range results {
		if base := observed[results[i].Rep]; base > 0 {
			results[i].HogShare = results[i].HogRate / base
		}
	}
}

// spread is a median over repetitions and the range around it.
type spread struct{ Median, Min, Max float64 }

func spreadOf(vs []float64) spread {
	if len(vs) == 0 {
		return spread{}
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return spread{Median: med, Min: s[0], Max: s[n-1]}
}

func (s spread) format(verb string, scale float64, unit string) string {
	f := func(v float64) string { return fmt.Sprintf(verb, v*scale) }
	return f(s.Median) + unit + " (" + f(s.Min) + "–" + f(s.Max) + ")"
}

// modeSummary is one mode's medians and ranges over the repetitions.
type modeSummary struct {
	Mode     string `json:"mode"`
	Runs     int    `json:"runs"`
	FPS      spread `json:"fps"`
	P99Frame spread `json:"p99_frame_ms"`
	Missed   spread `json:"missed_share"`
	HogRate  spread `json:"hog_units_per_s"`
	HogShare spread `json:"hog_share_of_observe"`
	Other    spread `json:"other_cpus"`
}

func summarize(results []runResult) []modeSummary {
	var out []modeSummary
	for _, mode := range modes {
		var fps, p99, missed, rate, share, other []float64
		for _, r := range results {
			if r.Mode != mode {
				continue
			}
			fps = append(fps, r.Frames.FPS)
			p99 = append(p99, r.Frames.P99FrameMS)
			missed = append(missed, r.Frames.Missed)
			rate = append(rate, r.HogRate)
			share = append(share, r.HogShare)
			other = append(other, r.OtherCPUs)
		}
		if len(fps) == 0 {
			continue
		}
		out = append(out, modeSummary{Mode: mode, Runs: len(fps), FPS: spreadOf(fps), P99Frame: spreadOf(p99),
			Missed: spreadOf(missed), HogRate: spreadOf(rate), HogShare: spreadOf(share), Other: spreadOf(other)})
	}
	return out
}

// printTable writes one row per mode: medians over the repetitions, with
// the range in parentheses.
func printTable(w io.Writer, sums []modeSummary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "mode\truns\tavg fps\tp99 frame time\tmissed deadlines\thog throughput\thog vs observe\tother load")
	for _, s := range sums {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Mode, s.Runs,
			s.FPS.format("%.1f", 1, ""), s.P99Frame.format("%.1f", 1, " ms"),
			s.Missed.format("%.1f", 100, "%"), s.HogRate.format("%.0f", 1, " units/s"),
			s.HogShare.format("%.0f", 100, "%"), s.Other.format("%.2f", 1, " CPUs"))
	}
	return tw.Flush()
}

// gain is the enforce runs' median frame rate over the observe runs', as
// a relative change (0.25 = 25% more frames); ok is false without both.
func gain(sums []modeSummary) (g float64, ok bool) {
	var obs, enf float64
	for _, s := range sums {
		switch s.Mode {
		case modeObserve:
			obs = s.FPS.Median
		case modeEnforce:
			enf = s.FPS.Median
		}
	}
	if obs <= 0 || enf <= 0 {
		return 0, false
	}
	return enf/obs - 1, true
}
