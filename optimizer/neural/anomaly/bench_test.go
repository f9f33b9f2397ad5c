package anomaly

import (
	"testing"
	"time"
)

// BenchmarkForward is the autoencoder pass alone, 64→16→64.
func BenchmarkForward(b *testing.B) {
	m, st := fitted(b)
	for _, s := range st[len(st)-Window-1:] {
		if err := m.Observe(s); err != nil {
			b.Fatal(err)
		}
	}
	m.norm.Apply(m.z[:], m.x[:])
	b.ReportAllocs()
	for b.Loop() {
		m.net.Forward(m.z[:])
	}
}

// BenchmarkObserveScore is one tick's work: features from a Sample, the
// window, the normaliser, the pass, the threshold and the replay buffer.
func BenchmarkObserveScore(b *testing.B) {
	m, _ := fitted(b)
	st := simStream(b, 30, 20*time.Second, phase{cycle, 4096, 0})
	m.reset()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if i == len(st) {
			// Going back in time restarts the window: a few cheap calls
			// in every 4096.
			i = 0
		}
		if err := m.Observe(st[i]); err != nil {
			b.Fatal(err)
		}
		m.Score()
		i++
	}
}
