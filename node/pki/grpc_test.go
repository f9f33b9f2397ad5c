package pki

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// TestGRPC: the configs carry a real gRPC call over loopback, and a client
// with a certificate from another CA gets no answer.
func TestGRPC(t *testing.T) {
	ca := newTestCA(t, "gamesa")
	other := newTestCA(t, "gamesa")
	serverCfg := mustServer(t, ca.issue(t, CertOptions{Kind: Server}))

	// The handler reports the client's certificate name through the status
	// message, which proves the server saw it.
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(serverCfg)),
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			p, _ := peer.FromContext(ctx)
			ti, ok := p.AuthInfo.(credentials.TLSInfo)
			if !ok || len(ti.State.PeerCertificates) == 0 {
				return nil, status.Error(codes.Internal, "no TLS peer")
			}
			if cn := ti.State.PeerCertificates[0].Subject.CommonName; cn != "cli.gamesa" {
				return nil, status.Errorf(codes.Internal, "peer %q", cn)
			}
			return h(ctx, req)
		}))
	healthpb.RegisterHealthServer(gs, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Serve returns (with an error of no interest) when Stop runs at cleanup.
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)

	call := func(cfg credentials.TransportCredentials) error {
		t.Helper()
		conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(cfg))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check = %v; want SERVING", resp.GetStatus())
		}
		return err
	}

	good := mustClient(t, ca.issue(t, CertOptions{Kind: CLI}), "server.gamesa")
	if err := call(credentials.NewTLS(good)); err != nil {
		t.Fatalf("Check over mTLS: %v", err)
	}

	foreign := mustClient(t, other.issue(t, CertOptions{Kind: CLI}), "server.gamesa")
	foreign.RootCAs = good.RootCAs // trusts our server, presents the other CA's certificate
	if err := call(credentials.NewTLS(foreign)); status.Code(err) != codes.Unavailable {
		t.Errorf("Check with another CA's client certificate = %v; want Unavailable", err)
	}
}
