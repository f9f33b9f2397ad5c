package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Errors returned by this package, wrapped with context: test with
// errors.Is.
var (
	// ErrInvalidConfig: Config.Validate found a problem.
	ErrInvalidConfig = errors.New("gossip: invalid config")
	// ErrBadKey: an encryption key is not base64 (DecodeKey) or not 16, 24
	// or 32 bytes.
	ErrBadKey = errors.New("gossip: bad encryption key")
	// ErrTooLarge: a digest, node metadata or push-pull state is over its
	// size limit (MaxDigestBytes, MaxMetaBytes, MaxStateBytes).
	ErrTooLarge = errors.New("gossip: message over its size limit")
	// ErrMalformed: a message from a peer could not be decoded, or carries
	// values no mesh would send.
	ErrMalformed = errors.New("gossip: malformed message")
	// ErrJoin: Join reached none of the given peers.
	ErrJoin = errors.New("gossip: could not join any peer")
	// ErrShutdown: the mesh was shut down.
	ErrShutdown = errors.New("gossip: mesh is shut down")
)

// defaultWait bounds Leave and UpdateMeta when their context has no
// deadline: both wait for a broadcast that, in a healthy mesh, completes in
// RetransmitMult×log10(N+1) gossip rounds (under 2 s with DefaultTiming).
const defaultWait = 5 * time.Second

// Mesh is this node's membership in the gossip mesh: memberlist plus the
// digests of every member. All methods are safe for concurrent use. Its
// goroutines are memberlist's and one reconnect loop; Shutdown ends them.
type Mesh struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	self  string
	epoch uint64
	ml    *memberlist.Memberlist
	queue *memberlist.TransmitLimitedQueue

	// numAlive feeds the broadcast queue's retransmit limit. It is an atomic
	// rather than a call into memberlist because the queue asks for it while
	// holding its own lock.
	numAlive atomic.Int64
	closed   atomic.Bool

	// stop ends the reconnect loop; loopDone is closed when it has.
	stop     chan struct{}
	loopDone chan struct{}

	// lifeMu orders Leave and Shutdown: memberlist panics on a Leave after
	// Shutdown.
	lifeMu sync.Mutex

	// mu guards the fields below. Lock order: memberlist's own locks, then
	// mu, then the broadcast queue's lock. So no memberlist method is called
	// with mu held: memberlist calls the event delegate (which takes mu)
	// while holding its node lock.
	mu      sync.Mutex
	metaVal Meta
	leaving bool   // set by Leave: peers then record "left", not "failed"
	meta    []byte // metaVal and leaving encoded, what NodeMeta hands memberlist
	seq     uint64
	members map[string]*entry

	subMu sync.Mutex
	subs  map[*subscription]struct{} // nil once shut down

	stats counters
}

// entry is what the mesh holds about one member.
type entry struct {
	meta  Meta
	addr  string
	state MemberState
	since time.Time
	// leaving is the member's leaving flag: its departure, when it comes,
	// is a leave rather than a failure.
	leaving bool
	// digest is never modified once stored: LocalState encodes it and View
	// clones it without holding mu.
	digest   *gamesav1.Digest
	received time.Time
}

type counters struct {
	published, received, accepted, rebroadcast atomic.Uint64
	droppedStale, droppedUnknown               atomic.Uint64
	droppedOversized, droppedMalformed         atomic.Uint64
	eventsDropped, keyErrors                   atomic.Uint64
}

type subscription struct {
	ch chan Event
}

// New validates cfg, starts memberlist and returns a mesh that is listening
// but has no peers yet (see Join). Call Shutdown when done.
func New(cfg Config) (*Mesh, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	cfg.Meta.ID = cfg.NodeID
	meta, err := encodeMeta(cfg.Meta, false)
	if err != nil {
		return nil, err // Validate checked it; kept for safety
	}
	m := &Mesh{
		cfg:      cfg,
		log:      logger,
		now:      now,
		self:     cfg.NodeID,
		epoch:    max(uint64(now().UnixNano()), 1), // a clock before 1970 still gives a valid digest
		metaVal:  cfg.Meta,
		meta:     meta,
		members:  make(map[string]*entry),
		subs:     make(map[*subscription]struct{}),
		stop:     make(chan struct{}),
		loopDone: make(chan struct{}),
	}
	m.queue = &memberlist.TransmitLimitedQueue{
		NumNodes:       func() int { return int(m.numAlive.Load()) },
		RetransmitMult: cfg.Timing.DigestRetransmitMult,
	}
	m.queue.QueueBroadcast(newQueueAnchor())

	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.NodeID
	mc.BindAddr, mc.BindPort = cfg.BindAddr, cfg.BindPort
	mc.AdvertiseAddr, mc.AdvertisePort = cfg.AdvertiseAddr, cfg.AdvertisePort
	if mc.AdvertisePort == 0 {
		// memberlist's default advertise port is 7946 whatever the bind
		// port; it is only used with an AdvertiseAddr.
		mc.AdvertisePort = cfg.BindPort
	}
	t := cfg.Timing
	mc.ProbeInterval, mc.ProbeTimeout = t.ProbeInterval, t.ProbeTimeout
	mc.GossipInterval, mc.GossipNodes = t.GossipInterval, t.GossipNodes
	mc.PushPullInterval = t.PushPullInterval
	mc.RetransmitMult, mc.SuspicionMult = t.RetransmitMult, t.SuspicionMult
	mc.TCPTimeout, mc.GossipToTheDeadTime = t.TCPTimeout, t.GossipToTheDeadTime
	// memberlist compresses every packet with LZW by default; a profile of
	// 100 members in one process spent a fifth of its CPU there, mostly
	// allocating the compressor, to shrink packets of at most 1400 bytes on
	// a LAN. Peers still read compressed packets from nodes that send them.
	mc.EnableCompression = false
	mc.SecretKey = slices.Clone(cfg.SecretKey)
	mc.Delegate = &delegate{m}
	mc.Events = &eventDelegate{m}
	// The delegate version makes memberlist refuse a push-pull with a node
	// that speaks another wire format version.
	mc.DelegateProtocolVersion = wireVersion
	mc.DelegateProtocolMin = wireVersion
	mc.DelegateProtocolMax = wireVersion
	mc.Logger = newStdLogger(logger, func() { m.stats.keyErrors.Add(1) })
	if cfg.Transport != nil {
		mc.Transport = cfg.Transport
	}

	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("gossip: start memberlist as %q on %s: %w",
			cfg.NodeID, net.JoinHostPort(cfg.BindAddr, strconv.Itoa(cfg.BindPort)), err)
	}
	m.ml = ml
	go m.reconnectLoop()
	logger.Info("gossip: listening", "node", m.self, "addr", m.LocalAddr(),
		"encrypted", len(cfg.SecretKey) > 0)
	return m, nil
}

// reconnectLoop tries, every Timing.ReconnectInterval, to join one member
// held as failed. It is the mesh's only goroutine of its own; Shutdown ends
// it.
func (m *Mesh) reconnectLoop() {
	defer close(m.loopDone)
	every := m.cfg.Timing.ReconnectInterval
	if every <= 0 {
		return
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
			m.reconnect()
		}
	}
}

// reconnect joins one random failed member. A join that works heals both
// sides: each learns from the other's state that it was thought dead, and
// refutes it.
func (m *Mesh) reconnect() {
	m.mu.Lock()
	// Forgotten here too, not only in View: a member gone for good must not
	// be retried forever by a node whose view nobody reads.
	m.forgetLocked(m.now())
	var failed []string
	for _, e := range m.members {
		if e.state == StateFailed {
			failed = append(failed, e.addr)
		}
	}
	m.mu.Unlock()
	if len(failed) == 0 {
		return
	}
	addr := failed[rand.IntN(len(failed))]
	// Bounded by Timing.TCPTimeout; a dead peer usually refuses at once.
	if _, err := m.ml.Join([]string{addr}); err != nil {
		m.log.Debug("gossip: reconnect failed", "addr", addr, "err", err)
		return
	}
	m.log.Info("gossip: reconnected to a failed member", "addr", addr)
}

// Join contacts each address (host:port) in turn, stopping early when ctx
// ends, and returns how many it joined through. Joining one is enough: the
// mesh then learns the rest. It returns an error wrapping ErrJoin only when
// addrs is non-empty and none could be joined; failures of some are logged.
//
// A peer that closes the connection without answering most likely has
// another encryption key (or none, or this node has none): Join logs that
// as "gossip: join refused: wrong encryption key?".
func (m *Mesh) Join(ctx context.Context, addrs []string) (int, error) {
	if m.closed.Load() {
		return 0, ErrShutdown
	}
	joined := 0
	var errs []error
	for _, addr := range addrs {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		// One address per call, so that ctx is honoured between peers;
		// each call is bounded by Timing.TCPTimeout.
		n, err := m.ml.Join([]string{addr})
		joined += n
		if err == nil {
			continue
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		if refusedByPeer(err) {
			m.log.Error("gossip: join refused: wrong encryption key?",
				"peer", addr, "encrypted", len(m.cfg.SecretKey) > 0, "err", err)
		} else {
			m.log.Warn("gossip: join failed", "peer", addr, "err", err)
		}
	}
	if joined == 0 && len(errs) > 0 {
		return 0, fmt.Errorf("%w: %w", ErrJoin, errors.Join(errs...))
	}
	if joined > 0 {
		m.log.Info("gossip: joined", "via", joined, "members", m.ml.NumMembers())
	}
	return joined, nil
}

// refusedByPeer reports whether a memberlist join error means that the
// peer and this node disagree on encryption: memberlist says so in the text
// when it can tell (another key, or encryption on one side only), and a
// peer that hangs up without a reply is most likely doing the same.
// memberlist's errors carry no types, only text.
func refusedByPeer(err error) bool {
	s := err.Error()
	return isKeyError(s) || strings.Contains(s, "EOF") || strings.Contains(s, "connection reset by peer")
}

// Publish gossips d as this node's latest digest. It stamps a copy of d
// with this node's id, the next seq and the run's epoch (and the time, when
// d has none), keeps it as this node's own digest in the view, and queues
// it for broadcast; a newer Publish replaces a queued older one. It never
// blocks on the network. It fails with ErrTooLarge when the stamped digest
// encodes to more than MaxDigestBytes, and with ErrShutdown after Shutdown.
func (m *Mesh) Publish(d *gamesav1.Digest) error {
	if m.closed.Load() {
		return ErrShutdown
	}
	if d == nil {
		return fmt.Errorf("gossip: publish: nil digest")
	}
	c := cloneDigest(d)
	now := m.now()
	c.NodeId, c.Epoch = m.self, m.epoch
	if c.Time == nil {
		c.Time = timestamppb.New(now)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	c.Seq = m.seq + 1
	raw, err := encodeDigest(c)
	if err != nil {
		return fmt.Errorf("gossip: publish: %w", err)
	}
	m.seq = c.Seq
	if e := m.members[m.self]; e != nil {
		e.digest, e.received = c, now
	}
	// Queued under mu so that the queue sees digests in seq order.
	m.queue.QueueBroadcast(&digestBroadcast{node: m.self, msg: raw})
	m.stats.published.Add(1)
	return nil
}

// UpdateMeta replaces this node's metadata and broadcasts it; peers see an
// EventUpdate. meta.ID may be empty (it is this node's id) and must not be
// another. It fails with ErrTooLarge when meta encodes to more than
// MaxMetaBytes. The change applies here at once; UpdateMeta then waits until
// the broadcast has gone out, up to ctx's deadline (5 s without one). An
// error from that wait means only that propagation was not confirmed: it
// goes on in the background.
func (m *Mesh) UpdateMeta(ctx context.Context, meta Meta) error {
	if m.closed.Load() {
		return ErrShutdown
	}
	if meta.ID == "" {
		meta.ID = m.self
	}
	if meta.ID != m.self {
		return fmt.Errorf("gossip: update meta: id %q is not this node's (%q)", meta.ID, m.self)
	}
	timeout, err := waitFor(ctx)
	if err != nil {
		return fmt.Errorf("gossip: update meta: %w", err)
	}
	m.mu.Lock()
	b, err := encodeMeta(meta, m.leaving)
	if err == nil {
		m.metaVal, m.meta = meta, b
	}
	m.mu.Unlock()
	if err != nil {
		return fmt.Errorf("gossip: update meta: %w", err)
	}
	// UpdateNode asks the delegate for the new metadata and tells the event
	// delegate, which updates this node's entry.
	if err := m.ml.UpdateNode(timeout); err != nil {
		return fmt.Errorf("gossip: update meta: %w", err)
	}
	return nil
}

// waitFor turns ctx's deadline into a memberlist timeout, defaultWait when
// there is none. memberlist reads 0 as "forever", which is never wanted.
func waitFor(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	dl, ok := ctx.Deadline()
	if !ok {
		return defaultWait, nil
	}
	d := time.Until(dl)
	if d <= 0 {
		return 0, context.DeadlineExceeded
	}
	return d, nil
}

// View returns a snapshot of the mesh: every known member with its latest
// digest, sorted by id, this node included. The caller owns the result.
//
// Members are alive, failed or left, never suspect: memberlist v0.6.0
// does not tell its users which members it suspects (its Node.State stays
// "alive"; hashicorp/memberlist#293), so a suspect member shows as alive
// until it is declared failed.
func (m *Mesh) View() ClusterView { return m.view(true) }

// SharedView is View without copying the digests: they are the mesh's
// own, replaced (never modified) when a newer one arrives. For readers
// that only look, every second or so (the allocation leader's
// fingerprint); the caller must not modify them.
func (m *Mesh) SharedView() ClusterView { return m.view(false) }

func (m *Mesh) view(clone bool) ClusterView {
	now := m.now()
	m.mu.Lock()
	m.forgetLocked(now)
	members := make([]Member, 0, len(m.members))
	for _, e := range m.members {
		members = append(members, e.member(now, m.cfg.StaleAfter))
	}
	m.mu.Unlock()
	for i := range members {
		// Cloned outside mu: stored digests are never modified.
		if d := members[i].Digest; d != nil && clone {
			members[i].Digest = cloneDigest(d)
		}
	}
	slices.SortFunc(members, func(a, b Member) int { return strings.Compare(a.Meta.ID, b.Meta.ID) })
	return ClusterView{Self: m.self, Time: now, Members: members}
}

func cloneDigest(d *gamesav1.Digest) *gamesav1.Digest {
	return proto.Clone(d).(*gamesav1.Digest)
}

// forgetLocked drops members that left or failed more than ForgetAfter ago.
func (m *Mesh) forgetLocked(now time.Time) {
	for id, e := range m.members {
		if (e.state == StateFailed || e.state == StateLeft) && now.Sub(e.since) > m.cfg.ForgetAfter {
			delete(m.members, id)
		}
	}
}

// member returns a copy of e as a Member, sharing e's digest; the caller
// clones it before handing it out.
func (e *entry) member(now time.Time, staleAfter time.Duration) Member {
	mem := Member{
		Meta:       e.meta,
		Addr:       e.addr,
		State:      e.state,
		StateSince: e.since,
		Stale:      true,
	}
	if e.digest != nil {
		mem.Digest = e.digest
		mem.DigestReceived = e.received
		mem.DigestAge = max(now.Sub(e.received), 0)
		mem.Stale = mem.DigestAge > staleAfter
	}
	return mem
}

// Subscribe returns a channel of membership events (join, update, leave,
// fail) and a function that ends the subscription and closes the channel;
// Shutdown closes it too. The channel holds buffer events (at least 1);
// when it is full an event is dropped and counted in Stats.EventsDropped,
// since memberlist must never wait for a slow reader. Digests are not
// events: read them from View.
func (m *Mesh) Subscribe(buffer int) (<-chan Event, func()) {
	s := &subscription{ch: make(chan Event, max(buffer, 1))}
	m.subMu.Lock()
	defer m.subMu.Unlock()
	if m.subs == nil {
		close(s.ch)
		return s.ch, func() {}
	}
	m.subs[s] = struct{}{}
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			m.subMu.Lock()
			defer m.subMu.Unlock()
			if _, ok := m.subs[s]; ok {
				delete(m.subs, s)
				close(s.ch)
			}
		})
	}
}

// emit delivers ev to every subscriber without blocking.
func (m *Mesh) emit(ev Event) {
	m.subMu.Lock()
	defer m.subMu.Unlock()
	for s := range m.subs {
		select {
		case s.ch <- ev:
		default:
			m.stats.eventsDropped.Add(1)
		}
	}
}

// Stats returns the mesh's counters.
func (m *Mesh) Stats() Stats {
	s := &m.stats
	return Stats{
		Members:          m.ml.NumMembers(),
		Published:        s.published.Load(),
		Received:         s.received.Load(),
		Accepted:         s.accepted.Load(),
		Rebroadcast:      s.rebroadcast.Load(),
		DroppedStale:     s.droppedStale.Load(),
		DroppedUnknown:   s.droppedUnknown.Load(),
		DroppedOversized: s.droppedOversized.Load(),
		DroppedMalformed: s.droppedMalformed.Load(),
		EventsDropped:    s.eventsDropped.Load(),
		KeyErrors:        s.keyErrors.Load(),
		QueuedBroadcasts: m.queue.NumQueued() - 1, // the anchor
	}
}

// LocalAddr returns the host:port peers reach this node at: the bound
// address (with the port the system picked for BindPort 0), or the
// advertised one.
func (m *Mesh) LocalAddr() string {
	n := m.ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// Leave tells the mesh that this node is going away, so that peers mark it
// left rather than failed, and waits until that has been broadcast, up to
// ctx's deadline (5 s without one). The mesh keeps running until Shutdown.
//
// It takes two broadcasts. memberlist's own leave message reaches peers as
// a plain "node gone", the same as a failure (hashicorp/memberlist#293), so
// Leave first sets a leaving flag in this node's metadata and waits, up to
// half the time allowed, for that update to spread; peers that have it
// record the departure as left.
func (m *Mesh) Leave(ctx context.Context) error {
	m.lifeMu.Lock()
	defer m.lifeMu.Unlock()
	if m.closed.Load() {
		return ErrShutdown
	}
	timeout, err := waitFor(ctx)
	if err != nil {
		return fmt.Errorf("gossip: leave: %w", err)
	}
	start := time.Now()
	m.mu.Lock()
	b, err := encodeMeta(m.metaVal, true)
	if err == nil {
		m.leaving, m.meta = true, b
	}
	m.mu.Unlock()
	if err != nil {
		return fmt.Errorf("gossip: leave: %w", err) // cannot happen: encodeMeta reserved room for the flag
	}
	if err := m.ml.UpdateNode(timeout / 2); err != nil {
		// Not fatal: peers that missed the flag record a failure instead.
		m.log.Warn("gossip: leave: the leaving flag did not spread in time", "err", err)
	}
	if err := m.ml.Leave(max(timeout-time.Since(start), time.Millisecond)); err != nil {
		return fmt.Errorf("gossip: leave: %w", err)
	}
	m.log.Info("gossip: left the mesh", "node", m.self)
	return nil
}

// Shutdown stops the mesh at once, without telling peers (they will mark
// this node failed; call Leave first for a graceful exit), and closes every
// subscription channel. It is idempotent. It may wait up to
// Timing.TCPTimeout for a reconnect attempt in flight to end.
func (m *Mesh) Shutdown() error {
	m.lifeMu.Lock()
	defer m.lifeMu.Unlock()
	if m.closed.Swap(true) {
		return nil
	}
	close(m.stop)
	<-m.loopDone
	err := m.ml.Shutdown()
	m.subMu.Lock()
	for s := range m.subs {
		close(s.ch)
	}
	m.subs = nil
	m.subMu.Unlock()
	if err != nil {
		return fmt.Errorf("gossip: shutdown: %w", err)
	}
	return nil
}
