package gossip

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// trial is one "publish on one node, wait until all others have it".
type trial struct {
	node    string
	seq     uint64
	pending atomic.Int64
	done    chan struct{}
}

// BenchmarkDissemination measures the time from Publish on one member to
// the moment every other member has accepted that digest, in clusters of
// 50 and 100 members on loopback, with FastTiming (50 ms gossip rounds) and
// with DefaultTiming (what users get: 100 ms rounds). It reports
// the median, 90th percentile and maximum over at least 20 trials
// (publishers in turn); ns/op is the mean. The target: p90 ≤ 1 s.
func BenchmarkDissemination(b *testing.B) {
	for _, tc := range []struct {
		name   string
		timing Timing
	}{{"fast", FastTiming()}, {"default", DefaultTiming()}} {
		for _, n := range []int{50, 100} {
			b.Run(fmt.Sprintf("timing=%s/members=%d", tc.name, n), func(b *testing.B) {
				benchDissemination(b, n, tc.timing)
			})
		}
	}
}

// benchDissemination runs the trials on one cluster of n members.
func benchDissemination(b *testing.B, n int, timing Timing) {
	var cur atomic.Pointer[trial]
	ms := newCluster(b, n, func(c *Config) {
		c.Timing = timing
		c.onDigest = func(id string, seq uint64) {
			if t := cur.Load(); t != nil && t.node == id && t.seq == seq && t.pending.Add(-1) == 0 {
				close(t.done)
			}
		}
	})
	run := func(i int) time.Duration {
		src := ms[i%n]
		tr := &trial{node: src.self, seq: src.Stats().Published + 1, done: make(chan struct{})}
		tr.pending.Store(int64(n - 1))
		cur.Store(tr)
		start := time.Now()
		if err := src.Publish(&gamesav1.Digest{CpuUtilizationPercent: float64(i)}); err != nil {
			b.Fatalf("Publish: %v", err)
		}
		select {
		case <-tr.done:
		case <-time.After(30 * time.Second):
			b.Fatalf("trial %d: %d of %d members still without the digest after 30 s", i, tr.pending.Load(), n-1)
		}
		return time.Since(start)
	}

	var lat []time.Duration
	for b.Loop() {
		lat = append(lat, run(len(lat)))
	}
	for len(lat) < 20 {
		lat = append(lat, run(len(lat)))
	}
	var sum Stats
	for _, m := range ms {
		st := m.Stats()
		sum.Received += st.Received
		sum.Accepted += st.Accepted
		sum.DroppedUnknown += st.DroppedUnknown
		sum.DroppedStale += st.DroppedStale
		sum.Rebroadcast += st.Rebroadcast
	}
	// Accepted minus re-gossiped is how many members got a digest
	// first by push-pull: the broadcast missed them, which is the
	// tail (max-ms) of the distribution.
	b.Logf("cluster totals: received %d, accepted %d, re-gossiped %d, stale %d, unknown %d",
		sum.Received, sum.Accepted, sum.Rebroadcast, sum.DroppedStale, sum.DroppedUnknown)
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1)+0.5)]) / float64(time.Millisecond)
	}
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.9), "p90-ms")
	b.ReportMetric(q(1), "max-ms")
	b.ReportMetric(float64(len(lat)), "trials")
}

// BenchmarkSteadyState runs 50 and 100 members with DefaultTiming, every member publishing a full-size digest each second, as
// agents do at the default tick, and samples every member's view twice a
// second. It reports the age of the digests held (now minus the digest's
// time: under perfect dissemination, uniform over the 1 s tick, so p50
// 500 ms and p90 900 ms) and the percentage no older than two ticks.
func BenchmarkSteadyState(b *testing.B) {
	for _, n := range []int{50, 100} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			ms := newCluster(b, n, func(c *Config) { c.Timing = DefaultTiming() })
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for i, m := range ms {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// Spread the members' ticks over the second, as
					// independent agents would be.
					select {
					case <-stop:
						return
					case <-time.After(time.Duration(i) * time.Second / time.Duration(n)):
					}
					tick := time.NewTicker(time.Second)
					defer tick.Stop()
					for {
						select {
						case <-stop:
							return
						case <-tick.C:
							d := sampleDigest()
							d.Time = nil // stamped with the publish time
							if err := m.Publish(d); err != nil {
								b.Errorf("Publish: %v", err)
								return
							}
						}
					}
				}()
			}
			defer func() { close(stop); wg.Wait() }()
			time.Sleep(5 * time.Second) // every member has published a few times

			var ages []time.Duration
			missing := 0
			sample := func() {
				time.Sleep(500 * time.Millisecond)
				for _, m := range ms {
					for _, mem := range m.View().Members {
						if mem.Digest == nil {
							missing++
							continue
						}
						ages = append(ages, time.Since(mem.Digest.GetTime().AsTime()))
					}
				}
			}
			samples := 0
			for b.Loop() {
				sample()
				samples++
			}
			for ; samples < 10; samples++ {
				sample()
			}
			slices.Sort(ages)
			fresh := 0
			for _, a := range ages {
				if a <= 2*time.Second {
					fresh++
				}
			}
			q := func(p float64) float64 {
				return float64(ages[int(p*float64(len(ages)-1)+0.5)]) / float64(time.Millisecond)
			}
			b.ReportMetric(q(0.5), "age-p50-ms")
			b.ReportMetric(q(0.9), "age-p90-ms")
			b.ReportMetric(q(1), "age-max-ms")
			b.ReportMetric(100*float64(fresh)/float64(len(ages)+missing), "fresh-%")
		})
	}
}
