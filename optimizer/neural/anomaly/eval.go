package anomaly

import (
	"fmt"
	"strings"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Stream is one labelled sequence of samples for Evaluate: clean
// (Fault == FaultNone) or with one fault present from index Onset to the
// end.
type Stream struct {
	Name    string
	Fault   Fault
	Onset   int
	Samples []*gamesav1.Sample
}

// FaultReport is how the detector fared on the streams of one fault.
//
// Recall is per event: a stream's fault counts as detected when any sample
// from its onset on is flagged (a stuck sensor cannot show before the real
// temperature moves away from the frozen one, so a sample-level recall
// would be unfair to it). Precision is per sample: flagged samples from
// the onset on, over all flagged samples of these streams, so alarms
// before the fault count against it.
type FaultReport struct {
	Fault            Fault
	Events, Detected int
	// Flagged counts flagged samples in these streams; TruePositives those
	// from the onset on.
	Flagged, TruePositives int
	// DelaySum adds up, over the detected events, the samples from the
	// onset to the first flag.
	DelaySum int
}

// Recall is Detected / Events (0 without events).
func (r FaultReport) Recall() float64 { return ratio(r.Detected, r.Events) }

// Precision is TruePositives / Flagged (1 when nothing was flagged: no
// alarm was false).
func (r FaultReport) Precision() float64 {
	if r.Flagged == 0 {
		return 1
	}
	return ratio(r.TruePositives, r.Flagged)
}

// MeanDelay is the mean number of samples from onset to first flag over
// the detected events.
func (r FaultReport) MeanDelay() float64 { return ratio(r.DelaySum, r.Detected) }

// Report is the result of Evaluate.
type Report struct {
	// Faults has one entry per fault that any stream carries, in Fault
	// order.
	Faults []FaultReport
	// CleanSamples are the scored samples of clean streams, CleanFlagged
	// those flagged anomalous.
	CleanSamples, CleanFlagged int
	// Unscored counts samples (of all streams) that got no score: the
	// window filling up, or an untrained model.
	Unscored int
}

// FalsePositiveRate is CleanFlagged / CleanSamples.
func (r Report) FalsePositiveRate() float64 { return ratio(r.CleanFlagged, r.CleanSamples) }

// Precision is the per-sample precision over every stream: flagged
// samples inside a fault window over all flagged samples, the clean
// streams' included.
func (r Report) Precision() float64 {
	tp, flagged := 0, r.CleanFlagged
	for _, f := range r.Faults {
		tp += f.TruePositives
		flagged += f.Flagged
	}
	if flagged == 0 {
		return 1
	}
	return ratio(tp, flagged)
}

// Fault returns the entry for f, or a zero one naming f.
func (r Report) Fault(f Fault) FaultReport {
	for _, fr := range r.Faults {
		if fr.Fault == f {
			return fr
		}
	}
	return FaultReport{Fault: f}
}

// String renders the report as a small table for people.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-16s %7s %8s %7s %10s %11s\n", "fault", "events", "detected", "recall", "precision", "mean delay")
	for _, f := range r.Faults {
		fmt.Fprintf(&b, "%-16s %7d %8d %7.3f %10.3f %9.1f s\n", f.Fault, f.Events, f.Detected, f.Recall(), f.Precision(), f.MeanDelay())
	}
	fmt.Fprintf(&b, "overall precision %.3f; clean samples %d, flagged %d (false-positive rate %.4f); unscored %d\n",
		r.Precision(), r.CleanSamples, r.CleanFlagged, r.FalsePositiveRate(), r.Unscored)
	return b.String()
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Evaluate runs m over each stream from an empty window, as a node would
// see it live (the threshold keeps adapting within a stream), and counts
// what it flags. m comes back as it was: each stream starts from m's
// threshold, and nothing is added to its replay buffer. It returns the
// first Observe error, naming the stream and sample.
func Evaluate(m *Model, streams []Stream) (Report, error) {
	saved := m.snapshot()
	defer m.restore(saved)
	m.frozen = true
	var r Report
	idx := map[Fault]int{}
	for _, st := range streams {
		m.restore(saved)
		m.frozen = true
		var fr *FaultReport
		if st.Fault != FaultNone {
			if st.Onset < 0 || st.Onset >= len(st.Samples) {
				return Report{}, fmt.Errorf("anomaly: stream %q: onset %d outside its %d samples", st.Name, st.Onset, len(st.Samples))
			}
			i, ok := idx[st.Fault]
			if !ok {
				i = len(r.Faults)
				idx[st.Fault] = i
				r.Faults = append(r.Faults, FaultReport{Fault: st.Fault})
			}
			fr = &r.Faults[i]
			fr.Events++
		}
		detected := false
		for i, s := range st.Samples {
			if err := m.Observe(s); err != nil {
				return Report{}, fmt.Errorf("anomaly: stream %q sample %d: %w", st.Name, i, err)
			}
			_, flagged, ok := m.Score()
			if !ok {
				r.Unscored++
				continue
			}
			if fr == nil {
				r.CleanSamples++
				if flagged {
					r.CleanFlagged++
				}
				continue
			}
			if !flagged {
				continue
			}
			fr.Flagged++
			if i >= st.Onset {
				fr.TruePositives++
				if !detected {
					detected = true
					fr.Detected++
					fr.DelaySum += i - st.Onset
				}
			}
		}
	}
	// Stable order for the report: by fault.
	for i := 1; i < len(r.Faults); i++ {
		for j := i; j > 0 && r.Faults[j].Fault < r.Faults[j-1].Fault; j-- {
			r.Faults[j], r.Faults[j-1] = r.Faults[j-1], r.Faults[j]
		}
	}
	return r, nil
}

// state is what Evaluate puts back after each stream.
type state struct {
	thMean, thVar float64
	thN           uint64
	frozen        bool
}

func (m *Model) snapshot() state {
	return state{m.thMean, m.thVar, m.thN, m.frozen}
}

func (m *Model) restore(s state) {
	m.thMean, m.thVar, m.thN, m.frozen = s.thMean, s.thVar, s.thN, s.frozen
	m.reset()
}
