package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// maxRequestBytes bounds a request message: every request of this API is a
// few bytes, so anything large is a mistake or an attack.
const maxRequestBytes = 64 << 10

// newGRPCServer builds the gRPC server with the node's services, the
// standard health service and server reflection (so grpcurl works without
// .proto files).
func (n *Node) newGRPCServer(tlsc *tls.Config) *grpc.Server {
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxRequestBytes),
		// Who may call comes before what the call says.
		grpc.ChainUnaryInterceptor(n.authz.UnaryInterceptor(), rejectUnknownFieldsUnary),
		grpc.ChainStreamInterceptor(n.authz.StreamInterceptor(), rejectUnknownFieldsStream),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             10 * time.Second,
			PermitWithoutStream: true,
		}),
	}
	if tlsc != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsc)))
	}
	gs := grpc.NewServer(opts...)
	(&nodeService{n: n}).Register(gs)
	(&clusterService{n: n}).Register(gs)
	(&allocService{n: n}).Register(gs)
	(&actuatorService{n: n}).Register(gs)
	(&appService{n: n}).Register(gs)
	(&policyService{n: n}).Register(gs)
	(&fedService{n: n}).Register(gs)
	n.health = newHealthServer()
	healthpb.RegisterHealthServer(gs, n.health)
	reflection.Register(gs)
	return gs
}

// rejectUnknownFieldsUnary refuses requests carrying fields this server does
// not know: a client built against a newer API would otherwise have its
// intent silently ignored.
func rejectUnknownFieldsUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if m, ok := req.(proto.Message); ok {
		if err := checkUnknown(m.ProtoReflect()); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

func rejectUnknownFieldsStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &checkedStream{ServerStream: ss})
}

type checkedStream struct{ grpc.ServerStream }

func (s *checkedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if pm, ok := m.(proto.Message); ok {
		return checkUnknown(pm.ProtoReflect())
	}
	return nil
}

// checkUnknown walks m and its set message fields for unknown fields.
func checkUnknown(m protoreflect.Message) error {
	if raw := m.GetUnknown(); len(raw) > 0 {
		return status.Errorf(codes.InvalidArgument, "unknown field in %s (field number %s): this server does not support it",
			m.Descriptor().FullName(), unknownFieldNumbers(raw))
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil || fd.IsMap() {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				err = checkUnknown(l.Get(i).Message())
			}
		} else {
			err = checkUnknown(v.Message())
		}
		return err == nil
	})
	return err
}

// unknownFieldNumbers lists the field numbers in raw unknown bytes.
func unknownFieldNumbers(raw protoreflect.RawFields) string {
	out := ""
	for len(raw) > 0 {
		num, _, n := protowire.ConsumeField(raw)
		if n < 0 {
			break
		}
		if out != "" {
			out += ", "
		}
		out += fmt.Sprint(num)
		raw = raw[n:]
	}
	return out
}

// invalidArg is an InvalidArgument status that names the offending field.
func invalidArg(field, format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "%s: %s", field, fmt.Sprintf(format, args...))
}
