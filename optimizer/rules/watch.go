package rules

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// ReadFunc reads one rule file; os.ReadFile in the agent, a map in tests.
type ReadFunc func(name string) ([]byte, error)

// WatcherConfig says which files make up the rule set and how often to
// look at them.
type WatcherConfig struct {
	// Files are read and compiled together, in this order.
	Files []string
	// Interval is the least time between two reads of the files; Poll
	// calls in between return at once.
	Interval time.Duration
}

// DefaultWatcherConfig looks every 2 s: a user sees an edit take effect
// almost at once, and reading a few small files that often costs nothing.
func DefaultWatcherConfig() WatcherConfig { return WatcherConfig{Interval: 2 * time.Second} }

// Validate reports a config the watcher cannot work with.
func (c WatcherConfig) Validate() error {
	if len(c.Files) == 0 {
		return fmt.Errorf("%w: no rule files to watch", ErrConfig)
	}
	if c.Interval <= 0 {
		return fmt.Errorf("%w: watch interval %v must be positive", ErrConfig, c.Interval)
	}
	return nil
}

// Watcher hot-reloads rule files. It owns no goroutine and reads no
// clock: the node's loop calls Poll with each tick's time, and the
// watcher reads the files through the ReadFunc at most once per
// Interval. When the files' contents change it recompiles them; a failed
// compilation keeps the previous rule set in force. Not safe for
// concurrent use.
type Watcher struct {
	cfg    WatcherConfig
	schema *Schema
	read   ReadFunc
	log    *slog.Logger

	current  *RuleSet
	contents [][]byte // what current (or the last failure) was built from
	lastErr  error
	next     time.Time
	polled   bool
}

// NewWatcher returns a watcher whose rule set is initial (may be nil, as
// when there is no fallback) until the first successful load.
func NewWatcher(cfg WatcherConfig, schema *Schema, read ReadFunc, initial *RuleSet, log *slog.Logger) (*Watcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if schema == nil || read == nil || log == nil {
		return nil, fmt.Errorf("%w: watcher needs a schema, a read function and a logger", ErrConfig)
	}
	return &Watcher{cfg: cfg, schema: schema, read: read, log: log, current: initial}, nil
}

// Rules returns the rule set in force.
func (w *Watcher) Rules() *RuleSet { return w.current }

// Err returns why the files on disk are not in force, or nil when they
// are.
func (w *Watcher) Err() error { return w.lastErr }

// Poll looks at the files when Interval has passed since the last look.
// changed is true when a new rule set took effect (hand it to
// Engine.SetRules); err is non-nil only on the poll that found a new
// problem, so the caller reports each mistake once.
func (w *Watcher) Poll(now time.Time) (rs *RuleSet, changed bool, err error) {
	if w.polled && now.Before(w.next) {
		return w.current, false, nil
	}
	w.polled, w.next = true, now.Add(w.cfg.Interval)
	contents := make([][]byte, len(w.cfg.Files))
	var readErr error
	for i, name := range w.cfg.Files {
		b, err := w.read(name)
		if err != nil {
			readErr = errors.Join(readErr, fmt.Errorf("rules: read %s: %w", name, err))
			continue
		}
		contents[i] = b
	}
	if readErr != nil {
		return w.fail(nil, readErr)
	}
	if w.contents != nil && slices.EqualFunc(contents, w.contents, bytes.Equal) {
		return w.current, false, nil
	}
	files := make([]File, len(contents))
	for i, b := range contents {
		files[i] = File{Name: w.cfg.Files[i], Data: b}
	}
	next, err := Compile(w.schema, files...)
	if err != nil {
		return w.fail(contents, err)
	}
	w.current, w.contents, w.lastErr = next, contents, nil
	w.log.Info("rules loaded", "files", w.cfg.Files, "index", next.String())
	return next, true, nil
}

// fail records a failed load; the error is returned only when it differs
// from the last one, so an unfixed file is reported once.
func (w *Watcher) fail(contents [][]byte, err error) (*RuleSet, bool, error) {
	w.contents = contents // nil after a read error: retry the compile once the file reads
	if w.lastErr != nil && w.lastErr.Error() == err.Error() {
		return w.current, false, nil
	}
	w.lastErr = err
	w.log.Warn("rules not reloaded; the previous rules stay in force", "files", w.cfg.Files, "err", err)
	return w.current, false, err
}
