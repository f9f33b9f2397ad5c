package node

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// An idle agent's loops wait for what they act on instead of polling for
// it: each wake-up of a parked goroutine costs a halted vCPU some hundreds
// of microseconds, far more than the look itself (issue 2's footprint).

// flag is a boolean that goroutines can wait on: Load is one atomic read,
// and Changed returns a channel closed by the next Store that changes it.
type flag struct {
	v  atomic.Bool
	mu sync.Mutex
	ch chan struct{} // nil while nobody waits
}

// Load reports the value.
func (f *flag) Load() bool { return f.v.Load() }

// Store sets the value, waking the waiters if it changed.
func (f *flag) Store(v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.v.Swap(v) == v || f.ch == nil {
		return
	}
	close(f.ch)
	f.ch = nil
}

// Changed returns a channel closed when the value next changes. Take it
// before reading the value, and a change between the two is never missed.
func (f *flag) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ch == nil {
		f.ch = make(chan struct{})
	}
	return f.ch
}

// wait returns after d, or as soon as one of wake is closed (a nil
// channel never is); it reports false if ctx ended first.
func wait(ctx context.Context, d time.Duration, wake ...<-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	var a, b, c <-chan struct{}
	switch len(wake) {
	case 3:
		c = wake[2]
		fallthrough
	case 2:
		b = wake[1]
		fallthrough
	case 1:
		a = wake[0]
	case 0:
	default:
		panic("node.wait: at most three channels")
	}
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-a:
	case <-b:
	case <-c:
	}
	return true
}
