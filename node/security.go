package node

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/reflection/grpc_reflection_v1alpha"

	"github.com/krystalstack/gamesa/node/auth"
	"github.com/krystalstack/gamesa/node/pki"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// tlsConfigs are the node's TLS settings, all from one certificate: nil
// when the node runs without TLS (loopback, or --insecure).
type tlsConfigs struct {
	// server accepts any certificate from the cluster CA: agents and CLIs.
	server *tls.Config
	// peer accepts only servers (server.<domain>): the Raft transport.
	peer *tls.Config
	// client dials servers: Raft peers and forwarded requests.
	client *tls.Config
}

func (n *Node) tlsConfigs() (tlsConfigs, error) {
	t := n.cfg.TLS
	if !t.Enabled() {
		if n.cfg.Insecure {
			n.log.Warn("running without TLS (--insecure): gRPC and Raft traffic is plaintext and unauthenticated")
		}
		return tlsConfigs{}, nil
	}
	files := pki.Files{CA: t.CAFile, Cert: t.CertFile, Key: t.KeyFile}
	opt := pki.WithLogger(n.log)
	var c tlsConfigs
	var err error
	if c.server, err = pki.ServerConfig(files, opt); err != nil {
		return c, fmt.Errorf("tls: %w", err)
	}
	serverName := pki.Server.Name(t.Domain)
	if c.client, err = pki.ClientConfig(files, serverName, opt); err != nil {
		return c, fmt.Errorf("tls: %w", err)
	}
	if n.cfg.Cluster.Role == "server" {
		if c.peer, err = pki.PeerConfig(files, serverName, opt); err != nil {
			return c, fmt.Errorf("tls: %w (a server needs a server certificate: gamesa tls cert create --server)", err)
		}
	}
	return c, nil
}

// readPolicy lists the methods a read token may call; everything else
// needs admin (auth.Policy's safe default), so a new mutating method is
// closed to read tokens until someone decides otherwise.
func readPolicy() auth.Policy {
	p := auth.Policy{}
	for _, m := range []string{
		gamesav1.NodeService_GetInfo_FullMethodName,
		gamesav1.NodeService_GetTelemetry_FullMethodName,
		gamesav1.NodeService_WatchTelemetry_FullMethodName,
		gamesav1.NodeService_ListHistory_FullMethodName,
		gamesav1.ClusterService_GetClusterState_FullMethodName,
		gamesav1.ClusterService_WatchClusterState_FullMethodName,
		grpc_reflection_v1.ServerReflection_ServerReflectionInfo_FullMethodName,
		grpc_reflection_v1alpha.ServerReflection_ServerReflectionInfo_FullMethodName,
		healthpb.Health_List_FullMethodName,
		gamesav1.ActuatorService_ListKnobs_FullMethodName,
		gamesav1.ActuatorService_GetPlan_FullMethodName,
		gamesav1.ActuatorService_GetPowerMode_FullMethodName,
		gamesav1.AppService_ListApps_FullMethodName,
		gamesav1.PolicyService_ExplainDecision_FullMethodName,
	} {
		p[m] = auth.ScopeRead
	}
	// Everything that changes something, listed so the choice is visible
	// (TestEveryMethodHasAScope insists every method is listed).
	for _, m := range append(mutatingClusterMethods,
		gamesav1.ActuatorService_Revert_FullMethodName,
		gamesav1.ActuatorService_SetPowerMode_FullMethodName,
		gamesav1.AppService_RegisterApp_FullMethodName,
		gamesav1.AppService_UnregisterApp_FullMethodName,
		gamesav1.AllocationService_SetPowerBudget_FullMethodName,
		gamesav1.AllocationService_SubmitJob_FullMethodName,
		gamesav1.AllocationService_StopJob_FullMethodName,
		gamesav1.AllocationService_RegisterNode_FullMethodName,
		gamesav1.AllocationService_ReportJobState_FullMethodName,
	) {
		p[m] = auth.ScopeAdmin
	}
	for _, m := range readAllocMethods {
		p[m] = auth.ScopeRead
	}
	for _, m := range readFedMethods {
		p[m] = auth.ScopeRead
	}
	for _, m := range adminFedMethods {
		p[m] = auth.ScopeAdmin
	}
	return p
}

// newAuthorizer loads the tokens file; without one, every call is allowed
// (a --dev node on loopback).
func (n *Node) newAuthorizer() (*auth.Authorizer, error) {
	var tokens *auth.Tokens
	if f := n.cfg.Auth.TokensFile; f != "" {
		var err error
		if tokens, err = auth.LoadTokens(f); err != nil {
			return nil, fmt.Errorf("auth.tokens_file: %w", err)
		}
	}
	a, err := auth.NewAuthorizer(tokens, readPolicy(), n.log)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return a, nil
}

// advertised is the address peers dial for a listener bound at bound: the
// advertise IP when one is configured, the bound address otherwise.
func advertised(bound net.Addr, advertiseIP string) string {
	tcp, ok := bound.(*net.TCPAddr)
	if !ok || advertiseIP == "" {
		return bound.String()
	}
	if ip, err := netip.ParseAddr(advertiseIP); err == nil {
		return net.JoinHostPort(ip.String(), strconv.Itoa(tcp.Port))
	}
	return bound.String()
}
