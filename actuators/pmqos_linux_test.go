//go:build linux

package actuators_test

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/krystalstack/gamesa/actuators"
)

// dmaLatency reads the machine's effective CPU latency limit.
func dmaLatency(t testing.TB) int32 {
	t.Helper()
	b, err := os.ReadFile("/dev/cpu_dma_latency")
	if err != nil || len(b) < 4 {
		t.Fatalf("read /dev/cpu_dma_latency: %v (%d bytes)", err, len(b))
	}
	return int32(binary.NativeEndian.Uint32(b))
}

// TestPMQoSDevice holds a real CPU latency request and lets it go, by
// Revert and by Close.
func TestPMQoSDevice(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat("/dev/cpu_dma_latency"); err != nil {
		t.Skip(err)
	}
	before := dmaLatency(t)
	cfg := processConfig(t)
	s := open(t, cfg)
	apply(t, s, actuators.Applied, plan(actuators.KnobDMALatency, "", "100"))
	if got := dmaLatency(t); got > 100 {
		t.Errorf("latency limit while held = %d µs; want 100 or less", got)
	}
	revert(t, s)
	if got := dmaLatency(t); before > 100 && got <= 100 {
		t.Errorf("latency limit after Revert = %d µs; want the request gone (was %d)", got, before)
	}
	apply(t, s, actuators.Applied, plan(actuators.KnobDMALatency, "", "50"))
	if got := dmaLatency(t); got > 50 {
		t.Errorf("latency limit while held = %d µs; want 50 or less", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := dmaLatency(t); before > 50 && got <= 50 {
		t.Errorf("latency limit after Close = %d µs; want the request gone (was %d)", got, before)
	}
}
