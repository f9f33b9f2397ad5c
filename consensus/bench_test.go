package consensus_test

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/consensus"
	"github.com/krystalstack/gamesa/consensus/consensustest"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

var failoverTrials = flag.Int("failover.trials", 12, "leader kills per BenchmarkLeaderFailover run")

// percentile returns the p-th percentile (0..100) of sorted durations, in
// milliseconds.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := min(int(float64(len(sorted))*p/100), len(sorted)-1)
	return float64(sorted[i]) / float64(time.Millisecond)
}

// BenchmarkLeaderFailover kills the leader of three servers on loopback
// TCP with the default (LAN) timings, in process, and measures how long
// until a new leader has finished its Barrier and committed a write. Each
// run makes -failover.trials kills (the killed server restarts between
// trials) and reports the median, p90 and worst time.
//
//	go test -run='^$' -bench=LeaderFailover -benchtime=1x -count=5 ./consensus
func BenchmarkLeaderFailover(b *testing.B) {
	c := consensustest.New(b, 3, consensustest.Options{DefaultTimings: true})
	c.WaitLeader(30 * time.Second)
	var times []time.Duration
	b.ResetTimer()
	for range b.N {
		for trial := range *failoverTrials {
			c.WaitConverged(30 * time.Second)
			old, _ := c.WaitLeader(30 * time.Second)
			killed := time.Now()
			c.Stop(old)
			for {
				if _, s := c.Leader(); s != nil {
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					_, err := s.Apply(ctx, set(fmt.Sprintf("failover-%d", trial), "failover", fmt.Sprint(trial), 0))
					cancel()
					if err == nil {
						break
					}
				}
				time.Sleep(2 * time.Millisecond)
			}
			times = append(times, time.Since(killed))
			c.Restart(old)
		}
	}
	b.StopTimer()
	slices.Sort(times)
	b.ReportMetric(percentile(times, 50), "p50-ms")
	b.ReportMetric(percentile(times, 90), "p90-ms")
	b.ReportMetric(percentile(times, 100), "max-ms")
	b.ReportMetric(float64(len(times)), "trials")
	b.Logf("failover times: %v", times)
}

// BenchmarkCommit measures writes on the leader of three servers on
// loopback TCP, with bbolt's fsync on: one writer for latency (p50, p99),
// and many concurrent writers for throughput (commits/s).
//
//	go test -run='^$' -bench=Commit -count=5 ./consensus
func BenchmarkCommit(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			c := consensustest.New(b, 3, consensustest.Options{DefaultTimings: true})
			_, leader := c.WaitLeader(30 * time.Second)
			// Warm the connections and the log.
			for i := range 100 {
				if _, err := applyRetrying(c, &leader, set(fmt.Sprintf("warm-%d", i), key(i), "warm", 0), nil); err != nil {
					b.Fatal(err)
				}
			}
			lat := make([][]time.Duration, writers)
			var next, retries atomic.Int64
			var wg sync.WaitGroup
			var failed atomic.Value
			b.ResetTimer()
			start := time.Now()
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s := leader
					for {
						n := next.Add(1)
						if n > int64(b.N) {
							return
						}
						cmd := set(fmt.Sprintf("w%d-%d", w, n), key(int(n%1000)), "value", 0)
						t0 := time.Now()
						if _, err := applyRetrying(c, &s, cmd, &retries); err != nil {
							failed.Store(err)
							return
						}
						lat[w] = append(lat[w], time.Since(t0))
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if err, _ := failed.Load().(error); err != nil {
				b.Fatalf("Apply: %v", err)
			}
			b.ReportMetric(float64(retries.Load()), "retries")
			all := slices.Concat(lat...)
			slices.Sort(all)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commits/s")
			b.ReportMetric(percentile(all, 50), "p50-ms")
			b.ReportMetric(percentile(all, 99), "p99-ms")
		})
	}
}

// applyRetrying applies cmd on *s, following leader changes (a loaded
// machine can cost the leader its 250 ms lease) with the same request id,
// for up to 100 attempts. It counts retries in n when n is not nil.
func applyRetrying(c *consensustest.Cluster, s **consensus.Server, cmd *gamesav1.Command, n *atomic.Int64) (*gamesav1.CommandResult, error) {
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := (*s).Apply(ctx, cmd)
		cancel()
		if err == nil || attempt == 100 {
			return res, err
		}
		if n != nil {
			n.Add(1)
		}
		time.Sleep(5 * time.Millisecond)
		if _, l := c.Leader(); l != nil {
			*s = l
		}
	}
}

// BenchmarkConsistentState measures a linearizable read on the leader
// (one shared Barrier per burst of reads) against a stale local read.
//
//	go test -run='^$' -bench=State -count=5 ./consensus
func BenchmarkConsistentState(b *testing.B) {
	c := consensustest.New(b, 3, consensustest.Options{DefaultTimings: true})
	_, leader := c.WaitLeader(30 * time.Second)
	ctx := context.Background()
	if _, err := leader.Apply(ctx, set("", "k", "v", 0)); err != nil {
		b.Fatal(err)
	}
	b.Run("consistent", func(b *testing.B) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := leader.ConsistentState(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("stale", func(b *testing.B) {
		for range b.N {
			if _, ok := leader.State().Setting("k"); !ok {
				b.Fatal("setting missing")
			}
		}
	})
	_ = consensus.ErrNotLeader
}
