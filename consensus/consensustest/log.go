package consensustest

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// testLog sends servers' logs to t.Log until the test ends; raft's
// goroutines can outlive a test by a moment, and t.Log panics then.
type testLog struct {
	logger *slog.Logger
	mu     *sync.Mutex
	done   *bool
}

func newTestLog(t testing.TB, level slog.Leveler) *testLog {
	mu, done := new(sync.Mutex), new(bool)
	// Registered before the cluster's own cleanup, so it runs after the
	// servers have stopped.
	t.Cleanup(func() {
		mu.Lock()
		*done = true
		mu.Unlock()
	})
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if !*done {
			t.Log(strings.TrimRight(string(p), "\n"))
		}
		return len(p), nil
	})
	h := slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})
	return &testLog{logger: slog.New(h), mu: mu, done: done}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
