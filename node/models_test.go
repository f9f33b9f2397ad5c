package node

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry/sim"
)

// BenchmarkModelSetTick is the "whole model set for one tick"
// figure: every model observes one sample and gives its output (thermal
// forecast, anomaly score, workload class), inference only. The models are
// warmed up first so every output path runs.
func BenchmarkModelSetTick(b *testing.B) {
	benchModelSet(b, 0)
}

// BenchmarkModelSetTickTrain adds the default online learning: one
// optimizer step per model per tick.
func BenchmarkModelSetTickTrain(b *testing.B) {
	benchModelSet(b, 1)
}

func benchModelSet(b *testing.B, trainSteps int) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ms, err := newModelSet(b.TempDir(), modelKinds(), 1, trainSteps, 0, time.Now(), log)
	if err != nil {
		b.Fatal(err)
	}
	cfg := sim.DefaultConfig()
	cfg.Scenario = sim.ScenarioGame
	warm, err := sim.Record(ctx, cfg, time.Unix(1_700_000_000, 0), time.Second, 700)
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range warm {
		ms.observe(s)
	}
	// Fresh samples continuing the same stream, reused round-robin.
	m, err := sim.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	next := make([]*gamesav1.Sample, 0, 256)
	now := time.Unix(1_700_000_000, 0).Add(701 * time.Second)
	for range cap(next) {
		s, err := m.Sample(ctx, now)
		if err != nil {
			b.Fatal(err)
		}
		next = append(next, s)
		now = now.Add(time.Second)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// Samples must arrive in time order: shift the reused ones forward.
		s := next[i%len(next)]
		s.Time.Seconds += int64(len(next))
		ms.observe(s)
		i++
	}
}

// TestModelsFedOncePerSecond: while a fast watcher drives the loop at
// 10 Hz, the models still see one sample a second, as their windows and
// horizons assume. The workload classifier's 60-sample window shows it:
// 50 s of 10 Hz samples are 50 observations, not 500.
func TestModelsFedOncePerSecond(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ms, err := newModelSet(t.TempDir(), modelKinds(), 1, 0, 0, time.Now(), log)
	if err != nil {
		t.Fatal(err)
	}
	cfg := sim.DefaultConfig()
	cfg.Scenario = sim.ScenarioRender
	ss, err := sim.Record(ctx, cfg, time.Unix(1_700_000_000, 0), 100*time.Millisecond, 620)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss[:500] {
		ms.observe(s)
	}
	if c := ss[499].GetInsights().GetWorkloadClass(); c != "" {
		t.Fatalf("classified %q after 50 s at 10 Hz; the window of 60 one-second samples cannot be full", c)
	}
	for _, s := range ss[500:] {
		ms.observe(s)
	}
	if c := ss[len(ss)-1].GetInsights().GetWorkloadClass(); c != "render" {
		t.Errorf("after 62 s: class %q; want render", c)
	}
}

// TestTrainInterval: a model trains at most once per trainEvery of sample
// time (timer jitter absorbed), at once after the clock steps back, and at
// every feed when trainEvery is 0.
func TestTrainInterval(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for _, tc := range []struct {
		every time.Duration
		feeds []int // sample times, ms
		want  string
	}{
		{5 * time.Second, []int{0, 1000, 2000, 3000, 4000, 4980, 6000, 9950, 10000}, "T....T.T."},
		{5 * time.Second, []int{0, 1000, -60000, -59000}, "T.T."}, // the clock stepped back
		{0, []int{0, 1000, 1000, 2000}, "TTTT"},
	} {
		ms := &modelSet{trainEvery: tc.every}
		e := &modelEntry{}
		var got []byte
		for _, f := range tc.feeds {
			if ms.trainDue(e, at(f)) {
				got = append(got, 'T')
			} else {
				got = append(got, '.')
			}
		}
		if string(got) != tc.want {
			t.Errorf("every %v, feeds %v: %s; want %s", tc.every, tc.feeds, got, tc.want)
		}
	}
}
