package workload

import (
	"fmt"
	"strings"

	"github.com/krystalstack/gamesa/optimizer/neural"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// LabelledWindow is Window samples' features (time-major, oldest first,
// Window × Channels) and the workload that produced them.
type LabelledWindow struct {
	Class string
	X     []float32
}

// NewWindow computes the features of Window samples (oldest first) into a
// labelled window.
func NewWindow(class string, samples []*gamesav1.Sample) (LabelledWindow, error) {
	if classIndex(class) < 0 {
		return LabelledWindow{}, fmt.Errorf("workload: unknown class %q (want one of %v)", class, classes)
	}
	if len(samples) != Window {
		return LabelledWindow{}, fmt.Errorf("workload: window of %d samples; want %d", len(samples), Window)
	}
	w := LabelledWindow{Class: class, X: make([]float32, Window*Channels)}
	for i, s := range samples {
		if err := Features(w.X[i*Channels:], s); err != nil {
			return LabelledWindow{}, fmt.Errorf("workload: sample %d: %w", i, err)
		}
	}
	return w, nil
}

// check returns w's label index, or why w cannot be used.
func (w LabelledWindow) check() (int, error) {
	label := classIndex(w.Class)
	if label < 0 {
		return 0, fmt.Errorf("unknown class %q", w.Class)
	}
	if len(w.X) != Window*Channels {
		return 0, fmt.Errorf("window has %d features; want %d", len(w.X), Window*Channels)
	}
	if err := neural.CheckFinite("window", w.X); err != nil {
		return 0, err
	}
	return label, nil
}

// ConfusionMatrix counts classifications: Counts[t][p] windows of true
// class Classes[t] were classified as Classes[p].
type ConfusionMatrix struct {
	Classes []string
	Counts  [][]int
}

// String renders the matrix as a table, true classes down, predictions
// across, with each row's recall.
func (c ConfusionMatrix) String() string {
	width := len("true\\pred")
	for _, name := range c.Classes {
		width = max(width, len(name))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-*s", width, "true\\pred")
	for _, name := range c.Classes {
		fmt.Fprintf(&b, " %*s", width, name)
	}
	fmt.Fprintf(&b, " %*s\n", width, "recall")
	for t, row := range c.Counts {
		fmt.Fprintf(&b, "%-*s", width, c.Classes[t])
		total := 0
		for _, n := range row {
			fmt.Fprintf(&b, " %*d", width, n)
			total += n
		}
		if total == 0 {
			fmt.Fprintf(&b, " %*s\n", width, "-")
			continue
		}
		fmt.Fprintf(&b, " %*.1f%%\n", width-1, 100*float64(row[t])/float64(total))
	}
	return b.String()
}

// Report is a model's score on labelled windows.
type Report struct {
	// Windows is how many were classified, Correct how many rightly;
	// Skipped how many were unusable (unknown class, wrong length,
	// non-finite features) and left out of everything else.
	Windows, Correct, Skipped int
	// Accuracy is Correct / Windows (0 with no windows).
	Accuracy  float64
	Confusion ConfusionMatrix
}

// String renders the report for people: accuracy, then the matrix.
func (r Report) String() string {
	s := fmt.Sprintf("accuracy %.1f%% (%d of %d windows)", 100*r.Accuracy, r.Correct, r.Windows)
	if r.Skipped > 0 {
		s += fmt.Sprintf(", %d skipped", r.Skipped)
	}
	return s + "\n" + r.Confusion.String()
}

// Evaluate classifies each window with m and scores the answers. It uses
// m's network buffers but not its observed window, so a model can be
// evaluated between two Observe calls.
func Evaluate(m *Model, windows []LabelledWindow) Report {
	r := Report{Confusion: ConfusionMatrix{Classes: Classes(), Counts: make([][]int, numClasses)}}
	for i := range r.Confusion.Counts {
		r.Confusion.Counts[i] = make([]int, numClasses)
	}
	for _, w := range windows {
		label, err := w.check()
		if err != nil {
			r.Skipped++
			continue
		}
		pred := m.predict(w.X)
		r.Confusion.Counts[label][pred]++
		r.Windows++
		if pred == label {
			r.Correct++
		}
	}
	if r.Windows > 0 {
		r.Accuracy = float64(r.Correct) / float64(r.Windows)
	}
	m.fresh = false // predict overwrote the probabilities Classify reports
	return r
}

// Windows cuts labelled windows from a stream of samples of one class: the
// first starts after skip samples (a host's or simulator's first rates are
// zero), each next one stride samples later.
func Windows(class string, samples []*gamesav1.Sample, skip, stride int) ([]LabelledWindow, error) {
	if stride < 1 || skip < 0 {
		return nil, fmt.Errorf("workload: windows: skip %d and stride %d must be non-negative and positive", skip, stride)
	}
	var ws []LabelledWindow
	for at := skip; at+Window <= len(samples); at += stride {
		w, err := NewWindow(class, samples[at:at+Window])
		if err != nil {
			return nil, err
		}
		ws = append(ws, w)
	}
	return ws, nil
}
