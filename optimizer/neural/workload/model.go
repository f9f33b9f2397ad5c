package workload

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/krystalstack/gamesa/optimizer/neural"
	"github.com/krystalstack/gamesa/optimizer/neural/conv"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Kind names this model in model files.
const Kind = "workload"

// The classes, named as the simulated machine's scenarios are.
const (
	ClassIdle    = "idle"
	ClassGame    = "game"
	ClassRender  = "render"
	ClassCompile = "compile"
	ClassBrowser = "browser"
)

// classes is the output order of the network; stored models depend on it,
// so only ever append.
var classes = [...]string{ClassIdle, ClassGame, ClassRender, ClassCompile, ClassBrowser}

const numClasses = len(classes)

// Classes returns the class names in the network's output order.
func Classes() []string { return slices.Clone(classes[:]) }

// classIndex returns the output index of class, or -1.
func classIndex(class string) int {
	for i, c := range classes {
		if c == class {
			return i
		}
	}
	return -1
}

// blocks is the CNN1D(8,16,32) the package documentation draws.
var blocks = [...]conv.Block{
	{Filters: 8, Width: 5, Pool: conv.Pool{Kind: conv.MaxPool, Size: 2}},
	{Filters: 16, Width: 5, Pool: conv.Pool{Kind: conv.MaxPool, Size: 2}},
	{Filters: 32, Width: 3},
}

// arch is the architecture as stored in model files: window, channels,
// then filters, width and pool size per block, then the classes.
func arch() []int32 {
	a := []int32{Window, Channels}
	for _, b := range blocks {
		a = append(a, int32(b.Filters), int32(b.Width), int32(max(b.Pool.Size, 1)))
	}
	return append(a, int32(numClasses))
}

// Config tunes training; the architecture is fixed (see the package
// documentation) so that every node's models can be averaged.
type Config struct {
	// ReplayCapacity is how many labelled windows the replay buffer keeps;
	// the oldest go first. Each takes Window × Channels float32s (1.9 KB).
	ReplayCapacity int
	// BatchSize is the number of windows per optimizer step.
	BatchSize int
	// LearningRate is Adam's step size.
	LearningRate float32
	// LabelEvery is how many labelled samples ObserveLabelled lets pass
	// between two windows it files: consecutive windows overlap in all but
	// one sample, so filing each would fill the buffer with near-copies.
	LabelEvery int
}

// DefaultConfig returns the settings the node uses.
func DefaultConfig() Config {
	return Config{ReplayCapacity: 512, BatchSize: 16, LearningRate: 3e-3, LabelEvery: 10}
}

// Validate reports the first setting out of range.
func (c Config) Validate() error {
	switch {
	case c.ReplayCapacity < 1 || c.ReplayCapacity > 1<<16:
		return fmt.Errorf("workload config: ReplayCapacity %d must be within 1..65536", c.ReplayCapacity)
	case c.BatchSize < 1:
		return fmt.Errorf("workload config: BatchSize %d must be positive", c.BatchSize)
	case !(c.LearningRate > 0) || math.IsInf(float64(c.LearningRate), 0):
		return fmt.Errorf("workload config: LearningRate %v must be positive and finite", c.LearningRate)
	case c.LabelEvery < 1:
		return fmt.Errorf("workload config: LabelEvery %d must be positive", c.LabelEvery)
	}
	return nil
}

// Model is the WorkloadClassifier: the network, the window of recent
// features, and a replay buffer of labelled windows. It is not safe for
// concurrent use.
type Model struct {
	cfg    Config
	net    *conv.Net
	params []*neural.Param // net.Params(), kept so Train allocates nothing
	// stream classifies the window as it slides, one new row per stage
	// a sample rather than the whole window's pass: the same outputs.
	stream *conv.Stream
	opt    *neural.Adam
	rng    *rand.Rand

	// ring holds the last Window feature rows; head is the next row to
	// write, filled how many are valid.
	ring   [Window * Channels]float32
	head   int
	filled int
	row    [Channels]float32

	// The classification of the current window, computed on demand.
	x     [Window * Channels]float32
	probs [numClasses]float32
	grad  [numClasses]float32
	fresh bool
	class int

	// Labelled windows for Train: replayX[i*Window*Channels:] with label
	// replayY[i]; next is the slot to overwrite, n how many are valid.
	replayX []float32
	replayY []uint8
	next, n int

	// The current run of samples with one label.
	runLabel int
	runLen   int
	sinceTag int

	samples uint64 // labelled windows ever added, the FedAvg weight
	version uint64 // training calls that stepped, carried across saves
}

// New builds an untrained model; seed fixes the initial weights and the
// mini-batch draws.
func New(cfg Config, seed uint64) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	init := neural.NewInit(seed)
	net, err := conv.NewNet("workload", Window, Channels, blocks[:], numClasses, init)
	if err != nil {
		return nil, fmt.Errorf("workload: %w", err)
	}
	stream, err := conv.NewStream(net)
	if err != nil {
		return nil, fmt.Errorf("workload: %w", err)
	}
	opt := neural.NewAdam(cfg.LearningRate)
	opt.ClipNorm = 5 // one mislabelled or odd window must not wreck the weights
	return &Model{
		cfg: cfg, net: net, params: net.Params(), stream: stream, opt: opt, rng: init.Rand(),
		replayX:  make([]float32, cfg.ReplayCapacity*Window*Channels),
		replayY:  make([]uint8, cfg.ReplayCapacity),
		runLabel: -1,
	}, nil
}

// Observe feeds one Sample, in time order. A Sample without CPU data or
// with non-finite features is an error (wrapping ErrIncomplete or
// neural.ErrNonFinite) and leaves the window as it was.
func (m *Model) Observe(s *gamesav1.Sample) error { return m.ObserveLabelled(s, "") }

// ObserveLabelled is Observe for a Sample whose workload is known (class
// is one of Classes(); "" means unknown). Once Window consecutive samples
// carry the same class, the window is filed in the replay buffer, and then
// every LabelEvery samples while the class holds.
func (m *Model) ObserveLabelled(s *gamesav1.Sample, class string) error {
	label := -1
	if class != "" {
		if label = classIndex(class); label < 0 {
			return fmt.Errorf("workload: unknown class %q (want one of %v)", class, classes)
		}
	}
	if err := Features(m.row[:], s); err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	copy(m.ring[m.head*Channels:], m.row[:])
	m.stream.Push(m.row[:])
	m.head = (m.head + 1) % Window
	m.filled = min(m.filled+1, Window)
	m.fresh = false

	if label < 0 || label != m.runLabel {
		m.runLabel, m.runLen, m.sinceTag = label, 0, m.cfg.LabelEvery
	}
	if label < 0 {
		return nil
	}
	m.runLen++
	m.sinceTag++
	if m.runLen >= Window && m.sinceTag >= m.cfg.LabelEvery {
		m.sinceTag = 0
		m.linearize()
		m.file(m.x[:], label)
	}
	return nil
}

// linearize copies the ring, oldest row first, into m.x.
func (m *Model) linearize() {
	split := m.head * Channels
	n := copy(m.x[:], m.ring[split:])
	copy(m.x[n:], m.ring[:split])
}

// file adds one labelled window to the replay buffer.
func (m *Model) file(x []float32, label int) {
	copy(m.replayX[m.next*Window*Channels:(m.next+1)*Window*Channels], x)
	m.replayY[m.next] = uint8(label)
	m.next = (m.next + 1) % m.cfg.ReplayCapacity
	m.n = min(m.n+1, m.cfg.ReplayCapacity)
	m.samples++
}

// AddExample files a labelled window (from NewWindow, or any Window ×
// Channels features) in the replay buffer, for offline training and tests.
func (m *Model) AddExample(w LabelledWindow) error {
	label, err := w.check()
	if err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	m.file(w.X, label)
	return nil
}

// Classify returns the class of the last Window observed samples and its
// probability; ok is false until Window samples were observed. Repeated
// calls without an Observe in between reuse the answer. It allocates
// nothing.
func (m *Model) Classify() (class string, confidence float32, ok bool) {
	if m.filled < Window {
		return "", 0, false
	}
	if !m.fresh {
		logits, _ := m.stream.Forward() // ok: it holds the window too
		m.class = m.classify(logits)
		m.fresh = true
	}
	return classes[m.class], m.probs[m.class], true
}

// predict runs x through the network, leaves the probabilities in m.probs
// and returns the most probable class.
func (m *Model) predict(x []float32) int {
	return m.classify(m.net.Forward(x))
}

// classify leaves the probabilities of logits in m.probs and returns the
// most probable class.
func (m *Model) classify(logits []float32) int {
	neural.Softmax(m.probs[:], logits)
	best := 0
	for i, p := range m.probs {
		if p > m.probs[best] {
			best = i
		}
	}
	return best
}

// Train runs at most steps optimizer steps, each on BatchSize windows drawn
// from the replay buffer, and returns their mean cross-entropy. With no
// labelled windows yet, or steps ≤ 0, it does nothing and returns 0. A
// non-finite loss is an error wrapping neural.ErrNonFinite; that step's
// update is not applied.
func (m *Model) Train(steps int) (float32, error) {
	if m.n == 0 || steps <= 0 {
		return 0, nil
	}
	ps := m.params
	m.stream.Invalidate() // the weights change
	inv := 1 / float32(m.cfg.BatchSize)
	var total float64
	for step := range steps {
		neural.ZeroGrad(ps)
		var loss float64
		for range m.cfg.BatchSize {
			i := m.rng.IntN(m.n)
			x := m.replayX[i*Window*Channels : (i+1)*Window*Channels]
			loss += float64(neural.SoftmaxCrossEntropy(m.grad[:], m.probs[:], m.net.Forward(x), int(m.replayY[i])))
			for k := range m.grad {
				m.grad[k] *= inv
			}
			m.net.Backward(m.grad[:])
		}
		loss /= float64(m.cfg.BatchSize)
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return 0, fmt.Errorf("workload: train step %d: loss %v: %w", step, loss, neural.ErrNonFinite)
		}
		m.opt.Step(ps)
		total += loss
	}
	m.version++
	m.fresh = false
	return float32(total / float64(steps)), nil
}

// TrainingSamples is the number of labelled windows this model has learnt
// from, including those of the model it was loaded from.
func (m *Model) TrainingSamples() uint64 { return m.samples }

// MarshalBinary encodes the model's weights (not its window or replay
// buffer) as a neural model file.
func (m *Model) MarshalBinary() ([]byte, error) {
	data, err := neural.Encode(neural.Meta{
		Kind: Kind, Arch: arch(), Version: m.version, TrainingSamples: m.samples,
	}, m.params)
	if err != nil {
		return nil, fmt.Errorf("workload: %w", err)
	}
	return data, nil
}

// ErrArch reports a model file of another architecture.
var ErrArch = errors.New("workload: model architecture differs")

// Load builds a model from a file MarshalBinary wrote, with cfg for further
// training. A corrupt file, another kind or another architecture is an
// error (wrapping neural.ErrCorruptModel, neural.ErrWrongModel or
// ErrArch); the caller keeps its previous model.
func Load(data []byte, cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dm, err := neural.Decode(data, Kind)
	if err != nil {
		return nil, fmt.Errorf("workload: load: %w", err)
	}
	if want := arch(); !slices.Equal(dm.Arch, want) {
		return nil, fmt.Errorf("%w: file has %v, this build %v", ErrArch, dm.Arch, want)
	}
	// The seed only drives later mini-batch draws; the version makes two
	// loads of one file draw alike.
	m, err := New(cfg, dm.Version)
	if err != nil {
		return nil, err
	}
	if err := neural.Load(dm, m.params); err != nil {
		return nil, fmt.Errorf("workload: load: %w", err)
	}
	m.samples, m.version = dm.TrainingSamples, dm.Version
	return m, nil
}
