package node

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/krystalstack/gamesa/optimizer/coord"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// appService implements gamesa.v1.AppService: the registrations that tell
// the app coordinator which app the user cares about.
type appService struct {
	gamesav1.UnimplementedAppServiceServer
	n *Node
}

var _ gamesav1.AppServiceServer = (*appService)(nil)

// Register adds the service to gs.
func (s *appService) Register(gs *grpc.Server) { gamesav1.RegisterAppServiceServer(gs, s) }

// RegisterApp claims the foreground for a live process.
func (s *appService) RegisterApp(_ context.Context, req *gamesav1.RegisterAppRequest) (*gamesav1.RegisterAppResponse, error) {
	reg, err := s.n.apps.register(req.GetPid(), req.GetClass(), req.GetPriority(), time.Now())
	switch {
	case errors.Is(err, errNoProcess):
		return nil, status.Error(codes.NotFound, err.Error())
	case errors.Is(err, coord.ErrRegistration):
		return nil, status.Error(codes.InvalidArgument, err.Error())
	case err != nil:
		return nil, status.Error(codes.Internal, err.Error())
	}
	s.n.log.Info("app registered", "pid", reg.Pid, "class", reg.Class, "priority", reg.Priority, "name", reg.Name)
	return &gamesav1.RegisterAppResponse{Registration: reg}, nil
}

// UnregisterApp withdraws a registration.
func (s *appService) UnregisterApp(_ context.Context, req *gamesav1.UnregisterAppRequest) (*gamesav1.UnregisterAppResponse, error) {
	removed := s.n.apps.unregister(req.GetPid())
	if removed {
		s.n.log.Info("app unregistered", "pid", req.GetPid())
	}
	return &gamesav1.UnregisterAppResponse{Removed: removed}, nil
}

// ListApps lists the registrations in force, foremost first.
func (s *appService) ListApps(context.Context, *gamesav1.ListAppsRequest) (*gamesav1.ListAppsResponse, error) {
	return &gamesav1.ListAppsResponse{Registrations: s.n.apps.list()}, nil
}
