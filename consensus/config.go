package consensus

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"
	"unicode"

	"github.com/hashicorp/raft"
)

// Config configures a Server. Start from DefaultConfig; NodeID and DataDir
// have no default.
type Config struct {
	// NodeID names this server in the Raft configuration, for all time: a
	// server that comes back under another ID is a new server.
	NodeID string
	// DataDir holds raft.db (the log and the stable store, bbolt) and
	// snapshots/. It is created if missing.
	DataDir string

	// BindAddr is where the Raft transport listens, host:port; port 0
	// picks a free port (Server.Addr reports it).
	BindAddr string
	// AdvertiseAddr is the IP:port peers dial, when it differs from the
	// bind address (a wildcard bind, NAT). Empty advertises the bound
	// address; a port of 0 takes the bound port.
	AdvertiseAddr string
	// TLS, when set, makes the transport mutual TLS: the listener uses it
	// with tls.RequireAndVerifyClientCert (ClientCAs falls back to
	// RootCAs). Nil is plain TCP.
	TLS *tls.Config
	// ClientTLS is what the transport dials peers with: it must hold this
	// server's client certificate and verify peers against the cluster CA.
	// Nil with TLS set derives it from TLS (same certificates, RootCAs).
	ClientTLS *tls.Config
	// DialTimeout bounds a dial and a TLS handshake, and is the I/O
	// deadline of each transport RPC.
	DialTimeout time.Duration

	// HeartbeatTimeout is how long a follower waits without hearing from
	// the leader before it starts an election (raft randomizes it up to 2x).
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits for votes.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader keeps leading without contact
	// with a quorum; it must not exceed HeartbeatTimeout.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout is the longest the leader waits before it tells
	// followers about a new commit index when nothing else is sent.
	CommitTimeout time.Duration
	// MaxAppendEntries caps the entries per AppendEntries RPC and the
	// commands the leader groups into one disk write (1..1024).
	MaxAppendEntries int

	// SnapshotRetain is how many snapshots stay on disk.
	SnapshotRetain int
	// SnapshotThreshold is how many log entries since the last snapshot
	// make the next check take one.
	SnapshotThreshold uint64
	// SnapshotInterval is how often raft checks SnapshotThreshold.
	SnapshotInterval time.Duration
	// TrailingLogs is how many entries stay in the log after a snapshot, so
	// a follower slightly behind catches up from the log, not a snapshot.
	TrailingLogs uint64

	// Logger receives raft's and the transport's logs. Nil discards them.
	Logger *slog.Logger

	// Transport replaces the TCP transport (tests use raft's
	// InmemTransport to cut links exactly). The Server owns it from Open
	// on and closes it on Shutdown. BindAddr, AdvertiseAddr, TLS,
	// ClientTLS and DialTimeout are then unused.
	Transport raft.Transport
}

// DefaultConfig returns LAN timings (a heartbeat and election timeout of
// 500 ms, a 500 ms leader lease), raft's default batching and snapshot
// cadence with 2 snapshots kept, and the Raft port 7947 on loopback.
func DefaultConfig() Config {
	return Config{
		BindAddr:           "127.0.0.1:7947",
		DialTimeout:        10 * time.Second,
		HeartbeatTimeout:   500 * time.Millisecond,
		ElectionTimeout:    500 * time.Millisecond,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		CommitTimeout:      50 * time.Millisecond,
		MaxAppendEntries:   256,
		SnapshotRetain:     2,
		SnapshotThreshold:  8192,
		SnapshotInterval:   2 * time.Minute,
		TrailingLogs:       10240,
	}
}

// Validate reports the first setting that cannot work, wrapping
// ErrInvalidConfig.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if err := validateServerID(c.NodeID); err != nil {
		return bad("NodeID: %v", err)
	}
	if c.DataDir == "" {
		return bad("DataDir is empty")
	}
	if c.Transport == nil {
		if _, _, err := splitPort(c.BindAddr); err != nil {
			return bad("BindAddr %q: %v", c.BindAddr, err)
		}
		if c.AdvertiseAddr != "" {
			if _, _, err := splitPort(c.AdvertiseAddr); err != nil {
				return bad("AdvertiseAddr %q: %v", c.AdvertiseAddr, err)
			}
		}
		if c.TLS == nil && c.ClientTLS != nil {
			return bad("ClientTLS is set but TLS is not: a plain listener cannot serve TLS peers")
		}
		if c.TLS != nil && len(c.TLS.Certificates) == 0 && c.TLS.GetCertificate == nil {
			return bad("TLS has no certificate")
		}
		if c.DialTimeout <= 0 {
			return bad("DialTimeout %v must be positive", c.DialTimeout)
		}
	}
	// raft.ValidateConfig's limits, checked here to name the field.
	const minTimeout = 5 * time.Millisecond
	switch {
	case c.HeartbeatTimeout < minTimeout:
		return bad("HeartbeatTimeout %v is below %v", c.HeartbeatTimeout, minTimeout)
	case c.ElectionTimeout < c.HeartbeatTimeout:
		return bad("ElectionTimeout %v is below HeartbeatTimeout %v", c.ElectionTimeout, c.HeartbeatTimeout)
	case c.LeaderLeaseTimeout < minTimeout:
		return bad("LeaderLeaseTimeout %v is below %v", c.LeaderLeaseTimeout, minTimeout)
	case c.LeaderLeaseTimeout > c.HeartbeatTimeout:
		return bad("LeaderLeaseTimeout %v exceeds HeartbeatTimeout %v", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	case c.CommitTimeout < time.Millisecond:
		return bad("CommitTimeout %v is below 1ms", c.CommitTimeout)
	case c.MaxAppendEntries < 1 || c.MaxAppendEntries > 1024:
		return bad("MaxAppendEntries %d is outside 1..1024", c.MaxAppendEntries)
	case c.SnapshotRetain < 1:
		return bad("SnapshotRetain %d must be at least 1", c.SnapshotRetain)
	case c.SnapshotThreshold < 1:
		return bad("SnapshotThreshold must be at least 1")
	case c.SnapshotInterval < minTimeout:
		return bad("SnapshotInterval %v is below %v", c.SnapshotInterval, minTimeout)
	case c.TrailingLogs < 1:
		return bad("TrailingLogs must be at least 1")
	}
	return nil
}

// raftConfig translates c into raft's configuration.
func (c Config) raftConfig(logger *hclogAdapter) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.NodeID)
	rc.HeartbeatTimeout = c.HeartbeatTimeout
	rc.ElectionTimeout = c.ElectionTimeout
	rc.LeaderLeaseTimeout = c.LeaderLeaseTimeout
	rc.CommitTimeout = c.CommitTimeout
	rc.MaxAppendEntries = c.MaxAppendEntries
	// Concurrent Apply calls queue up to MaxAppendEntries deep and the
	// leader writes each queue-full as one log batch (one fsync); the
	// price is that raft's own enqueue timeout no longer bounds the wait,
	// which Apply's context does instead.
	rc.BatchApplyCh = true
	rc.SnapshotThreshold = c.SnapshotThreshold
	rc.SnapshotInterval = c.SnapshotInterval
	rc.TrailingLogs = c.TrailingLogs
	// A removed server keeps running as a follower without a vote (raft
	// never lets it stand for election), so the leader can add it back
	// under a new address without the process restarting.
	rc.ShutdownOnRemove = false
	rc.Logger = logger
	rc.NoLegacyTelemetry = true
	return rc
}

// validateServerID accepts printable IDs of at most 128 bytes: they show up
// in logs, gossip metadata and the Raft configuration.
func validateServerID(id string) error {
	if id == "" {
		return fmt.Errorf("empty")
	}
	if len(id) > 128 {
		return fmt.Errorf("%d bytes, more than 128", len(id))
	}
	for _, r := range id {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("%q holds a space or an unprintable character", id)
		}
	}
	return nil
}

// splitPort checks a host:port and returns its parts.
func splitPort(addr string) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number in 0..65535", portText)
	}
	return host, port, nil
}
