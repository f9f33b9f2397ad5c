package sysfs

import (
	"context"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/telemetry/telemetrytest"
)

// BenchmarkSysfs runs the four collectors over the shared fixture once per
// op, into a fresh Sample as the agent's tick does. Every 60th op includes a
// re-scan, as in production. The fixture is copied once, before the timed
// loop.
func BenchmarkSysfs(b *testing.B) {
	cs := allCollectors(telemetrytest.Fixture(b, fixtureDir))
	ctx := context.Background()
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		s := sampleAt(now)
		for _, nc := range cs {
			if err := nc.c.Collect(ctx, s); err != nil {
				b.Fatalf("%s: %v", nc.name, err)
			}
		}
	}
}

func BenchmarkParseUint(b *testing.B) {
	in := []byte("48213372511")
	for b.Loop() {
		if _, err := parseUint(in); err != nil {
			b.Fatal(err)
		}
	}
}
