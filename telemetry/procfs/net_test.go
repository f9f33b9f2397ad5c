package procfs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

func netNames(ifs []*gamesav1.NetInterface) string {
	var names []string
	for _, n := range ifs {
		names = append(names, n.GetName())
	}
	return strings.Join(names, ",")
}

func TestNetFixture(t *testing.T) {
	dir, roots := fixture(t)
	s := twoTicks(t, dir, NewNet(roots))
	checkGolden(t, "net", s)
	ifs := s.GetNet()
	if got, want := netNames(ifs), "lo,enp3s0,wlp2s0,docker0"; got != want {
		t.Fatalf("interfaces = %s; want %s", got, want)
	}
	// Over 2 s enp3s0 received 2,500,000 bytes in 2000 packets and sent
	// 500,000 bytes in 800; lo carried 2048 bytes each way.
	for _, tc := range []struct {
		field     string
		got, want float64
	}{
		{"enp3s0 rx B/s", ifs[1].GetRxBytesPerSecond(), 1_250_000},
		{"enp3s0 tx B/s", ifs[1].GetTxBytesPerSecond(), 250_000},
		{"enp3s0 rx pkt/s", ifs[1].GetRxPacketsPerSecond(), 1000},
		{"enp3s0 tx pkt/s", ifs[1].GetTxPacketsPerSecond(), 400},
		{"lo rx B/s", ifs[0].GetRxBytesPerSecond(), 1024},
		{"wlp2s0 rx B/s", ifs[2].GetRxBytesPerSecond(), 0},
	} {
		if !near(tc.got, tc.want) {
			t.Errorf("%s = %v; want %v", tc.field, tc.got, tc.want)
		}
	}
	if e := ifs[1]; e.GetRxBytesTotal() != 2012334512+2500000 || e.GetRxDroppedTotal() != 12 {
		t.Errorf("enp3s0 totals = %v", e)
	}
}

func TestNetCountersBackwards(t *testing.T) {
	dir, roots := fixture(t)
	n := NewNet(roots)
	collect(t, n, 0)
	// enp3s0 was re-created (driver reload): its counters start over.
	editFile(t, dir, "proc/net/dev", "enp3s0: 2012334512 1602231", "enp3s0:    1000      10")
	ifs := collect(t, n, 2).GetNet()
	if e := ifs[1]; e.GetRxBytesPerSecond() != 0 || e.GetRxPacketsPerSecond() != 0 || e.GetRxBytesTotal() != 1000 {
		t.Errorf("enp3s0 after reset = %v; want zero rates and total 1000", e)
	}
}

func TestNetMalformed(t *testing.T) {
	dir, roots := fixture(t)
	editFile(t, dir, "proc/net/dev", "enp3s0: 2012334512 1602231    0   12", "enp3s0: 2012334512 1602231    0   -12")
	s := sampleAt(0)
	err := NewNet(roots).Collect(t.Context(), s)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "proc", "net", "dev")) || !strings.Contains(err.Error(), "enp3s0 rx_drop") {
		t.Fatalf("Collect = %v; want an error naming proc/net/dev and enp3s0 rx_drop", err)
	}
	if got, want := netNames(s.GetNet()), "lo,wlp2s0,docker0"; got != want {
		t.Errorf("interfaces = %s; want %s", got, want)
	}
}

func TestNetMissing(t *testing.T) {
	dir, roots := fixture(t)
	if err := os.RemoveAll(filepath.Join(dir, "proc", "net")); err != nil {
		t.Fatal(err)
	}
	if err := NewNet(roots).Collect(t.Context(), sampleAt(0)); !errors.Is(err, telemetry.ErrNotAvailable) {
		t.Errorf("Collect = %v; want ErrNotAvailable", err)
	}
}

func TestParseNetDevOldFormat(t *testing.T) {
	// 2.6 kernels ran a wide counter into the colon.
	in := "Inter-|   Receive\n face |bytes\n  eth0:158938397   12345    0    0    0     0          0         0  1003377    8909    0    0    0     0       0          0\n"
	var got []netCounters
	var errs fieldErrors
	parseNetDev("dev", []byte(in), &errs, func(name []byte, c netCounters) {
		if string(name) != "eth0" {
			t.Errorf("name = %q; want eth0", name)
		}
		got = append(got, c)
	})
	if err := errs.err(); err != nil {
		t.Fatal(err)
	}
	want := netCounters{rxBytes: 158938397, rxPackets: 12345, txBytes: 1003377, txPackets: 8909}
	if len(got) != 1 || got[0] != want {
		t.Errorf("parseNetDev = %+v; want %+v", got, want)
	}
}
