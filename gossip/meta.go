package gossip

import (
	"fmt"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Role says whether a node takes part in Raft. Its values mirror
// gamesav1.NodeRole, which carries it on the wire.
type Role int32

// The roles.
const (
	// RoleUnspecified is a node that has not said; consensus treats it as
	// a client.
	RoleUnspecified Role = Role(gamesav1.NodeRole_NODE_ROLE_UNSPECIFIED)
	// RoleServer is a Raft voter candidate.
	RoleServer Role = Role(gamesav1.NodeRole_NODE_ROLE_SERVER)
	// RoleClient is a node that gossips and serves gRPC but does not vote.
	RoleClient Role = Role(gamesav1.NodeRole_NODE_ROLE_CLIENT)
)

// String returns "server", "client" or "unspecified", the words NodeInfo.role
// uses.
func (r Role) String() string {
	switch r {
	case RoleServer:
		return "server"
	case RoleClient:
		return "client"
	case RoleUnspecified:
		return "unspecified"
	default:
		return fmt.Sprintf("role(%d)", int32(r))
	}
}

// ParseRole is the inverse of Role.String for "server" and "client".
func ParseRole(s string) (Role, error) {
	switch s {
	case "server":
		return RoleServer, nil
	case "client":
		return RoleClient, nil
	default:
		return RoleUnspecified, fmt.Errorf("gossip: role %q: want server or client", s)
	}
}

// Meta is what a node tells the mesh about itself. It changes rarely and
// must encode to at most MaxMetaBytes (UpdateMeta says when it does not).
type Meta struct {
	// ID is the node's id. New sets it to Config.NodeID; peers' metadata
	// carries theirs.
	ID string
	// Role says whether the node is a Raft server or a client.
	Role Role
	// GRPCAddr is host:port of the node's gRPC server.
	GRPCAddr string
	// RaftAddr is host:port of the node's Raft transport; empty on clients.
	RaftAddr string
	// Version is the agent's version.
	Version string
	// BootstrapExpect is how many servers the cluster waits for before its
	// first election; 0 when the node does not bootstrap.
	BootstrapExpect int
}

func (m Meta) proto(leaving bool) *gamesav1.NodeMeta {
	return &gamesav1.NodeMeta{
		Id:              m.ID,
		Role:            gamesav1.NodeRole(m.Role),
		GrpcAddr:        m.GRPCAddr,
		RaftAddr:        m.RaftAddr,
		Version:         m.Version,
		BootstrapExpect: uint32(m.BootstrapExpect), // encodeMeta checked the range
		Leaving:         leaving,
	}
}

func metaFromProto(pm *gamesav1.NodeMeta) Meta {
	return Meta{
		ID:              pm.GetId(),
		Role:            Role(pm.GetRole()),
		GRPCAddr:        pm.GetGrpcAddr(),
		RaftAddr:        pm.GetRaftAddr(),
		Version:         pm.GetVersion(),
		BootstrapExpect: int(pm.GetBootstrapExpect()),
	}
}
