package consensus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// streamLayer is raft's network seam over TCP, optionally wrapped in mutual
// TLS. Dial and the server side's handshake are bounded by timeout, so a
// silent peer never pins a goroutine.
type streamLayer struct {
	ln        net.Listener
	advertise net.Addr
	serverTLS *tls.Config
	clientTLS *tls.Config
	timeout   time.Duration
}

var _ raft.StreamLayer = (*streamLayer)(nil)

// listen opens the transport's listener and works out the address peers
// dial.
func listen(cfg Config) (*streamLayer, error) {
	sl := &streamLayer{timeout: cfg.DialTimeout}
	if cfg.TLS != nil {
		sl.serverTLS = cfg.TLS.Clone()
		sl.serverTLS.ClientAuth = tls.RequireAndVerifyClientCert
		if sl.serverTLS.ClientCAs == nil {
			sl.serverTLS.ClientCAs = sl.serverTLS.RootCAs
		}
		if cfg.ClientTLS != nil {
			sl.clientTLS = cfg.ClientTLS.Clone()
		} else {
			sl.clientTLS = cfg.TLS.Clone()
			sl.clientTLS.ClientAuth = tls.NoClientCert
		}
	}
	ln, err := net.Listen("tcp", cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", cfg.BindAddr, err)
	}
	bound := ln.Addr().(*net.TCPAddr)
	adv := cfg.AdvertiseAddr
	if adv == "" {
		if bound.IP.IsUnspecified() {
			ln.Close()
			return nil, fmt.Errorf("%w: BindAddr %s is a wildcard: set AdvertiseAddr to the address peers should dial", ErrInvalidConfig, cfg.BindAddr)
		}
		adv = bound.String()
	}
	host, port, err := splitPort(adv)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("%w: AdvertiseAddr %q: %v", ErrInvalidConfig, adv, err)
	}
	if port == 0 {
		port = bound.Port
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("%w: advertise address %q must be a specific IP address", ErrInvalidConfig, adv)
	}
	sl.ln = ln
	sl.advertise = &net.TCPAddr{IP: ip, Port: port}
	return sl, nil
}

// Dial connects to a peer; with TLS, the handshake (which verifies the
// peer's certificate) completes within timeout too.
func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 {
		timeout = s.timeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if s.clientTLS == nil {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", string(addr))
	}
	d := tls.Dialer{Config: s.clientTLS}
	return d.DialContext(ctx, "tcp", string(addr))
}

// Accept waits for the next peer connection. A TLS connection's handshake
// is left to its first read, which runs on the transport's per-connection
// goroutine, so one slow peer never holds up the accept loop.
func (s *streamLayer) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	if s.serverTLS == nil {
		return c, nil
	}
	return &serverConn{Conn: tls.Server(c, s.serverTLS), timeout: s.timeout}, nil
}

// Close stops the listener.
func (s *streamLayer) Close() error {
	err := s.ln.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Addr is the advertised address, which raft hands to peers.
func (s *streamLayer) Addr() net.Addr { return s.advertise }

// serverConn bounds the server side of the TLS handshake.
type serverConn struct {
	*tls.Conn
	timeout time.Duration
	once    sync.Once
	err     error
}

func (c *serverConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		defer cancel()
		c.err = c.Conn.HandshakeContext(ctx)
	})
	return c.err
}

// Read completes the handshake first.
func (c *serverConn) Read(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

// Write completes the handshake first.
func (c *serverConn) Write(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// newNetworkTransport builds raft's TCP (or TLS) transport for cfg.
func newNetworkTransport(cfg Config, logger *hclogAdapter) (*raft.NetworkTransport, error) {
	sl, err := listen(cfg)
	if err != nil {
		return nil, err
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: sl,
		// Three pooled connections per peer, as Consul: replication, votes
		// and snapshots rarely need more at once.
		MaxPool: 3,
		Timeout: cfg.DialTimeout,
		Logger:  logger.Named("transport"),
	}), nil
}
