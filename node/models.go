package node

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// learner is what the node needs of an on-device model: it watches samples,
// learns a little each tick, and can be saved. Each model's own output
// (forecast, score, class) is read by its entry's fill function.
type learner interface {
	Observe(s *gamesav1.Sample) error
	Train(steps int) (float32, error)
	MarshalBinary() ([]byte, error)
	TrainingSamples() uint64
}

// modelKind describes one model the node runs: how to make a fresh one, how
// to load a saved one, and how to put its output into a sample's insights.
type modelKind struct {
	name  string
	fresh func(seed uint64) (learner, error)
	load  func(data []byte) (learner, error)
	fill  func(m learner, in *gamesav1.Insights)
	// online says whether the model learns from the node's own samples.
	// A model that needs labels the node does not have trains elsewhere.
	online bool
}

// modelEntry is one running model.
type modelEntry struct {
	kind modelKind
	m    learner
	loss float32
	// trained is the sample time of the model's last training step.
	trained time.Time
	// failures counts consecutive failed Observes; at maxObserveFailures
	// the model is skipped until the node restarts.
	failures int
}

// modelSet runs the node's models in the local loop. It is owned by the
// loop goroutine; nothing in it is shared.
type modelSet struct {
	dir        string
	log        *slog.Logger
	trainSteps int
	// trainEvery spaces a model's training steps (sample time); 0 trains
	// at every feed.
	trainEvery time.Duration
	saveEvery  time.Duration
	lastSave   time.Time
	lastFeed   time.Time // sample time of the last sample the models saw
	period     time.Duration
	entries    []*modelEntry
}

// maxObserveFailures is how many consecutive bad samples a model tolerates
// before the node stops feeding it (a NaN from one collector is normal; a
// stream of them means the model cannot work on this machine).
const maxObserveFailures = 10

// newModelSet loads each model from dir or starts it fresh. A model file
// that cannot be loaded is moved aside (kept for a person) and the model
// starts fresh: a corrupt file never stops the node.
func newModelSet(dir string, kinds []modelKind, seed uint64, trainSteps int, saveEvery time.Duration, now time.Time, log *slog.Logger) (*modelSet, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	ms := &modelSet{dir: dir, log: log, trainSteps: trainSteps, saveEvery: saveEvery, lastSave: now, period: modelPeriod}
	for i, k := range kinds {
		m, err := ms.loadOrFresh(k, seed+uint64(i))
		if err != nil {
			return nil, err
		}
		ms.entries = append(ms.entries, &modelEntry{kind: k, m: m})
	}
	return ms, nil
}

func (ms *modelSet) path(k modelKind) string { return filepath.Join(ms.dir, k.name+".model") }

func (ms *modelSet) loadOrFresh(k modelKind, seed uint64) (learner, error) {
	path := ms.path(k)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("models: %w", err)
	default:
		m, lerr := k.load(data)
		if lerr == nil {
			ms.log.Info("model loaded", "kind", k.name, "samples", m.TrainingSamples())
			return m, nil
		}
		aside := fmt.Sprintf("%s.bad-%d", path, time.Now().UnixNano())
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("models: %s unusable (%v) and could not be moved aside: %w", path, lerr, rerr)
		}
		ms.log.Warn("model file unusable; kept aside, starting fresh", "kind", k.name, "err", lerr, "kept_as", aside)
	}
	m, err := k.fresh(seed)
	if err != nil {
		return nil, fmt.Errorf("models: new %s: %w", k.name, err)
	}
	return m, nil
}

// modelPeriod is the sample spacing the models are built for: their
// windows and horizons count samples as seconds. modelJitter absorbs timer
// jitter around it.
const (
	modelPeriod = time.Second
	modelJitter = 50 * time.Millisecond
)

// observe fills s.Insights. Once a second (whatever the loop's rate while a
// fast watcher is connected) it first feeds s to every model and trains
// each a bounded number of steps; in between, s carries the latest
// outputs. It never fails the tick: a model's error is logged and that
// model's insight left out.
func (ms *modelSet) observe(s *gamesav1.Sample) {
	t := s.GetTime().AsTime()
	feed := ms.lastFeed.IsZero() || t.Sub(ms.lastFeed) >= ms.period-modelJitter || t.Before(ms.lastFeed)
	if feed {
		ms.lastFeed = t
	}
	in := &gamesav1.Insights{}
	for _, e := range ms.entries {
		if e.failures >= maxObserveFailures {
			continue
		}
		if feed {
			ms.feed(e, s)
			if e.failures > 0 {
				continue
			}
		}
		e.kind.fill(e.m, in)
		in.Models = append(in.Models, &gamesav1.ModelState{
			Kind: e.kind.name, TrainingSamples: e.m.TrainingSamples(), Loss: float64(e.loss),
		})
	}
	s.Insights = in
}

// feed gives one model one sample and a bounded amount of training.
func (ms *modelSet) feed(e *modelEntry, s *gamesav1.Sample) {
	if err := e.m.Observe(s); err != nil {
		e.failures++
		if e.failures == maxObserveFailures {
			ms.log.Warn("model stopped: its inputs keep failing", "kind", e.kind.name, "err", err)
		}
		return
	}
	e.failures = 0
	if ms.trainSteps > 0 && e.kind.online && ms.trainDue(e, s.GetTime().AsTime()) {
		loss, err := e.m.Train(ms.trainSteps)
		if err != nil {
			ms.log.Debug("model training", "kind", e.kind.name, "err", err)
		} else {
			e.loss = loss
		}
	}
}

// trainDue reports whether e trains on the sample taken at t, and if so
// notes t as its last step. A clock that stepped back trains at once.
func (ms *modelSet) trainDue(e *modelEntry, t time.Time) bool {
	if !e.trained.IsZero() && !t.Before(e.trained) && t.Sub(e.trained) < ms.trainEvery-modelJitter {
		return false
	}
	e.trained = t
	return true
}

// maybeSave writes every model when saveEvery has passed since the last
// save.
func (ms *modelSet) maybeSave(now time.Time) {
	if ms.saveEvery <= 0 || now.Sub(ms.lastSave) < ms.saveEvery {
		return
	}
	ms.lastSave = now
	if err := ms.save(); err != nil {
		ms.log.Warn("saving models", "err", err)
	}
}

// save writes every model that has learned something atomically (temp
// file, fsync, rename), so a crash leaves either the old file or the new
// one; a model that would not load back is not written at all.
func (ms *modelSet) save() error {
	var errs []error
	for _, e := range ms.entries {
		if e.m.TrainingSamples() == 0 {
			continue // nothing learned yet: a fresh model is as good as a file
		}
		data, err := e.m.MarshalBinary()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.kind.name, err))
			continue
		}
		// Never replace a good file with one the next start would refuse.
		if _, err := e.kind.load(data); err != nil {
			errs = append(errs, fmt.Errorf("%s: not saved, it would not load back: %w", e.kind.name, err))
			continue
		}
		if err := writeFileAtomic(ms.path(e.kind), data); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.kind.name, err))
		}
	}
	return errors.Join(errs...)
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename this finds nothing
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
