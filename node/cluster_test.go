package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/krystalstack/gamesa/node/auth"
	"github.com/krystalstack/gamesa/node/pki"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// secureCluster is a cluster CA with one certificate for every server
// (servers are also clients of each other) and tokens of both scopes.
type secureCluster struct {
	dir                  string
	server, cli          pki.Files
	tokensFile           string
	adminToken, readOnly string
}

func newSecureCluster(t *testing.T) *secureCluster {
	t.Helper()
	dir := t.TempDir()
	caPEM, caKey, err := pki.CreateCA(pki.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sc := &secureCluster{dir: dir}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, k := range []struct {
		kind pki.Kind
		dst  *pki.Files
	}{{pki.Server, &sc.server}, {pki.CLI, &sc.cli}} {
		cert, key, err := pki.CreateCert(caPEM, caKey, pki.CertOptions{Kind: k.kind})
		if err != nil {
			t.Fatal(err)
		}
		*k.dst = pki.Files{CA: caFile, Cert: filepath.Join(dir, k.kind.String()+".pem"), Key: filepath.Join(dir, k.kind.String()+"-key.pem")}
		if err := pki.WritePair(k.dst.Cert, k.dst.Key, cert, key); err != nil {
			t.Fatal(err)
		}
	}
	if sc.adminToken, err = auth.GenerateToken(); err != nil {
		t.Fatal(err)
	}
	if sc.readOnly, err = auth.GenerateToken(); err != nil {
		t.Fatal(err)
	}
	sc.tokensFile = filepath.Join(dir, "tokens")
	body := fmt.Sprintf("admin %s ops\nread %s dashboard\n", sc.adminToken, sc.readOnly)
	if err := os.WriteFile(sc.tokensFile, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return sc
}

// apply puts the cluster's TLS and tokens into a node's config.
func (sc *secureCluster) apply(c *Config) {
	c.TLS = TLSConfig{CAFile: sc.server.CA, CertFile: sc.server.Cert, KeyFile: sc.server.Key, Domain: pki.DefaultDomain}
	c.Auth.TokensFile = sc.tokensFile
}

// dial connects to a node the way the CLI does: its own certificate and a
// token.
func (sc *secureCluster) dial(t *testing.T, addr, token string) gamesav1.ClusterServiceClient {
	t.Helper()
	tc, err := pki.ClientConfig(sc.cli, pki.Server.Name(pki.DefaultDomain))
	if err != nil {
		t.Fatal(err)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(tc))}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(auth.Bearer(token)))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return gamesav1.NewClusterServiceClient(conn)
}

// startMember starts one node of a test cluster: role server or client;
// join is the gossip address of a member already running ("" for the first).
func startMember(t *testing.T, id, role string, expect int, join string, sc *secureCluster) *testNode {
	t.Helper()
	return startNode(t, func(c *Config) {
		c.NodeID = id
		c.Dev = false
		c.Cluster.Role = role
		c.Cluster.BootstrapExpect = expect
		if join != "" {
			c.Cluster.Join = []string{join}
		}
		c.Cluster.PromoteAfter = 0
		c.Cluster.ReconcileInterval = 200 * time.Millisecond
		if sc != nil {
			sc.apply(c)
		}
	})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v; last: %s", what, timeout, last)
}

// TestSecureClusterForwardsAndSurvivesLeaderLoss is the cluster issue's
// main path with TLS and tokens on: three servers bootstrap from gossip, a
// client joins, a write sent to the client is forwarded to the leader and
// applied once, a read token cannot write, and after the leader stops a new
// one is elected with every acknowledged write still there.
func TestSecureClusterForwardsAndSurvivesLeaderLoss(t *testing.T) {
	sc := newSecureCluster(t)
	s1 := startMember(t, "s1", "server", 3, "", sc)
	join := s1.cluster.mesh.LocalAddr()
	nodes := map[string]*testNode{
		"s1": s1,
		"s2": startMember(t, "s2", "server", 3, join, sc),
		"s3": startMember(t, "s3", "server", 3, join, sc),
		"c1": startMember(t, "c1", "client", 0, join, sc),
	}
	admin := func(id string) gamesav1.ClusterServiceClient {
		return sc.dial(t, nodes[id].GRPCAddr().String(), sc.adminToken)
	}
	ctx := func() context.Context {
		c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		t.Cleanup(cancel)
		return c
	}

	// A consistent read through the client sees a leader, three voters
	// and four members with digests.
	client := admin("c1")
	var state *gamesav1.GetClusterStateResponse
	waitFor(t, "cluster formed", 30*time.Second, func() (bool, string) {
		var err error
		state, err = client.GetClusterState(ctx(), &gamesav1.GetClusterStateRequest{})
		if err != nil {
			return false, err.Error()
		}
		voters := 0
		for _, s := range state.GetRaftServers() {
			if s.GetVoter() {
				voters++
			}
		}
		withDigest := 0
		for _, m := range state.GetMembers() {
			if m.GetDigest().GetSeq() > 0 && m.GetState() == gamesav1.MemberState_MEMBER_STATE_ALIVE {
				withDigest++
			}
		}
		return state.GetConsistent() && state.GetLeaderId() != "" && voters == 3 && withDigest == 4,
			fmt.Sprintf("leader %q voters %d members with digests %d consistent %v", state.GetLeaderId(), voters, withDigest, state.GetConsistent())
	})
	if state.GetSelfId() != "c1" || state.GetServedBy() != state.GetLeaderId() {
		t.Errorf("read through c1: self %q served by %q; want c1 and the leader %q", state.GetSelfId(), state.GetServedBy(), state.GetLeaderId())
	}

	// A write to the client is forwarded; its retry with the same request
	// id is recognised, not applied again.
	req := &gamesav1.SetSettingRequest{Key: "power/budget_watts", Value: "3500", RequestId: "write-1"}
	first, err := client.SetSetting(ctx(), req)
	if err != nil {
		t.Fatalf("SetSetting through the client: %v", err)
	}
	again, err := client.SetSetting(ctx(), req)
	if err != nil {
		t.Fatalf("SetSetting retry: %v", err)
	}
	if !again.GetDuplicate() || again.GetIndex() != first.GetIndex() || first.GetDuplicate() {
		t.Errorf("retry = %v; first = %v; want the first's index, marked duplicate", again, first)
	}
	// Compare-and-set: a stale version is refused.
	_, err = client.SetSetting(ctx(), &gamesav1.SetSettingRequest{Key: "power/budget_watts", Value: "1", ExpectedVersion: first.GetSetting().GetVersion() + 100})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("SetSetting with a wrong expected_version = %v; want FailedPrecondition", err)
	}

	// Scopes: a read token reads, but may not write; no token at all is
	// unauthenticated.
	reader := sc.dial(t, nodes["s2"].GRPCAddr().String(), sc.readOnly)
	if _, err := reader.GetClusterState(ctx(), &gamesav1.GetClusterStateRequest{Stale: true}); err != nil {
		t.Errorf("GetClusterState with a read token: %v", err)
	}
	if _, err := reader.SetSetting(ctx(), &gamesav1.SetSettingRequest{Key: "x", Value: "y"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("SetSetting with a read token = %v; want PermissionDenied", err)
	}
	anon := sc.dial(t, nodes["s2"].GRPCAddr().String(), "")
	if _, err := anon.GetClusterState(ctx(), &gamesav1.GetClusterStateRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("GetClusterState without a token = %v; want Unauthenticated", err)
	}
	// Plaintext is refused by a TLS node.
	plain := gamesav1.NewClusterServiceClient(nodes["s2"].conn)
	if _, err := plain.GetClusterState(ctx(), &gamesav1.GetClusterStateRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("GetClusterState over plaintext to a TLS node = %v; want Unavailable", err)
	}

	// Stop the leader: a new leader is elected among the others, and the
	// write acknowledged before is still there.
	oldLeader := state.GetLeaderId()
	nodes[oldLeader].stop(t)
	delete(nodes, oldLeader)
	var survivor string
	for id := range nodes {
		if id != "c1" {
			survivor = id
			break
		}
	}
	waitFor(t, "new leader", 20*time.Second, func() (bool, string) {
		st, err := admin(survivor).GetClusterState(ctx(), &gamesav1.GetClusterStateRequest{})
		if err != nil {
			return false, err.Error()
		}
		state = st
		return st.GetLeaderId() != "" && st.GetLeaderId() != oldLeader, "leader " + st.GetLeaderId()
	})
	got := settingValue(state, "power/budget_watts")
	if got != "3500" {
		t.Errorf("after leader loss, power/budget_watts = %q; want 3500", got)
	}
	// The client keeps writing through the new leader.
	if _, err := client.SetSetting(ctx(), &gamesav1.SetSettingRequest{Key: "after", Value: "failover"}); err != nil {
		t.Errorf("write after failover through the client: %v", err)
	}
	// The old leader left gracefully: the others see it as left.
	waitFor(t, "old leader seen as left", 10*time.Second, func() (bool, string) {
		st, err := admin(survivor).GetClusterState(ctx(), &gamesav1.GetClusterStateRequest{Stale: true})
		if err != nil {
			return false, err.Error()
		}
		for _, m := range st.GetMembers() {
			if m.GetInfo().GetNodeId() == oldLeader {
				return m.GetState() == gamesav1.MemberState_MEMBER_STATE_LEFT, m.GetState().String()
			}
		}
		return false, "not listed"
	})
}

func settingValue(st *gamesav1.GetClusterStateResponse, key string) string {
	i := slices.IndexFunc(st.GetSettings(), func(s *gamesav1.Setting) bool { return s.GetKey() == key })
	if i < 0 {
		return ""
	}
	return st.GetSettings()[i].GetValue()
}

// TestDevNodeLeadsAlone: a --dev node is a one-server cluster that elects
// itself, so writes work with no other node.
func TestDevNodeLeadsAlone(t *testing.T) {
	tn := startNode(t, nil)
	cl := gamesav1.NewClusterServiceClient(tn.conn)
	waitFor(t, "self-elected", 10*time.Second, func() (bool, string) {
		st, err := cl.GetClusterState(ctxT(t), &gamesav1.GetClusterStateRequest{})
		if err != nil {
			return false, err.Error()
		}
		return st.GetLeaderId() == "test-node" && st.GetConsistent(), st.String()
	})
	res, err := cl.SetSetting(ctxT(t), &gamesav1.SetSettingRequest{Key: "k", Value: "v"})
	if err != nil || res.GetSetting().GetValue() != "v" {
		t.Fatalf("SetSetting = %v, %v; want k=v", res, err)
	}
	if _, err := cl.SetSetting(ctxT(t), &gamesav1.SetSettingRequest{Key: "Bad Key!", Value: "v"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("SetSetting(bad key) = %v; want InvalidArgument", err)
	}
}
