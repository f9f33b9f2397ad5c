package node

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func sampleAt(t0 time.Time, seq int, period time.Duration) *gamesav1.Sample {
	// A little jitter, early and late, as real timers have.
	jitter := time.Duration((seq%3)-1) * time.Millisecond
	return &gamesav1.Sample{Seq: uint64(seq), Time: timestamppb.New(t0.Add(time.Duration(seq)*period + jitter))}
}

func drain(w *watcher) []uint64 {
	var seqs []uint64
	for {
		select {
		case s := <-w.ch:
			seqs = append(seqs, s.GetSeq())
		default:
			return seqs
		}
	}
}

// TestHubDownsamplesPerWatcher: on a 100 ms loop, a 100 ms watcher gets
// every sample and a 500 ms watcher every fifth, despite jitter.
func TestHubDownsamplesPerWatcher(t *testing.T) {
	h := newHub()
	fast, slow := h.subscribe(100*time.Millisecond), h.subscribe(500*time.Millisecond)
	if got := h.fastest(); got != 100*time.Millisecond {
		t.Fatalf("fastest() = %v; want 100ms", got)
	}
	t0 := time.Unix(1000, 0)
	for i := 0; i < 20; i++ {
		h.publish(sampleAt(t0, i, 100*time.Millisecond), 100*time.Millisecond)
	}
	if got := drain(fast); len(got) != 20 {
		t.Errorf("100ms watcher got %v; want all 20", got)
	}
	if got, want := drain(slow), []uint64{0, 5, 10, 15}; !slices.Equal(got, want) {
		t.Errorf("500ms watcher got %v; want %v", got, want)
	}
	h.unsubscribe(fast)
	if got := h.fastest(); got != 500*time.Millisecond {
		t.Errorf("fastest() after the fast watcher left = %v; want 500ms", got)
	}
}

// TestHubSubscribeGetsLatestFirst: a new watcher starts with the latest
// sample and then continues without a gap.
func TestHubSubscribeGetsLatestFirst(t *testing.T) {
	h := newHub()
	t0 := time.Unix(1000, 0)
	h.publish(sampleAt(t0, 1, time.Second), time.Second)
	w := h.subscribe(time.Second)
	h.publish(sampleAt(t0, 2, time.Second), time.Second)
	if got, want := drain(w), []uint64{1, 2}; !slices.Equal(got, want) {
		t.Errorf("new watcher got %v; want %v", got, want)
	}
}

// TestHubCutsOffFullWatcher: publish never blocks; a watcher whose buffer is
// full is removed and told so, and the others carry on.
func TestHubCutsOffFullWatcher(t *testing.T) {
	h := newHub()
	stuck, fine := h.subscribe(100*time.Millisecond), h.subscribe(100*time.Millisecond)
	t0 := time.Unix(1000, 0)
	for i := 0; i <= watchBuffer; i++ {
		h.publish(sampleAt(t0, i, 100*time.Millisecond), 100*time.Millisecond)
		drain(fine)
	}
	select {
	case <-stuck.done:
	default:
		t.Fatalf("watcher with %d buffered samples not cut off", watchBuffer)
	}
	if n, cut := h.stats(); n != 1 || cut != 1 {
		t.Errorf("stats() = %d watchers, %d cut off; want 1, 1", n, cut)
	}
	h.publish(sampleAt(t0, watchBuffer+1, 100*time.Millisecond), 100*time.Millisecond)
	if got := drain(fine); len(got) != 1 {
		t.Errorf("remaining watcher got %v after the cut-off; want one sample", got)
	}
	h.unsubscribe(stuck) // the handler's deferred call after a cut-off must be harmless
}
