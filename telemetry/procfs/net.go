package procfs

import (
	"bytes"
	"context"
	"path/filepath"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

// Net reads /proc/net/dev into s.Net, one entry per interface in the
// kernel's order.
//
// Nothing is left out, loopback included: nodes of one cluster on one
// machine (the --dev setup, tests, examples) talk over lo, and that traffic
// is as real to the optimizer as any other. A consumer that wants only
// physical links filters by name.
//
// /proc/net/dev shows the network namespace of the process that reads it;
// an agent in a container that should see the host's interfaces needs its
// Proc root to be a host /proc read from the host's namespace.
type Net struct {
	path string
	r    reader
	iv   interval
	ifs  map[string]*netState
	gen  uint32
}

type netState struct {
	c   netCounters
	gen uint32
}

// netCounters are the /proc/net/dev columns the collector uses.
type netCounters struct {
	rxBytes, rxPackets, rxErrs, rxDrop uint64
	txBytes, txPackets, txErrs, txDrop uint64
}

// NewNet returns the network-interface collector for the machine at roots.
func NewNet(roots telemetry.Roots) *Net {
	return &Net{path: filepath.Join(roots.Proc, "net", "dev"), ifs: make(map[string]*netState)}
}

// Collect implements telemetry.Collector.
func (n *Net) Collect(_ context.Context, s *gamesav1.Sample) error {
	secs := n.iv.advance(s)
	b, err := n.r.read(n.path)
	if err != nil {
		clear(n.ifs)
		return notAvailable(err)
	}
	n.gen++
	var errs fieldErrors
	var out []*gamesav1.NetInterface
	parseNetDev(n.path, b, &errs, func(name []byte, c netCounters) {
		st, seen := n.ifs[string(name)]
		if !seen {
			st = &netState{}
			n.ifs[string(name)] = st
		}
		prev, fresh := st.c, !seen || st.gen != n.gen-1
		st.c, st.gen = c, n.gen
		ni := &gamesav1.NetInterface{
			Name:           text(name),
			RxBytesTotal:   c.rxBytes,
			TxBytesTotal:   c.txBytes,
			RxErrorsTotal:  c.rxErrs,
			TxErrorsTotal:  c.txErrs,
			RxDroppedTotal: c.rxDrop,
			TxDroppedTotal: c.txDrop,
		}
		if !fresh {
			ni.RxBytesPerSecond = rate(c.rxBytes, prev.rxBytes, secs)
			ni.TxBytesPerSecond = rate(c.txBytes, prev.txBytes, secs)
			ni.RxPacketsPerSecond = rate(c.rxPackets, prev.rxPackets, secs)
			ni.TxPacketsPerSecond = rate(c.txPackets, prev.txPackets, secs)
		}
		out = append(out, ni)
	})
	for name, st := range n.ifs {
		if st.gen != n.gen {
			delete(n.ifs, name)
		}
	}
	s.Net = out
	return errs.err()
}

// netDevFields names the 16 columns after "iface:", for errors.
var netDevFields = [...]string{
	"rx_bytes", "rx_packets", "rx_errs", "rx_drop", "rx_fifo", "rx_frame", "rx_compressed", "rx_multicast",
	"tx_bytes", "tx_packets", "tx_errs", "tx_drop", "tx_fifo", "tx_colls", "tx_carrier", "tx_compressed",
}

// parseNetDev calls fn for each interface line of /proc/net/dev. The name
// ends at the line's last colon: old kernels print large counters right
// after it ("eth0:158938397"). An interface whose line does not parse is
// reported and skipped.
func parseNetDev(src string, b []byte, errs *fieldErrors, fn func(name []byte, c netCounters)) {
	for len(b) > 0 {
		var line []byte
		line, b = cutLine(b)
		colon := bytes.LastIndexByte(line, ':')
		if colon < 0 {
			continue // the two header lines
		}
		name := bytes.TrimSpace(line[:colon])
		if len(name) == 0 || bytes.IndexByte(name, '|') >= 0 {
			continue
		}
		rest := line[colon+1:]
		var v [len(netDevFields)]uint64
		ok := true
		for i := range v {
			var f []byte
			f, rest = nextField(rest)
			if v[i], ok = parseUint(f); !ok {
				if len(f) == 0 {
					f = []byte("<missing>")
				}
				errs.add(badField(src, string(name)+" "+netDevFields[i], f))
				break
			}
		}
		if !ok {
			continue
		}
		fn(name, netCounters{
			rxBytes: v[0], rxPackets: v[1], rxErrs: v[2], rxDrop: v[3],
			txBytes: v[8], txPackets: v[9], txErrs: v[10], txDrop: v[11],
		})
	}
}
