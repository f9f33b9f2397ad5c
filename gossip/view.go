package gossip

import (
	"fmt"
	"sort"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// MemberState is a member's liveness as this node knows it.
type MemberState int

// The member states. The zero value is not a state.
const (
	// StateAlive members are in the cluster as far as failure detection
	// knows: members that missed probes but are not yet declared failed
	// included (memberlist does not say which those are).
	StateAlive MemberState = iota + 1
	// StateFailed members were declared dead by failure detection.
	StateFailed
	// StateLeft members said goodbye (Mesh.Leave).
	StateLeft
)

// String returns "alive", "failed" or "left".
func (s MemberState) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateFailed:
		return "failed"
	case StateLeft:
		return "left"
	default:
		return fmt.Sprintf("state(%d)", int(s))
	}
}

// Member is one node as this node sees it, at the time of the view or event
// that holds it. It is a copy: the caller may keep and modify it.
type Member struct {
	// Meta is what the member says about itself. A member whose metadata
	// could not be decoded has only Meta.ID, its node name.
	Meta Meta
	// Addr is the member's gossip address, host:port.
	Addr string
	// State is the member's liveness.
	State MemberState
	// StateSince is when this node saw the member join, leave or fail (the
	// latest of these); suspicion does not move it.
	StateSince time.Time
	// Digest is the member's latest digest; nil until one arrives.
	Digest *gamesav1.Digest
	// DigestReceived is when Digest arrived here (Config.Now), or was
	// published, for this node's own digest.
	DigestReceived time.Time
	// DigestAge is the view's time minus DigestReceived; 0 without a digest.
	DigestAge time.Duration
	// Stale is true when the member has no digest younger than
	// Config.StaleAfter, including when it has none at all.
	Stale bool
}

// ClusterView is a snapshot of the mesh as this node sees it.
type ClusterView struct {
	// Self is this node's id.
	Self string
	// Time is when the snapshot was taken (Config.Now); ages are relative
	// to it.
	Time time.Time
	// Members are all known members, this node included, sorted by id.
	// Failed and left members stay for Config.ForgetAfter.
	Members []Member
}

// Get returns the member with the given id.
func (v ClusterView) Get(id string) (Member, bool) {
	i := sort.Search(len(v.Members), func(i int) bool { return v.Members[i].Meta.ID >= id })
	if i < len(v.Members) && v.Members[i].Meta.ID == id {
		return v.Members[i], true
	}
	return Member{}, false
}

// Alive returns the members that are alive.
func (v ClusterView) Alive() []Member {
	var out []Member
	for _, m := range v.Members {
		if m.State == StateAlive {
			out = append(out, m)
		}
	}
	return out
}

// EventKind says what happened to a member.
type EventKind int

// The event kinds. The zero value is not a kind.
const (
	// EventJoin: a member joined, or came back after leaving or failing.
	EventJoin EventKind = iota + 1
	// EventUpdate: a member changed its metadata.
	EventUpdate
	// EventLeave: a member left gracefully.
	EventLeave
	// EventFail: failure detection declared a member dead.
	EventFail
)

// String returns "join", "update", "leave" or "fail".
func (k EventKind) String() string {
	switch k {
	case EventJoin:
		return "join"
	case EventUpdate:
		return "update"
	case EventLeave:
		return "leave"
	case EventFail:
		return "fail"
	default:
		return fmt.Sprintf("event(%d)", int(k))
	}
}

// past is the kind as a verb in the past tense, for logs.
func (k EventKind) past() string {
	switch k {
	case EventJoin:
		return "joined"
	case EventUpdate:
		return "updated"
	case EventLeave:
		return "left"
	case EventFail:
		return "failed"
	default:
		return k.String()
	}
}

// Event is a change of membership. Member is the member as it was right
// after the change.
type Event struct {
	Kind   EventKind
	Member Member
}

// Stats are the mesh's counters since New. The digest counters count
// messages; a push-pull state counts once per digest in it.
type Stats struct {
	// Members is how many members memberlist counts alive (suspects
	// included), this node included.
	Members int
	// Published is how many digests this node published.
	Published uint64
	// Received is how many well-formed digests arrived from peers, by
	// broadcast or push-pull; each is then accepted or dropped as stale or
	// unknown. Malformed and oversized ones are counted apart.
	Received uint64
	// Accepted is how many received digests were newer than the one held
	// and replaced it.
	Accepted uint64
	// Rebroadcast is how many accepted digests were queued for re-gossip
	// (the first copy of each (node, seq) that came by broadcast).
	Rebroadcast uint64
	// DroppedStale is how many received digests were not newer than the one
	// held: copies of one already seen, reordered ones, this node's own.
	DroppedStale uint64
	// DroppedUnknown is how many received digests came from a node that is
	// not an alive member here (not yet joined, or already gone).
	DroppedUnknown uint64
	// DroppedOversized is how many messages (digests, push-pull states,
	// metadata) were over their size limit.
	DroppedOversized uint64
	// DroppedMalformed is how many messages could not be decoded or carried
	// impossible values.
	DroppedMalformed uint64
	// EventsDropped is how many events were not delivered because a
	// subscriber's channel was full.
	EventsDropped uint64
	// KeyErrors is how many gossip packets or streams memberlist could not
	// decrypt, or that were not encrypted as this node's key requires: each
	// is a peer with another key, or none, trying to talk to this node.
	KeyErrors uint64
	// QueuedBroadcasts is how many digests wait in the broadcast queue.
	QueuedBroadcasts int
}
