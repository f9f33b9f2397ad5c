package node

import (
	"sync"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// watchBuffer is how many samples a watcher may fall behind before it is cut
// off: at 10 Hz that is 3.2 s of slack for a client that stalls briefly (a
// GC pause, a slow terminal), and a hard bound on memory for one that stalls
// for good.
const watchBuffer = 32

// hub fans samples out from the loop to watchers. Publish never blocks: a
// watcher whose buffer is full is cut off, so one slow client can neither
// stall the loop nor grow memory without bound.
type hub struct {
	mu       sync.Mutex
	watchers map[*watcher]struct{}
	cutOff   uint64 // watchers ended for falling behind, ever
	last     *gamesav1.Sample
	changed  chan struct{}
}

// watcher is one subscriber. ch carries its samples; done closes when the hub
// cuts it off.
type watcher struct {
	interval time.Duration
	ch       chan *gamesav1.Sample
	done     chan struct{}
	due      time.Time // earliest time of the next sample to deliver
}

func newHub() *hub {
	return &hub{watchers: make(map[*watcher]struct{}), changed: make(chan struct{}, 1)}
}

// subscribe registers a watcher for samples at least interval apart. The
// latest sample is delivered at once, so a client shows data without waiting
// a whole interval; taking it under the hub's lock means no sample falls
// between it and the next one published.
func (h *hub) subscribe(interval time.Duration) *watcher {
	w := &watcher{
		interval: interval,
		ch:       make(chan *gamesav1.Sample, watchBuffer),
		done:     make(chan struct{}),
	}
	h.mu.Lock()
	if h.last != nil {
		w.ch <- h.last
		w.due = h.last.GetTime().AsTime().Add(interval)
	}
	h.watchers[w] = struct{}{}
	h.mu.Unlock()
	h.notify()
	return w
}

// unsubscribe removes w; safe to call after a cut-off.
func (h *hub) unsubscribe(w *watcher) {
	h.mu.Lock()
	delete(h.watchers, w)
	h.mu.Unlock()
	h.notify()
}

// notify tells the loop that the fastest interval may have changed.
func (h *hub) notify() {
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

// fastest returns the shortest interval any watcher asked for, or 0.
func (h *hub) fastest() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	var min time.Duration
	for w := range h.watchers {
		if min == 0 || w.interval < min {
			min = w.interval
		}
	}
	return min
}

// publish offers s to every watcher that is due. period is the loop's current
// period: a sample within half a period of a watcher's due time counts as on
// time, so a 1 s watcher on a 1 s loop gets every sample despite jitter.
func (h *hub) publish(s *gamesav1.Sample, period time.Duration) {
	t := s.GetTime().AsTime()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last = s
	for w := range h.watchers {
		if t.Before(w.due.Add(-period / 2)) {
			continue
		}
		select {
		case w.ch <- s:
			// Advance from the due time, not the sample time, so rounding
			// does not drift; resync after a gap.
			w.due = w.due.Add(w.interval)
			if w.due.Before(t) {
				w.due = t.Add(w.interval)
			}
		default:
			delete(h.watchers, w)
			close(w.done)
			h.cutOff++
		}
	}
}

// stats reports the number of watchers and how many were ever cut off.
func (h *hub) stats() (watching int, cutOff uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.watchers), h.cutOff
}
