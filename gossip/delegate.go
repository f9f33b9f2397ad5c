package gossip

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// delegate is the mesh's memberlist.Delegate. It is a separate type so that
// memberlist's callbacks stay off Mesh's exported API. memberlist calls it
// from its packet and stream goroutines, concurrently; nothing here blocks
// beyond the mesh's short critical sections.
type delegate struct{ m *Mesh }

var _ memberlist.Delegate = (*delegate)(nil)

// NodeMeta returns this node's encoded metadata. encodeMeta keeps it within
// MaxMetaBytes, memberlist's limit, so it always fits.
func (d *delegate) NodeMeta(limit int) []byte {
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	if len(d.m.meta) > limit {
		return nil // cannot happen with memberlist's 512; better empty than a panic there
	}
	return slices.Clone(d.m.meta)
}

// NotifyMsg receives one gossiped digest. memberlist reuses buf after the
// call, so the digest is decoded from a copy, which is also what a re-gossip
// sends.
func (d *delegate) NotifyMsg(buf []byte) {
	m := d.m
	raw := bytes.Clone(buf)
	dg, err := decodeDigest(raw)
	if err != nil {
		m.countBad(err)
		return
	}
	m.accept(dg, raw)
}

// GetBroadcasts hands memberlist the queued digests that fit.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.m.queue.GetBroadcasts(overhead, limit)
}

// LocalState returns every digest this node holds for a member that is
// alive here (itself included), freshest first, within MaxStateBytes: the
// push-pull anti-entropy payload.
func (d *delegate) LocalState(bool) []byte {
	m := d.m
	type held struct {
		d        *gamesav1.Digest
		received time.Time
	}
	m.mu.Lock()
	hs := make([]held, 0, len(m.members))
	for _, e := range m.members {
		if e.digest != nil && e.state == StateAlive {
			hs = append(hs, held{e.digest, e.received})
		}
	}
	m.mu.Unlock()
	// Freshest first: when the state must be cut at MaxStateBytes, the
	// digests left out are the ones most likely stale anyway.
	slices.SortFunc(hs, func(a, b held) int { return b.received.Compare(a.received) })
	ds := make([]*gamesav1.Digest, len(hs))
	for i, h := range hs {
		ds[i] = h.d
	}
	buf, err := encodeState(ds)
	if err != nil {
		m.log.Error("gossip: encode push-pull state", "err", err)
		return nil
	}
	return buf
}

// MergeRemoteState takes the digests of a peer's push-pull state that are
// newer than those held. They are not re-gossiped: the peer's state is
// already a copy of what the broadcasts carried, and re-gossiping it after
// every sync would flood the mesh.
func (d *delegate) MergeRemoteState(buf []byte, _ bool) {
	if len(buf) == 0 {
		return // a peer with no digests yet
	}
	m := d.m
	ds, bad, err := decodeState(buf)
	if err != nil {
		m.countBad(err)
		return
	}
	m.stats.droppedMalformed.Add(uint64(bad))
	for _, dg := range ds {
		m.accept(dg, nil)
	}
}

// countBad counts a message that failed to decode.
func (m *Mesh) countBad(err error) {
	if errors.Is(err, ErrTooLarge) {
		m.stats.droppedOversized.Add(1)
	} else {
		m.stats.droppedMalformed.Add(1)
	}
	m.log.Debug("gossip: dropped a message", "err", err)
}

// accept keeps dg as its node's latest digest when it is newer than the one
// held, and, when it came by broadcast (raw is its encoding), queues it for
// re-gossip: without that a memberlist user broadcast reaches only the few
// peers the sender picks.
//
// Digests are taken only from members that are alive here. A digest from a
// node not yet known (its join has not reached this node) is dropped; its
// next digest, a tick later, gets through. This keeps members that left or
// failed from being brought back into the view by copies of their digests
// still circulating.
func (m *Mesh) accept(dg *gamesav1.Digest, raw []byte) {
	m.stats.received.Add(1)
	id := dg.GetNodeId()
	var accepted bool
	m.mu.Lock()
	e := m.members[id]
	switch {
	case id == m.self:
		m.stats.droppedStale.Add(1) // our own digest, come back
	case e == nil || e.state != StateAlive:
		m.stats.droppedUnknown.Add(1)
	case e.digest != nil && !newer(dg, e.digest):
		m.stats.droppedStale.Add(1)
	default:
		accepted = true
		e.digest, e.received = dg, m.now()
		m.stats.accepted.Add(1)
		if raw != nil {
			// Under mu, so that the queue sees one node's digests in order.
			m.queue.QueueBroadcast(&digestBroadcast{node: id, msg: raw})
			m.stats.rebroadcast.Add(1)
		}
	}
	m.mu.Unlock()
	if accepted && m.cfg.onDigest != nil {
		m.cfg.onDigest(id, dg.GetSeq())
	}
}

// newer reports whether a supersedes b, two digests of one node: a later
// run, or a later seq in the same run.
func newer(a, b *gamesav1.Digest) bool {
	if a.GetEpoch() != b.GetEpoch() {
		return a.GetEpoch() > b.GetEpoch()
	}
	return a.GetSeq() > b.GetSeq()
}

// digestBroadcast is one node's digest in the broadcast queue. It is named
// after the node, so that queueing a newer digest drops the older one still
// waiting to be sent.
type digestBroadcast struct {
	node string
	msg  []byte
}

var _ memberlist.NamedBroadcast = (*digestBroadcast)(nil)

// Name is the digest's node id, prefixed so that it can never clash with
// another kind of named broadcast in the same queue.
func (b *digestBroadcast) Name() string { return "digest/" + b.node }

// Invalidates reports whether other is a digest of the same node; memberlist
// uses Name instead for named broadcasts, and asks for this to agree.
func (b *digestBroadcast) Invalidates(other memberlist.Broadcast) bool {
	o, ok := other.(memberlist.NamedBroadcast)
	return ok && o.Name() == b.Name()
}

// Message returns the encoded digest.
func (b *digestBroadcast) Message() []byte { return b.msg }

// Finished does nothing: nobody waits for a digest to be sent.
func (b *digestBroadcast) Finished() {}

// queueAnchor is a broadcast that never fits in a packet, so it stays in
// the broadcast queue for the mesh's life, and the queue is never empty.
//
// That works around hashicorp/memberlist#263, open in v0.6.0: when a named
// broadcast replaces the only one in a TransmitLimitedQueue, the queue
// empties for a moment and resets its id counter while the new broadcast
// keeps its id; a later broadcast of the same length then gets the same id,
// and the queue's B-tree, which orders by (transmits, length, id), takes
// the two for one and silently drops one. Digests all have about the same
// length, and a node's queue often holds only its own, so without the
// anchor half the digests of a 10-member test never left their node.
type queueAnchor struct{ msg []byte }

func newQueueAnchor() queueAnchor {
	// Longer than any UDP payload, so that GetBroadcasts never picks it.
	return queueAnchor{msg: make([]byte, 1<<16)}
}

var _ memberlist.UniqueBroadcast = queueAnchor{}

// Invalidates is false: the anchor replaces nothing.
func (queueAnchor) Invalidates(memberlist.Broadcast) bool { return false }

// Message returns the anchor's oversized body.
func (a queueAnchor) Message() []byte { return a.msg }

// Finished does nothing; it is never called, as the anchor is never sent.
func (queueAnchor) Finished() {}

// UniqueBroadcast marks the anchor as replacing nothing, which spares the
// queue a scan.
func (queueAnchor) UniqueBroadcast() {}

// eventDelegate is the mesh's memberlist.EventDelegate. memberlist calls it
// one event at a time, holding its node lock: it takes only the mesh's own
// locks and never blocks.
type eventDelegate struct{ m *Mesh }

var _ memberlist.EventDelegate = (*eventDelegate)(nil)

// NotifyJoin records a member that joined or came back.
func (d *eventDelegate) NotifyJoin(n *memberlist.Node) {
	d.m.memberChanged(n, EventJoin)
}

// NotifyUpdate records a member's new metadata.
func (d *eventDelegate) NotifyUpdate(n *memberlist.Node) {
	d.m.memberChanged(n, EventUpdate)
}

// NotifyLeave records a member that left or failed. memberlist's Node.State
// does not say which (it stays StateAlive; hashicorp/memberlist#293), so
// memberChanged decides from the leaving flag in the member's metadata.
func (d *eventDelegate) NotifyLeave(n *memberlist.Node) {
	d.m.memberChanged(n, EventFail)
}

// memberChanged applies one memberlist event to the member table, logs it
// and tells subscribers. kind is EventFail for any departure; it becomes
// EventLeave when the member had said it was leaving.
func (m *Mesh) memberChanged(n *memberlist.Node, kind EventKind) {
	meta, leaving := m.metaOf(n)
	addr := net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
	now := m.now()

	m.mu.Lock()
	e := m.members[n.Name]
	if e == nil {
		e = &entry{}
		m.members[n.Name] = e
	}
	metaChanged := e.meta != meta
	switch kind {
	case EventJoin:
		if e.state != StateAlive {
			// A node back after leaving or failing is most likely a new
			// run of its agent, whose seq starts again at 1; forgetting the
			// old run's digest lets the new one in even if its clock (the
			// epoch) went backwards.
			e.digest, e.received = nil, time.Time{}
		}
		e.state, e.since, e.leaving = StateAlive, now, leaving
	case EventUpdate:
		e.leaving = e.leaving || leaving
	case EventFail:
		if e.leaving || leaving {
			kind = EventLeave
			e.state = StateLeft
		} else {
			e.state = StateFailed
		}
		e.since = now
	}
	e.meta, e.addr = meta, addr
	alive := 0
	for _, x := range m.members {
		if x.state == StateAlive {
			alive++
		}
	}
	m.numAlive.Store(int64(alive))
	mem := e.member(now, m.cfg.StaleAfter)
	m.mu.Unlock()

	if kind == EventUpdate && !metaChanged {
		return // only the leaving flag changed: the leave event follows
	}
	if mem.Digest != nil {
		mem.Digest = cloneDigest(mem.Digest)
	}
	level := slog.LevelInfo
	if kind == EventFail {
		level = slog.LevelWarn
	}
	// context.Background: memberlist's callbacks carry no context.
	m.log.Log(context.Background(), level, "gossip: member "+kind.past(),
		"member", n.Name, "addr", addr, "role", meta.Role.String())
	m.emit(Event{Kind: kind, Member: mem})
}

// metaOf decodes a member's metadata and leaving flag. A member whose
// metadata does not decode (another version, a bug) is still a member: it
// gets a Meta with only its id, and the problem is counted and logged.
func (m *Mesh) metaOf(n *memberlist.Node) (Meta, bool) {
	meta, leaving, err := decodeMeta(n.Meta)
	if err != nil {
		m.countBad(err)
		m.log.Warn("gossip: member metadata unreadable", "member", n.Name, "err", err)
		return Meta{ID: n.Name}, false
	}
	if meta.ID != n.Name {
		m.log.Warn("gossip: member metadata names another node; using the member's name",
			"member", n.Name, "meta_id", meta.ID)
		meta.ID = n.Name
	}
	return meta, leaving
}
