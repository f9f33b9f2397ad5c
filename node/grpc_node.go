package node

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry/history"
)

// History query bounds. A range longer than maxHistorySpan is certainly a
// mistake (the recorder keeps days, not years).
const (
	defaultHistoryLimit = 1000
	maxHistoryLimit     = 10000
	maxHistorySpan      = 366 * 24 * time.Hour
)

// nodeService implements gamesa.v1.NodeService.
type nodeService struct {
	gamesav1.UnimplementedNodeServiceServer
	n *Node
}

var _ gamesav1.NodeServiceServer = (*nodeService)(nil)

// Register adds the service to gs.
func (s *nodeService) Register(gs *grpc.Server) { gamesav1.RegisterNodeServiceServer(gs, s) }

// GetInfo describes the node.
func (s *nodeService) GetInfo(context.Context, *gamesav1.GetInfoRequest) (*gamesav1.GetInfoResponse, error) {
	return &gamesav1.GetInfoResponse{Info: s.n.info}, nil
}

// GetTelemetry returns the latest sample.
func (s *nodeService) GetTelemetry(context.Context, *gamesav1.GetTelemetryRequest) (*gamesav1.GetTelemetryResponse, error) {
	latest := s.n.latest.Load()
	if latest == nil {
		return nil, status.Error(codes.Unavailable, "no sample taken yet")
	}
	return &gamesav1.GetTelemetryResponse{Sample: latest}, nil
}

// WatchTelemetry streams samples at the requested interval. While a watcher
// asks for an interval shorter than the node's tick, the loop samples that
// fast, so a 10 Hz watcher sees 10 distinct samples a second.
func (s *nodeService) WatchTelemetry(req *gamesav1.WatchTelemetryRequest, stream grpc.ServerStreamingServer[gamesav1.WatchTelemetryResponse]) error {
	interval := s.n.cfg.Tick
	if req.Interval != nil {
		if err := req.Interval.CheckValid(); err != nil {
			return invalidArg("interval", "%v", err)
		}
		interval = req.Interval.AsDuration()
		if interval < MinInterval || interval > MaxInterval {
			return invalidArg("interval", "must be between %v and %v; got %v", MinInterval, MaxInterval, interval)
		}
	}
	w := s.n.hub.subscribe(interval)
	defer s.n.hub.unsubscribe(w)
	ctx := stream.Context()
	cutOff := status.Errorf(codes.ResourceExhausted,
		"client too slow: fell %d samples behind at interval %v; read faster or ask for a longer interval", watchBuffer, interval)
	for {
		// A cut-off wins over buffered samples: the client is told at once.
		select {
		case <-w.done:
			return cutOff
		default:
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-w.done:
			return cutOff
		case sample := <-w.ch:
			if err := stream.Send(&gamesav1.WatchTelemetryResponse{Sample: sample}); err != nil {
				return err
			}
		}
	}
}

// ListHistory returns recorded samples in [start, end], oldest first.
func (s *nodeService) ListHistory(_ context.Context, req *gamesav1.ListHistoryRequest) (*gamesav1.ListHistoryResponse, error) {
	now := time.Now()
	start, end := time.Unix(0, 0), now
	if req.Start != nil {
		if err := req.Start.CheckValid(); err != nil {
			return nil, invalidArg("start", "%v", err)
		}
		start = req.Start.AsTime()
	}
	if req.End != nil {
		if err := req.End.CheckValid(); err != nil {
			return nil, invalidArg("end", "%v", err)
		}
		end = req.End.AsTime()
	}
	switch {
	case end.Before(start):
		return nil, invalidArg("end", "%s is before start %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
	case req.Start != nil && end.Sub(start) > maxHistorySpan:
		return nil, invalidArg("start", "range of %v is longer than the %v the API serves", end.Sub(start).Round(time.Hour), maxHistorySpan)
	case req.Limit > maxHistoryLimit:
		return nil, invalidArg("limit", "must be at most %d; got %d", maxHistoryLimit, req.Limit)
	}
	limit := int(req.Limit)
	if limit == 0 {
		limit = defaultHistoryLimit
	}
	samples, truncated, err := history.Query(s.n.ring, s.n.rec, start, end, limit)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "reading history: %v", err)
	}
	return &gamesav1.ListHistoryResponse{Samples: samples, Truncated: truncated}, nil
}
