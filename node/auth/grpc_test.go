package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/krystalstack/gamesa/node/pki"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// testPolicy: GetInfo and WatchTelemetry are read, ListHistory is listed as
// admin, GetTelemetry is not listed at all (so admin by default).
var testPolicy = Policy{
	gamesav1.NodeService_GetInfo_FullMethodName:        ScopeRead,
	gamesav1.NodeService_WatchTelemetry_FullMethodName: ScopeRead,
	gamesav1.NodeService_ListHistory_FullMethodName:    ScopeAdmin,
}

// nodeService answers with the caller's token name, so a test sees who the
// server thought it was, and counts the calls that got through.
type nodeService struct {
	gamesav1.UnimplementedNodeServiceServer
	calls atomic.Int64
}

func (s *nodeService) caller(ctx context.Context) *gamesav1.NodeInfo {
	s.calls.Add(1)
	id, _ := IdentityFromContext(ctx)
	return &gamesav1.NodeInfo{NodeId: id.Name}
}

func (s *nodeService) GetInfo(ctx context.Context, _ *gamesav1.GetInfoRequest) (*gamesav1.GetInfoResponse, error) {
	return &gamesav1.GetInfoResponse{Info: s.caller(ctx)}, nil
}

func (s *nodeService) GetTelemetry(ctx context.Context, _ *gamesav1.GetTelemetryRequest) (*gamesav1.GetTelemetryResponse, error) {
	s.caller(ctx)
	return &gamesav1.GetTelemetryResponse{}, nil
}

func (s *nodeService) ListHistory(ctx context.Context, _ *gamesav1.ListHistoryRequest) (*gamesav1.ListHistoryResponse, error) {
	s.caller(ctx)
	return &gamesav1.ListHistoryResponse{}, nil
}

func (s *nodeService) WatchTelemetry(_ *gamesav1.WatchTelemetryRequest, stream grpc.ServerStreamingServer[gamesav1.WatchTelemetryResponse]) error {
	info := s.caller(stream.Context())
	return stream.Send(&gamesav1.WatchTelemetryResponse{Sample: &gamesav1.Sample{NodeId: info.GetNodeId()}})
}

// syncBuffer is a log destination shared by the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testServer struct {
	addr string
	svc  *nodeService
	logs *syncBuffer
	gs   *grpc.Server
	auth *Authorizer
}

// startServer serves the node service and health on 127.0.0.1 behind an
// Authorizer for tokens (nil: auth off).
func startServer(t *testing.T, tokens *Tokens, opts ...grpc.ServerOption) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	a, err := NewAuthorizer(tokens, testPolicy, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	opts = append(opts, grpc.ChainUnaryInterceptor(a.UnaryInterceptor()), grpc.ChainStreamInterceptor(a.StreamInterceptor()))
	gs := grpc.NewServer(opts...)
	svc := &nodeService{}
	gamesav1.RegisterNodeServiceServer(gs, svc)
	healthpb.RegisterHealthServer(gs, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Serve returns when Stop runs at cleanup; its error then is of no interest.
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	return &testServer{addr: ln.Addr().String(), svc: svc, logs: logs, gs: gs, auth: a}
}

func dial(t *testing.T, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func testTokens(t *testing.T) *Tokens {
	t.Helper()
	toks, err := ParseTokens([]byte("admin " + adminTok + " alice\nread " + readTok + " dashboard\n"))
	if err != nil {
		t.Fatal(err)
	}
	return toks
}

func callCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// call makes the named call with the given authorization entries (each one
// sent as is) and returns the status code and the caller name the server
// saw.
func call(t *testing.T, conn *grpc.ClientConn, method string, auth ...string) (codes.Code, string) {
	t.Helper()
	ctx := callCtx(t)
	for _, a := range auth {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", a)
	}
	api := gamesav1.NewNodeServiceClient(conn)
	var (
		name string
		err  error
	)
	switch method {
	case "GetInfo":
		var r *gamesav1.GetInfoResponse
		r, err = api.GetInfo(ctx, &gamesav1.GetInfoRequest{})
		name = r.GetInfo().GetNodeId()
	case "GetTelemetry":
		_, err = api.GetTelemetry(ctx, &gamesav1.GetTelemetryRequest{})
	case "ListHistory":
		_, err = api.ListHistory(ctx, &gamesav1.ListHistoryRequest{})
	case "WatchTelemetry":
		var s grpc.ServerStreamingClient[gamesav1.WatchTelemetryResponse]
		if s, err = api.WatchTelemetry(ctx, &gamesav1.WatchTelemetryRequest{}); err == nil {
			var r *gamesav1.WatchTelemetryResponse
			r, err = s.Recv()
			name = r.GetSample().GetNodeId()
		}
	case "Check":
		var r *healthpb.HealthCheckResponse
		r, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check = %v; want SERVING", r.GetStatus())
		}
	case "List":
		_, err = healthpb.NewHealthClient(conn).List(ctx, &healthpb.HealthListRequest{})
	default:
		t.Fatalf("no method %s", method)
	}
	return status.Code(err), name
}

func TestInterceptors(t *testing.T) {
	srv := startServer(t, testTokens(t))
	conn := dial(t, srv.addr)
	admin, read := "Bearer "+adminTok, "Bearer "+readTok
	for _, tc := range []struct {
		name     string
		method   string
		auth     []string
		want     codes.Code
		wantName string
	}{
		{"no token", "GetInfo", nil, codes.Unauthenticated, ""},
		{"read token, read method", "GetInfo", []string{read}, codes.OK, "dashboard"},
		{"admin token, read method", "GetInfo", []string{admin}, codes.OK, "alice"},
		{"read token, listed admin method", "ListHistory", []string{read}, codes.PermissionDenied, ""},
		{"read token, unlisted method", "GetTelemetry", []string{read}, codes.PermissionDenied, ""},
		{"admin token, listed admin method", "ListHistory", []string{admin}, codes.OK, ""},
		{"admin token, unlisted method", "GetTelemetry", []string{admin}, codes.OK, ""},
		{"unknown token", "GetInfo", []string{"Bearer " + otherTok}, codes.Unauthenticated, ""},
		{"lowercase scheme", "GetInfo", []string{"bearer " + readTok}, codes.OK, "dashboard"},
		{"malformed: basic", "GetInfo", []string{"Basic " + readTok}, codes.Unauthenticated, ""},
		{"malformed: bare token", "GetInfo", []string{readTok}, codes.Unauthenticated, ""},
		{"malformed: scheme only", "GetInfo", []string{"Bearer"}, codes.Unauthenticated, ""},
		{"malformed: two words", "GetInfo", []string{"Bearer " + readTok + " " + adminTok}, codes.Unauthenticated, ""},
		{"two authorization entries", "GetInfo", []string{read, admin}, codes.Unauthenticated, ""},
		{"stream, no token", "WatchTelemetry", nil, codes.Unauthenticated, ""},
		{"stream, read token", "WatchTelemetry", []string{read}, codes.OK, "dashboard"},
		{"health check, no token", "Check", nil, codes.OK, ""},
		{"health check, unknown token", "Check", []string{"Bearer " + otherTok}, codes.OK, ""},
		{"health list, no token", "List", nil, codes.Unauthenticated, ""},
	} {
		before := srv.svc.calls.Load()
		code, name := call(t, conn, tc.method, tc.auth...)
		if code != tc.want || name != tc.wantName {
			t.Errorf("%s: %s = %v, caller %q; want %v, %q", tc.name, tc.method, code, name, tc.want, tc.wantName)
		}
		// A refused call never reaches the handler.
		if reached := srv.svc.calls.Load() > before; reached != (code == codes.OK && tc.method != "Check" && tc.method != "List") {
			t.Errorf("%s: handler reached = %v with code %v", tc.name, reached, code)
		}
	}
	logs := srv.logs.String()
	for _, secret := range []string{adminTok, readTok, otherTok} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds a token:\n%s", logs)
		}
	}
	if !strings.Contains(logs, "token=dashboard") || !strings.Contains(logs, "auth: denied") {
		t.Errorf("the log should name the token of a denied call:\n%s", logs)
	}
}

// TestAuthOff: without tokens every call goes through.
func TestAuthOff(t *testing.T) {
	srv := startServer(t, nil)
	conn := dial(t, srv.addr)
	for _, m := range []string{"GetInfo", "GetTelemetry", "ListHistory", "WatchTelemetry", "Check"} {
		if code, name := call(t, conn, m); code != codes.OK || name != "" {
			t.Errorf("auth off: %s = %v, caller %q; want OK, no caller", m, code, name)
		}
	}
}

func TestBearerCredentials(t *testing.T) {
	srv := startServer(t, testTokens(t))

	// LoopbackBearer works over plaintext to 127.0.0.1.
	creds, err := LoopbackBearer(readTok, srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	if code, name := call(t, dial(t, srv.addr, grpc.WithPerRPCCredentials(creds)), "GetInfo"); code != codes.OK || name != "dashboard" {
		t.Errorf("GetInfo with LoopbackBearer = %v, %q; want OK, dashboard", code, name)
	}

	// Bearer is never sent over plaintext: gRPC refuses the connection.
	if conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(Bearer(readTok))); err == nil {
		conn.Close()
		t.Error("grpc.NewClient with Bearer over plaintext succeeded; want a refusal")
	}

	c := Bearer(adminTok)
	if s := fmt.Sprintf("%v %+v %#v %s", c, c, c, c); strings.Contains(s, adminTok) {
		t.Errorf("printing the credentials shows the token: %s", s)
	}
}

func TestLoopbackBearerTargets(t *testing.T) {
	for _, tc := range []struct {
		target string
		ok     bool
	}{
		{"127.0.0.1:7070", true},
		{"127.8.9.10:7070", true},
		{"[::1]:7070", true},
		{"localhost:7070", true},
		{"dns:///localhost:7070", true},
		{"passthrough:///127.0.0.1:7070", true},
		{"unix:///run/gamesa.sock", true},
		{"10.0.0.5:7070", false},
		{":7070", false},
		{"0.0.0.0:7070", false},
		{"node1.lan:7070", false},
		{"localhost.evil.example:7070", false},
		{"dns://8.8.8.8/localhost:7070", false},
	} {
		_, err := LoopbackBearer(readTok, tc.target)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrNotLoopback)) {
			t.Errorf("LoopbackBearer(%q) = %v; want ok %v", tc.target, err, tc.ok)
		}
	}
}

func TestPolicy(t *testing.T) {
	srv := startServer(t, testTokens(t))
	got := testPolicy.Unlisted(srv.gs.GetServiceInfo())
	want := []string{gamesav1.NodeService_GetTelemetry_FullMethodName, healthpb.Health_List_FullMethodName}
	if !slices.Equal(got, want) {
		t.Errorf("Unlisted() = %q; want %q", got, want)
	}
	for _, p := range []Policy{
		{"GetInfo": ScopeRead},
		{"/gamesa.v1.NodeService": ScopeRead},
		{"/gamesa.v1.NodeService/": ScopeRead},
		{"//GetInfo": ScopeRead},
		{"/a/b/c": ScopeRead},
		{gamesav1.NodeService_GetInfo_FullMethodName: 0},
	} {
		if _, err := NewAuthorizer(nil, p, nil); !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("NewAuthorizer(policy %v) = %v; want ErrInvalidPolicy", p, err)
		}
	}
}

func TestSetTokens(t *testing.T) {
	srv := startServer(t, testTokens(t))
	conn := dial(t, srv.addr)
	if code, _ := call(t, conn, "GetInfo", "Bearer "+otherTok); code != codes.Unauthenticated {
		t.Fatalf("before SetTokens: %v; want Unauthenticated", code)
	}
	next, err := ParseTokens([]byte("read " + otherTok + " carol\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.auth.SetTokens(next); err != nil {
		t.Fatal(err)
	}
	if code, name := call(t, conn, "GetInfo", "Bearer "+otherTok); code != codes.OK || name != "carol" {
		t.Errorf("after SetTokens, the new token: %v, %q; want OK, carol", code, name)
	}
	if code, _ := call(t, conn, "GetInfo", "Bearer "+readTok); code != codes.Unauthenticated {
		t.Errorf("after SetTokens, an old token: %v; want Unauthenticated", code)
	}
	if err := srv.auth.SetTokens(nil); !errors.Is(err, ErrNoTokens) {
		t.Errorf("SetTokens(nil) = %v; want ErrNoTokens", err)
	}
	off, err := NewAuthorizer(nil, testPolicy, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := off.SetTokens(next); !errors.Is(err, ErrDisabled) || off.Enabled() {
		t.Errorf("SetTokens on a disabled Authorizer = %v (enabled %v); want ErrDisabled", err, off.Enabled())
	}
}

// TestBearerOverTLS: the way a cluster runs, mutual TLS from the cluster CA
// and a bearer token on top.
func TestBearerOverTLS(t *testing.T) {
	dir := t.TempDir()
	caPEM, caKey, err := pki.CreateCA(pki.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, pki.CAFile)
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	issue := func(kind pki.Kind) pki.Files {
		certPEM, keyPEM, err := pki.CreateCert(caPEM, caKey, pki.CertOptions{Kind: kind})
		if err != nil {
			t.Fatal(err)
		}
		f := pki.Files{CA: caFile, Cert: filepath.Join(dir, kind.String()+".pem"), Key: filepath.Join(dir, kind.String()+"-key.pem")}
		if err := pki.WritePair(f.Cert, f.Key, certPEM, keyPEM); err != nil {
			t.Fatal(err)
		}
		return f
	}
	serverTLS, err := pki.ServerConfig(issue(pki.Server))
	if err != nil {
		t.Fatal(err)
	}
	clientTLS, err := pki.ClientConfig(issue(pki.CLI), pki.Server.Name(pki.DefaultDomain))
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, testTokens(t), grpc.Creds(credentials.NewTLS(serverTLS)))
	tlsCreds := grpc.WithTransportCredentials(credentials.NewTLS(clientTLS))
	for i, tc := range []struct {
		token, method string
		want          codes.Code
	}{
		{adminTok, "ListHistory", codes.OK},
		{readTok, "GetInfo", codes.OK},
		{readTok, "ListHistory", codes.PermissionDenied},
		{otherTok, "GetInfo", codes.Unauthenticated},
	} {
		conn, err := grpc.NewClient(srv.addr, tlsCreds, grpc.WithPerRPCCredentials(Bearer(tc.token)))
		if err != nil {
			t.Fatal(err)
		}
		if code, _ := call(t, conn, tc.method); code != tc.want {
			t.Errorf("%s over mTLS with test token %d: %v; want %v", tc.method, i, code, tc.want)
		}
		conn.Close()
	}
}
