package auth_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/krystalstack/gamesa/node/auth"
)

// A server that lets read tokens check health and list services, and a
// client on loopback presenting its token.
func Example() {
	dir, err := os.MkdirTemp("", "auth")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// The operator's tokens file, private to its owner.
	readToken, err := auth.GenerateToken()
	if err != nil {
		log.Fatal(err)
	}
	path := filepath.Join(dir, "tokens")
	if err := os.WriteFile(path, []byte("read "+readToken+" dashboard\n"), 0o600); err != nil {
		log.Fatal(err)
	}
	tokens, err := auth.LoadTokens(path)
	if err != nil {
		log.Fatal(err)
	}

	// The server: health's List is read-only; anything unlisted needs admin.
	policy := auth.Policy{healthpb.Health_List_FullMethodName: auth.ScopeRead}
	a, err := auth.NewAuthorizer(tokens, policy, nil)
	if err != nil {
		log.Fatal(err)
	}
	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(a.UnaryInterceptor()), grpc.ChainStreamInterceptor(a.StreamInterceptor()))
	healthpb.RegisterHealthServer(gs, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = gs.Serve(ln) }() // returns at Stop
	defer gs.Stop()

	// The client: plaintext is acceptable on loopback only.
	creds, err := auth.LoopbackBearer(readToken, ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(creds))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	_, err = healthpb.NewHealthClient(conn).List(context.Background(), &healthpb.HealthListRequest{})
	fmt.Println("List with a read token:", status.Code(err))

	anon, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer anon.Close()
	_, err = healthpb.NewHealthClient(anon).List(context.Background(), &healthpb.HealthListRequest{})
	fmt.Println("List without a token:", status.Code(err))
	_, err = healthpb.NewHealthClient(anon).Check(context.Background(), &healthpb.HealthCheckRequest{})
	fmt.Println("Check without a token:", status.Code(err))
	// Output:
	// List with a read token: OK
	// List without a token: Unauthenticated
	// Check without a token: OK
}
