package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/krystalstack/gamesa/consensus"
	"github.com/krystalstack/gamesa/gossip"
	"github.com/krystalstack/gamesa/node/auth"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Forwarding limits.
const (
	// writeHold bounds how long a write waits for a leader to be known
	// (an election takes about one election timeout): long enough to ride
	// out a leader change, short enough that a client without a quorum
	// hears so.
	writeHold = 5 * time.Second
	// maxHops bounds forwarding: client → server → leader, and one more
	// for a leader that moved while the request was in flight.
	maxHops = 3
	// hopsKey is the metadata key that counts forwarding hops.
	hopsKey = "gamesa-forwarded-hops"
)

// forwarder sends requests this node cannot serve to the node that can: a
// write to the leader, a client's request to a server. Connections are kept
// per address; the caller's bearer token travels with the request unless the
// node has a token of its own for forwarding.
type forwarder struct {
	creds credentials.TransportCredentials
	token string // from auth.token_file; empty: forward the caller's
	log   *slog.Logger

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

func newForwarder(clientTLS *tls.Config, ac AuthConfig, log *slog.Logger) (*forwarder, error) {
	f := &forwarder{creds: insecure.NewCredentials(), log: log, conns: make(map[string]*grpc.ClientConn)}
	if clientTLS != nil {
		f.creds = credentials.NewTLS(clientTLS)
	}
	if ac.TokenFile != "" {
		t, err := auth.ReadTokenFile(ac.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("auth.token_file: %w", err)
		}
		f.token = t
	}
	return f, nil
}

// conn returns the connection to addr, dialling once; every service's
// client for that node shares it.
func (f *forwarder) conn(addr string) (*grpc.ClientConn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(f.creds))
	if err != nil {
		return nil, fmt.Errorf("forwarding to %s: %w", addr, err)
	}
	f.conns[addr] = c
	return c, nil
}

// client returns a ClusterService client for addr.
func (f *forwarder) client(addr string) (gamesav1.ClusterServiceClient, error) {
	c, err := f.conn(addr)
	if err != nil {
		return nil, err
	}
	return gamesav1.NewClusterServiceClient(c), nil
}

func (f *forwarder) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for addr, c := range f.conns {
		if err := c.Close(); err != nil {
			f.log.Debug("closing forwarding connection", "addr", addr, "err", err)
		}
		delete(f.conns, addr)
	}
}

// outgoing prepares the context of a forwarded call: the hop count goes up
// by one, and the caller's token (or the node's own) goes along.
func (f *forwarder) outgoing(ctx context.Context) (context.Context, error) {
	in, _ := metadata.FromIncomingContext(ctx)
	hops := 0
	if v := in.Get(hopsKey); len(v) > 0 {
		hops, _ = strconv.Atoi(v[0]) // a garbled count counts as 0: the bound still holds on the next hop
	}
	if hops+1 > maxHops {
		return nil, status.Errorf(codes.Unavailable, "request forwarded %d times without reaching the leader; the cluster is changing leaders, retry", hops)
	}
	out := metadata.Pairs(hopsKey, strconv.Itoa(hops+1))
	if f.token != "" {
		out.Set("authorization", "Bearer "+f.token)
	} else if v := in.Get("authorization"); len(v) > 0 {
		out.Set("authorization", v...)
	}
	return metadata.NewOutgoingContext(ctx, out), nil
}

// to prepares a forwarded call to addr: the outgoing context (see
// outgoing) and a client of the node there.
func (f *forwarder) to(ctx context.Context, addr string) (context.Context, gamesav1.ClusterServiceClient, error) {
	fctx, err := f.outgoing(ctx)
	if err != nil {
		return nil, nil, err
	}
	cl, err := f.client(addr)
	if err != nil {
		return nil, nil, status.Error(codes.Internal, err.Error())
	}
	return fctx, cl, nil
}

// target names where to send a request this node cannot serve: the leader
// when this server knows it; for a client, any alive server (which
// forwards on to its leader). Empty while no such node is known.
func (c *cluster) target() (id, addr string) {
	view := c.mesh.View()
	if c.raft != nil {
		leader := c.raft.Leader()
		if leader.ID == "" || leader.ID == c.id {
			return "", ""
		}
		if m, ok := view.Get(leader.ID); ok && m.Meta.GRPCAddr != "" {
			return leader.ID, m.Meta.GRPCAddr
		}
		return "", ""
	}
	var servers []gossip.Member
	for _, m := range view.Members {
		if m.Meta.Role == gossip.RoleServer && m.State == gossip.StateAlive && m.Meta.GRPCAddr != "" {
			servers = append(servers, m)
		}
	}
	if len(servers) == 0 {
		return "", ""
	}
	m := servers[rand.IntN(len(servers))]
	return m.Meta.ID, m.Meta.GRPCAddr
}

// write applies cmd on the leader: here when this server leads, otherwise
// through forward, which sends the original request on. While no leader is
// known, or the one tried has just lost leadership, the write is held and
// retried for up to writeHold; cmd's request id makes retries apply once.
func (c *cluster) write(ctx context.Context, cmd *gamesav1.Command, forward func(context.Context, gamesav1.ClusterServiceClient) error) (*gamesav1.CommandResult, error) {
	hold, cancel := context.WithTimeout(ctx, writeHold)
	defer cancel()
	var lastErr error
	for attempt := 0; ; attempt++ {
		if c.raft != nil && c.leading.Load() {
			res, err := c.raft.Apply(ctx, cmd)
			switch {
			case err == nil:
				if res.GetError() != "" {
					return res, status.Error(codes.FailedPrecondition, res.GetError())
				}
				return res, nil
			case errors.Is(err, consensus.ErrInvalidCommand):
				return nil, status.Error(codes.InvalidArgument, err.Error())
			case errors.Is(err, consensus.ErrNotLeader):
				lastErr = err // lost leadership: find the new leader
			case errors.Is(err, consensus.ErrUnknownOutcome):
				lastErr = err // may have committed: the retry is deduplicated
			default:
				return nil, status.Errorf(codes.Internal, "applying: %v", err)
			}
		} else if _, addr := c.target(); addr != "" {
			fctx, cl, err := c.fwd.to(ctx, addr)
			if err != nil {
				return nil, err
			}
			err = forward(fctx, cl)
			if code := status.Code(err); code != codes.Unavailable {
				return nil, err // nil (done, the response is the caller's), or final
			}
			lastErr = err
		} else {
			lastErr = errors.New("no leader known")
		}
		if err := holdForLeader(hold, attempt); err != nil {
			if ctx.Err() != nil {
				return nil, status.FromContextError(ctx.Err()).Err()
			}
			return nil, status.Errorf(codes.Unavailable, "no leader within %v (%v); the write may or may not have been applied: retry with request_id %q", writeHold, lastErr, cmd.GetRequestId())
		}
	}
}
