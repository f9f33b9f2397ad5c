// Package consensustest runs clusters of consensus.Server in one process
// for tests: on real loopback TCP, or on raft's in-memory transport where
// links must be cut exactly (Partition, Heal). Storage is real bbolt in
// t.TempDir(), so Stop and Restart behave like a crash and a reboot.
//
// Use it from tests only:
//
//  1. c := consensustest.New(t, 3, consensustest.Options{}) starts and
//     bootstraps three voters (t.Cleanup shuts them down).
//  2. _, leader := c.WaitLeader(10 * time.Second) waits for a leader whose
//     Barrier completed.
//  3. Apply, Stop, Restart, Partition and Heal; poll with Eventually.
package consensustest

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/krystalstack/gamesa/consensus"
)

// Options shape a test cluster. The zero value is a bootstrapped cluster
// on loopback TCP with FastTimings, logging warnings to t.Log.
type Options struct {
	// Inmem uses raft.InmemTransport, which Partition needs.
	Inmem bool
	// TLS returns server i's listener and dialer TLS configurations; nil
	// is plain TCP. Unused with Inmem.
	TLS func(i int) (server, client *tls.Config)
	// Tune adjusts each server's configuration after the defaults and
	// FastTimings are applied.
	Tune func(i int, cfg *consensus.Config)
	// DefaultTimings keeps DefaultConfig's LAN timings instead of
	// FastTimings.
	DefaultTimings bool
	// NoBootstrap leaves the servers without a configuration.
	NoBootstrap bool
	// LogLevel is the least level logged to t.Log (default slog.LevelWarn).
	LogLevel slog.Leveler
}

// FastTimings shortens the Raft timings for tests while staying clear of
// false elections on a loaded machine.
func FastTimings(cfg *consensus.Config) {
	cfg.HeartbeatTimeout = 200 * time.Millisecond
	cfg.ElectionTimeout = 200 * time.Millisecond
	cfg.LeaderLeaseTimeout = 100 * time.Millisecond
	cfg.CommitTimeout = 5 * time.Millisecond
}

// Cluster is a set of servers under test. Its methods are safe for
// concurrent use (a chaos goroutine may Stop while clients Apply).
type Cluster struct {
	t    testing.TB
	opts Options
	log  *testLog
	dir  string

	mu    sync.Mutex
	nodes []*node
	// cut[i][j] is true while i cannot reach j (Inmem only).
	cut map[[2]int]bool
}

type node struct {
	id    string
	dir   string
	addr  string
	srv   *consensus.Server
	trans *raft.InmemTransport
}

// New starts n servers named server-0 … server-(n-1) and, unless
// opts.NoBootstrap, bootstraps them as one cluster of voters. The cluster
// shuts down when the test ends.
func New(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	if opts.LogLevel == nil {
		opts.LogLevel = slog.LevelWarn
	}
	// The directory is made before Shutdown is registered, so that its
	// removal (a cleanup too) runs after the servers stopped.
	c := &Cluster{t: t, opts: opts, cut: map[[2]int]bool{}, dir: t.TempDir()}
	c.log = newTestLog(t, opts.LogLevel)
	t.Cleanup(c.Shutdown)
	for range n {
		c.Add()
	}
	if !opts.NoBootstrap {
		peers := c.Peers()
		for i := range n {
			if err := c.Server(i).Bootstrap(peers); err != nil {
				t.Fatalf("Bootstrap(server-%d): %v", i, err)
			}
		}
	}
	return c
}

// Add starts one more server, with no Raft configuration (a leader adds
// it), and returns its index.
func (c *Cluster) Add() int {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	i := len(c.nodes)
	id := fmt.Sprintf("server-%d", i)
	nd := &node{id: id, dir: filepath.Join(c.dir, id)}
	c.nodes = append(c.nodes, nd)
	if err := c.startLocked(i); err != nil {
		c.t.Fatalf("starting server-%d: %v", i, err)
	}
	return i
}

func (c *Cluster) startLocked(i int) error {
	nd := c.nodes[i]
	cfg := consensus.DefaultConfig()
	cfg.NodeID = nd.id
	cfg.DataDir = nd.dir
	cfg.BindAddr = "127.0.0.1:0"
	if nd.addr != "" {
		cfg.BindAddr = nd.addr // peers know this address from the log
	}
	if !c.opts.DefaultTimings {
		FastTimings(&cfg)
	}
	cfg.Logger = c.log.logger.With("node", nd.id)
	if c.opts.TLS != nil && !c.opts.Inmem {
		cfg.TLS, cfg.ClientTLS = c.opts.TLS(i)
	}
	if c.opts.Inmem {
		addr := raft.ServerAddress(nd.id)
		_, nd.trans = raft.NewInmemTransport(addr)
		cfg.Transport = nd.trans
		c.linkLocked(i)
	}
	if c.opts.Tune != nil {
		c.opts.Tune(i, &cfg)
	}
	srv, err := consensus.Open(cfg)
	if err != nil {
		return err
	}
	nd.srv, nd.addr = srv, srv.Addr()
	return nil
}

// linkLocked connects node i's in-memory transport with every running
// node it is not cut from, both ways.
func (c *Cluster) linkLocked(i int) {
	me := c.nodes[i]
	for j, other := range c.nodes {
		if j == i || other.trans == nil || other.srv == nil {
			continue
		}
		if !c.cut[[2]int{i, j}] {
			me.trans.Connect(raft.ServerAddress(other.id), other.trans)
		}
		if !c.cut[[2]int{j, i}] {
			other.trans.Connect(raft.ServerAddress(me.id), me.trans)
		}
	}
}

// Len is how many servers the cluster has had (stopped ones included).
func (c *Cluster) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.nodes)
}

// Server returns server i, or nil while it is stopped.
func (c *Cluster) Server(i int) *consensus.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].srv
}

// Running returns the indexes of the servers that run.
func (c *Cluster) Running() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for i, nd := range c.nodes {
		if nd.srv != nil {
			out = append(out, i)
		}
	}
	return out
}

// ID returns server i's node ID.
func (c *Cluster) ID(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].id
}

// Peers lists every server, stopped ones included, for Bootstrap.
func (c *Cluster) Peers() []consensus.Peer {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]consensus.Peer, len(c.nodes))
	for i, nd := range c.nodes {
		out[i] = consensus.Peer{ID: nd.id, Addr: nd.addr}
	}
	return out
}

// Leader returns the running server that is a ready leader (Barrier done)
// in the highest term, or -1 and nil when there is none right now.
func (c *Cluster) Leader() (int, *consensus.Server) {
	best, bestTerm := -1, uint64(0)
	var srv *consensus.Server
	for _, i := range c.Running() {
		s := c.Server(i)
		if s == nil || !s.IsLeader() {
			continue
		}
		st := s.Stats()
		if st.Ready && st.Term > bestTerm {
			best, bestTerm, srv = i, st.Term, s
		}
	}
	return best, srv
}

// WaitLeader polls until a ready leader exists, failing the test after
// timeout.
func (c *Cluster) WaitLeader(timeout time.Duration) (int, *consensus.Server) {
	c.t.Helper()
	var i int
	var s *consensus.Server
	Eventually(c.t, timeout, func() bool {
		i, s = c.Leader()
		return s != nil
	}, "no ready leader")
	return i, s
}

// Stop shuts server i down in process, as a crash would: no leadership
// hand-over, and (Inmem) its links drop at once.
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	c.mu.Lock()
	nd := c.nodes[i]
	srv := nd.srv
	nd.srv = nil
	if nd.trans != nil {
		for _, other := range c.nodes {
			if other.trans != nil && other != nd {
				other.trans.Disconnect(raft.ServerAddress(nd.id))
			}
		}
	}
	c.mu.Unlock()
	if srv == nil {
		return
	}
	if err := srv.Shutdown(); err != nil {
		c.t.Errorf("Shutdown(%s): %v", nd.id, err)
	}
}

// Restart starts a stopped server from its data directory, at the same
// address.
func (c *Cluster) Restart(i int) *consensus.Server {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodes[i].srv != nil {
		c.t.Fatalf("Restart(server-%d): it is running", i)
	}
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		// Over TCP, the old listener's port may linger a moment.
		if err = c.startLocked(i); err == nil {
			return c.nodes[i].srv
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("Restart(server-%d): %v", i, err)
	return nil
}

// Partition cuts the links between groups (Inmem only): servers talk only
// within their group; servers in no group keep their links.
func (c *Cluster) Partition(groups ...[]int) {
	c.t.Helper()
	if !c.opts.Inmem {
		c.t.Fatal("Partition needs Options.Inmem")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	group := map[int]int{}
	for g, members := range groups {
		for _, i := range members {
			group[i] = g
		}
	}
	for i, gi := range group {
		for j, gj := range group {
			if gi != gj {
				c.cutLocked(i, j)
			}
		}
	}
}

// Cut drops the link from i to j only (Inmem): i's messages to j are lost,
// j's to i still arrive.
func (c *Cluster) Cut(i, j int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cutLocked(i, j)
}

func (c *Cluster) cutLocked(i, j int) {
	c.cut[[2]int{i, j}] = true
	if t := c.nodes[i].trans; t != nil {
		t.Disconnect(raft.ServerAddress(c.nodes[j].id))
	}
}

// Heal restores every link between running servers.
func (c *Cluster) Heal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = map[[2]int]bool{}
	for i, nd := range c.nodes {
		if nd.srv != nil && nd.trans != nil {
			c.linkLocked(i)
		}
	}
}

// WaitConverged polls until every running server has applied the same log
// (equal state indexes and equal states), failing the test after timeout.
func (c *Cluster) WaitConverged(timeout time.Duration) {
	c.t.Helper()
	var why string
	Eventually(c.t, timeout, func() bool {
		var first []byte
		var firstIdx uint64
		for n, i := range c.Running() {
			s := c.Server(i)
			if s == nil {
				continue
			}
			st := s.State()
			b, err := consensus.EncodeSnapshot(st)
			if err != nil {
				why = err.Error()
				return false
			}
			if n == 0 {
				first, firstIdx = b, st.Index()
				continue
			}
			if st.Index() != firstIdx || string(b) != string(first) {
				why = fmt.Sprintf("server-%d is at index %d, the first running server at %d", i, st.Index(), firstIdx)
				return false
			}
		}
		return true
	}, "servers did not converge: %s", &why)
}

// Shutdown stops every running server; t.Cleanup calls it.
func (c *Cluster) Shutdown() {
	for _, i := range c.Running() {
		c.Stop(i)
	}
}

// Eventually polls cond every 10 ms until it holds, failing the test with
// the message after timeout. Arguments that are pointers to strings are
// read when the failure is reported, so cond can leave its reason there.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			for k, a := range args {
				if p, ok := a.(*string); ok {
					args[k] = *p
				}
			}
			t.Fatalf("after %v: "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Ctx returns a context that ends after d or when the test ends.
func Ctx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
