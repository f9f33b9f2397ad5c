package gossip

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// memNet is an in-memory network whose links a test can cut exactly: a
// node put in isolation neither sends to nor hears from the others, as
// behind a failed switch port. It stands in for memberlist.MockNetwork,
// whose unbuffered channels deadlock two members that answer each other's
// pings at the same moment (seen here under load: pings then fail for
// good). Packets go into a buffered inbox and are dropped when it is full,
// as UDP would drop them.
type memNet struct {
	mu       sync.Mutex
	byAddr   map[string]*memTransport
	byName   map[string]*memTransport
	isolated map[string]bool
}

// memAddr is a memNet address, "127.0.0.1:port".
type memAddr string

func (a memAddr) Network() string { return "mem" }
func (a memAddr) String() string  { return string(a) }

// memTransport is one node's memberlist.NodeAwareTransport on a memNet.
type memTransport struct {
	net     *memNet
	name    string
	port    int
	addr    memAddr
	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{}
	once    sync.Once
}

var _ memberlist.NodeAwareTransport = (*memTransport)(nil)

// transport returns a new node's transport.
func (n *memNet) transport(name string) *memTransport {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.byAddr == nil {
		n.byAddr, n.byName, n.isolated = map[string]*memTransport{}, map[string]*memTransport{}, map[string]bool{}
	}
	port := len(n.byAddr) + 1
	t := &memTransport{
		net:     n,
		name:    name,
		port:    port,
		addr:    memAddr(net.JoinHostPort("127.0.0.1", strconv.Itoa(port))),
		packets: make(chan *memberlist.Packet, 1024),
		streams: make(chan net.Conn, 16),
		done:    make(chan struct{}),
	}
	n.byAddr[string(t.addr)], n.byName[name] = t, t
	return t
}

// isolate cuts (or with false, restores) every link of the named nodes.
func (n *memNet) isolate(on bool, names ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, name := range names {
		n.isolated[name] = on
	}
}

// route returns the transport at a, nil when it is unknown or the link from
// this node to it is cut.
func (n *memNet) route(from string, a memberlist.Address) *memTransport {
	n.mu.Lock()
	defer n.mu.Unlock()
	dest := n.byName[a.Name]
	if dest == nil {
		dest = n.byAddr[a.Addr]
	}
	if dest == nil || n.isolated[from] || n.isolated[dest.name] {
		return nil
	}
	return dest
}

func (t *memTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return net.IPv4(127, 0, 0, 1), t.port, nil
}

func (t *memTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (t *memTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	dest := t.net.route(t.name, a)
	if dest == nil {
		return now, nil // lost, as UDP packets are
	}
	p := &memberlist.Packet{Buf: bytes.Clone(b), From: t.addr, Timestamp: now}
	select {
	case <-dest.done:
	case dest.packets <- p:
	default: // inbox full: lost
	}
	return now, nil
}

func (t *memTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

func (t *memTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (t *memTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	dest := t.net.route(t.name, a)
	if dest == nil {
		return nil, fmt.Errorf("%s cannot reach %s: partitioned", t.name, a.String())
	}
	mine, theirs := net.Pipe()
	select {
	case dest.streams <- theirs:
		return mine, nil
	case <-dest.done:
	case <-time.After(timeout):
	}
	mine.Close()
	theirs.Close()
	return nil, fmt.Errorf("%s cannot reach %s: not accepting", t.name, a.String())
}

func (t *memTransport) StreamCh() <-chan net.Conn { return t.streams }

func (t *memTransport) Shutdown() error {
	t.once.Do(func() { close(t.done) })
	return nil
}

func TestPartitionMarksFailedAndHeals(t *testing.T) {
	var pn memNet
	var ms []*Mesh
	for _, n := range []string{"a", "b", "c"} {
		cfg := testConfig(t, n)
		cfg.Transport = pn.transport(n)
		ms = append(ms, newMesh(t, cfg))
	}
	a, b, c := ms[0], ms[1], ms[2]
	join(t, b, a)
	join(t, c, a)
	eventually(t, 30*time.Second, func() string { return memberCounts(ms) }, func() bool { return seesAll(ms, 3) })

	if err := c.Publish(&gamesav1.Digest{AppClass: "render"}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	for _, m := range []*Mesh{a, b} {
		eventually(t, 30*time.Second, func() string { return m.self + " never got c's digest" }, func() bool {
			mem, _ := m.View().Get("c")
			return mem.Digest.GetAppClass() == "render"
		})
	}

	events, cancel := a.Subscribe(16)
	defer cancel()
	start := time.Now()
	pn.isolate(true, "c")
	for _, tc := range []struct {
		m  *Mesh
		id string
	}{{a, "c"}, {b, "c"}, {c, "a"}, {c, "b"}} {
		eventually(t, 30*time.Second, func() string {
			return fmt.Sprintf("%s sees %s as %v; want failed", tc.m.self, tc.id, stateOf(tc.m, tc.id))
		}, func() bool { return stateOf(tc.m, tc.id) == StateFailed })
	}
	recvEvent(t, events, EventFail, "c")
	if mem, _ := a.View().Get("c"); mem.Digest.GetAppClass() != "render" {
		t.Errorf("a forgot c's last digest when c failed: %v", mem.Digest)
	}

	// Healed, c refutes its death and is a member again, and its next
	// digest is taken.
	t.Logf("partitioned: %v", time.Since(start))
	pn.isolate(false, "c")
	recvEvent(t, events, EventJoin, "c")
	eventually(t, 30*time.Second, func() string { return memberCounts(ms) }, func() bool { return seesAll(ms, 3) })
	t.Logf("healed: %v", time.Since(start))
	if err := c.Publish(&gamesav1.Digest{AppClass: "compile"}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	eventually(t, 30*time.Second, func() string { return "a never got c's digest after the partition" }, func() bool {
		mem, _ := a.View().Get("c")
		return mem.Digest.GetAppClass() == "compile" && mem.Digest.GetSeq() == 2
	})
}
