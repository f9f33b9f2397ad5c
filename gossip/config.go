package gossip

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/memberlist"
)

// DefaultPort is the gossip port a user sees by default (TCP and UDP).
const DefaultPort = 7946

// Config configures a Mesh. Start from DefaultConfig.
type Config struct {
	// NodeID names this node in the mesh (memberlist's node name). It must
	// be unique in the cluster, non-empty, and at most MaxNodeIDBytes.
	NodeID string

	// BindAddr and BindPort are where the mesh listens, TCP and UDP on the
	// same port. BindPort 0 picks a free port (tests); LocalAddr says which.
	// Ignored when Transport is set.
	BindAddr string
	BindPort int

	// AdvertiseAddr and AdvertisePort are what peers are told to dial, when
	// that differs from the bound address (NAT, a wildcard bind); empty and
	// 0 mean "the bound address".
	AdvertiseAddr string
	AdvertisePort int

	// Meta is this node's metadata. Meta.ID may be left empty; it is set to
	// NodeID, and any other value is an error.
	Meta Meta

	// SecretKey turns on gossip encryption (AES-GCM) when set: 16, 24 or
	// 32 bytes, the same on every node. A node with another key, or none,
	// cannot join. nil means no encryption: loopback and trusted networks
	// only.
	SecretKey []byte

	// StaleAfter is how old a member's latest digest may be before the view
	// marks it stale.
	StaleAfter time.Duration

	// ForgetAfter is how long a member that left or failed stays in the view
	// (so that consensus can see the failure and act on it) before it is
	// forgotten.
	ForgetAfter time.Duration

	// Timing sets memberlist's probe and gossip intervals.
	Timing Timing

	// Logger receives the mesh's log lines, memberlist's own included
	// (with its level taken from its [DEBUG]/[INFO]/[WARN]/[ERR] prefix).
	// nil discards them.
	Logger *slog.Logger

	// Transport replaces the UDP/TCP network transport, e.g. with an
	// in-memory one where a test needs exact partitions. nil means the
	// network, on BindAddr:BindPort. (memberlist.MockNetwork fits, but its
	// unbuffered channels can deadlock two members that ping each other at
	// once; this package's partition test brings its own.)
	Transport memberlist.NodeAwareTransport

	// Now is the clock for digest receipt times and ages, so that staleness
	// can be tested without sleeping. nil means time.Now.
	Now func() time.Time

	// onDigest, when set (tests in this package), is called after each
	// digest from a peer is accepted, outside the mesh's locks. It must not
	// block.
	onDigest func(nodeID string, seq uint64)
}

// Timing is the part of memberlist's configuration that trades speed of
// detection and dissemination against traffic. The profiles are
// DefaultTiming (LAN) and FastTiming (loopback, tests).
type Timing struct {
	// ProbeInterval is the time between failure-detection probes of one
	// random member; ProbeTimeout is how long a probe waits for its ack.
	ProbeInterval time.Duration
	ProbeTimeout  time.Duration
	// GossipInterval is the time between gossip rounds, each to GossipNodes
	// random members. Digests and membership changes ride on these rounds.
	GossipInterval time.Duration
	GossipNodes    int
	// PushPullInterval is the time between full state syncs (membership and
	// all digests) with one random member: the anti-entropy backstop. 0
	// turns them off.
	PushPullInterval time.Duration
	// RetransmitMult scales how many times memberlist sends each of its
	// own broadcasts (joins, failures): RetransmitMult ×
	// ceil(log10(members+1)).
	RetransmitMult int
	// DigestRetransmitMult does the same for digests, which every member
	// that receives one sends on that many times. With L sends per member,
	// the chance that some member of N misses a digest is about N×e^-L:
	// memberlist's LAN multiplier of 4 gives L = 8 at 50 members, and a
	// miss in about 2% of digests (measured: 1 trial in 60), which then
	// waits for the next digest or a push-pull. 8 makes misses negligible;
	// the extra sends go out only when a packet has room, as broadcasts
	// sent fewer times go first.
	DigestRetransmitMult int
	// SuspicionMult scales how long a member stays suspect before it is
	// declared failed: SuspicionMult × log10(members) × ProbeInterval.
	SuspicionMult int
	// TCPTimeout bounds a stream connection: joins and push-pull.
	TCPTimeout time.Duration
	// GossipToTheDeadTime is how long the mesh keeps gossiping to a failed
	// member, giving it a chance to refute.
	GossipToTheDeadTime time.Duration
	// ReconnectInterval is how often the mesh tries to join one member it
	// holds as failed (not left), picked at random. memberlist never
	// contacts a member again once it has declared it dead, so without
	// this the two sides of a healed partition would stay apart. 0 turns it
	// off.
	ReconnectInterval time.Duration
}

// DefaultTiming is memberlist's LAN profile (memberlist.DefaultLANConfig)
// with gossip rounds every 100 ms instead of 200 ms, and digests sent on
// twice as many times as memberlist's own broadcasts. Digests, one per
// member per tick, are far more traffic than memberlist's own messages.
// With memberlist's values a digest took 1 s (p90) to reach all of 100
// members, and with all 100 publishing every second about 69% of the
// digests views held were under 2 s old; with these, 0.47 s and 98%
// (BenchmarkDissemination, BenchmarkSteadyState). Rounds only send when
// something is queued, and each broadcast is sent a bounded number of
// times, so shorter rounds mostly spend the same bytes sooner.
func DefaultTiming() Timing {
	c := memberlist.DefaultLANConfig()
	return Timing{
		ProbeInterval:        c.ProbeInterval,
		ProbeTimeout:         c.ProbeTimeout,
		GossipInterval:       100 * time.Millisecond,
		GossipNodes:          c.GossipNodes,
		PushPullInterval:     c.PushPullInterval,
		RetransmitMult:       c.RetransmitMult,
		DigestRetransmitMult: 2 * c.RetransmitMult,
		SuspicionMult:        c.SuspicionMult,
		TCPTimeout:           c.TCPTimeout,
		GossipToTheDeadTime:  c.GossipToTheDeadTime,
		// Serf's default: a failed member costs one connection attempt
		// per member every 30 s until it is forgotten.
		ReconnectInterval: 30 * time.Second,
	}
}

// FastTiming derives from DefaultTiming a profile for meshes on one machine:
// loopback clusters and tests. Digests spread in gossip rounds of 50 ms;
// failures are detected in a few seconds.
func FastTiming() Timing {
	t := DefaultTiming()
	// Probes every 200 ms were tried: with 50 members in one process on a
	// loaded 2-core machine, late acks made members suspect each other in
	// storms that took 30 s to settle. 500 ms stays calm and still detects
	// a failure within about 4 s at 50 members.
	t.ProbeInterval = 500 * time.Millisecond
	t.ProbeTimeout = 250 * time.Millisecond
	t.GossipInterval = 50 * time.Millisecond
	t.PushPullInterval = 5 * time.Second
	t.TCPTimeout = 2 * time.Second
	t.GossipToTheDeadTime = 5 * time.Second
	t.ReconnectInterval = time.Second
	return t
}

// DefaultConfig returns the configuration a user gets: port 7946 on
// loopback, DefaultTiming, no encryption, digests stale after 10 s, failed
// members forgotten after a day. NodeID must still be set.
func DefaultConfig() Config {
	return Config{
		BindAddr:    "127.0.0.1",
		BindPort:    DefaultPort,
		StaleAfter:  10 * time.Second,
		ForgetAfter: 24 * time.Hour,
		Timing:      DefaultTiming(),
	}
}

// Validate reports every problem with c at once, each wrapped in
// ErrInvalidConfig.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if err := checkNodeID(c.NodeID); err != nil {
		bad("NodeID: %v", err)
	}
	if c.Meta.ID != "" && c.Meta.ID != c.NodeID {
		bad("Meta.ID %q differs from NodeID %q", c.Meta.ID, c.NodeID)
	}
	if c.Transport == nil {
		if net.ParseIP(c.BindAddr) == nil {
			bad("BindAddr %q is not an IP address", c.BindAddr)
		}
		if c.BindPort < 0 || c.BindPort > 65535 {
			bad("BindPort %d out of range", c.BindPort)
		}
	}
	if c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil {
		bad("AdvertiseAddr %q is not an IP address", c.AdvertiseAddr)
	}
	if c.AdvertisePort < 0 || c.AdvertisePort > 65535 {
		bad("AdvertisePort %d out of range", c.AdvertisePort)
	}
	if c.SecretKey != nil {
		if err := checkKey(c.SecretKey); err != nil {
			bad("SecretKey: %v", err)
		}
	}
	if c.StaleAfter <= 0 {
		bad("StaleAfter %v must be positive", c.StaleAfter)
	}
	if c.ForgetAfter <= 0 {
		bad("ForgetAfter %v must be positive", c.ForgetAfter)
	}
	if _, err := encodeMeta(c.Meta, false); err != nil {
		bad("Meta: %v", err)
	}
	t := c.Timing
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ProbeInterval", t.ProbeInterval}, {"ProbeTimeout", t.ProbeTimeout},
		{"GossipInterval", t.GossipInterval}, {"TCPTimeout", t.TCPTimeout},
		{"GossipToTheDeadTime", t.GossipToTheDeadTime},
	} {
		if d.v <= 0 {
			bad("Timing.%s %v must be positive", d.name, d.v)
		}
	}
	if t.ProbeTimeout > t.ProbeInterval {
		bad("Timing.ProbeTimeout %v exceeds ProbeInterval %v", t.ProbeTimeout, t.ProbeInterval)
	}
	if t.PushPullInterval < 0 || t.ReconnectInterval < 0 {
		bad("Timing.PushPullInterval %v or ReconnectInterval %v is negative", t.PushPullInterval, t.ReconnectInterval)
	}
	if t.GossipNodes < 1 || t.RetransmitMult < 1 || t.DigestRetransmitMult < 1 || t.SuspicionMult < 1 {
		bad("Timing.GossipNodes %d, RetransmitMult %d, DigestRetransmitMult %d, SuspicionMult %d must be at least 1",
			t.GossipNodes, t.RetransmitMult, t.DigestRetransmitMult, t.SuspicionMult)
	}
	return errors.Join(errs...)
}
