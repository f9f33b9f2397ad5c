package node

import (
	"cmp"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/krystalstack/gamesa/consensus"
	"github.com/krystalstack/gamesa/gossip"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Log streaming.
const (
	// logChunk is the most output one JobLogs message carries.
	logChunk = 32 << 10
	// logPoll is how often a followed log is checked for more output.
	logPoll = 200 * time.Millisecond
	// unknownReplicaAge stands for "never heard from a leader": a share
	// from such a replica confirms nothing.
	unknownReplicaAge = time.Hour
)

// allocService implements gamesa.v1.AllocationService. Any node answers:
// writes go to the leader (cluster.write), reads are leader-verified
// unless stale, and a job's log comes from the node that ran it.
type allocService struct {
	gamesav1.UnimplementedAllocationServiceServer
	n *Node
}

var _ gamesav1.AllocationServiceServer = (*allocService)(nil)

// Register adds the service to gs.
func (s *allocService) Register(gs *grpc.Server) { gamesav1.RegisterAllocationServiceServer(gs, s) }

// readAllocMethods are the service's methods a read token may call; the
// others change the cluster and need admin.
var readAllocMethods = []string{
	gamesav1.AllocationService_GetAllocation_FullMethodName,
	gamesav1.AllocationService_ListJobs_FullMethodName,
	gamesav1.AllocationService_GetJob_FullMethodName,
	gamesav1.AllocationService_JobLogs_FullMethodName,
}

// allocClient returns an AllocationService client for addr over the
// forwarder's connection to it, dialling once.
func (f *forwarder) allocClient(addr string) (gamesav1.AllocationServiceClient, error) {
	c, err := f.conn(addr)
	if err != nil {
		return nil, err
	}
	return gamesav1.NewAllocationServiceClient(c), nil
}

// SetPowerBudget writes the cluster's power budget through the leader.
func (s *allocService) SetPowerBudget(ctx context.Context, req *gamesav1.SetPowerBudgetRequest) (*gamesav1.SetPowerBudgetResponse, error) {
	w := req.GetBudgetWatts()
	if math.IsNaN(w) || w < 0 || w > consensus.MaxWatts {
		return nil, invalidArg("budget_watts", "must be between 0 (no budget) and %g watts; got %v", float64(consensus.MaxWatts), w)
	}
	if req.GetRequestId() == "" {
		req.RequestId = newRequestID()
	}
	cmd := &gamesav1.Command{RequestId: req.GetRequestId(), Op: &gamesav1.Command_SetPowerBudget{SetPowerBudget: &gamesav1.SetPowerBudget{BudgetWatts: w}}}
	var fwd *gamesav1.SetPowerBudgetResponse
	res, err := writeAlloc(ctx, s.n.cluster, cmd, func(ctx context.Context, cl gamesav1.AllocationServiceClient) (err error) {
		fwd, err = cl.SetPowerBudget(ctx, req)
		return err
	})
	if err != nil || fwd != nil {
		return fwd, err
	}
	return &gamesav1.SetPowerBudgetResponse{Budget: res.GetPowerBudget(), Index: res.GetIndex(), Duplicate: res.GetDuplicate()}, nil
}

// SubmitJob admits a job through the leader. The state machine refuses a
// job no registered node could ever run, so a refusal leaves the state as
// it was whoever leads.
func (s *allocService) SubmitJob(ctx context.Context, req *gamesav1.SubmitJobRequest) (*gamesav1.SubmitJobResponse, error) {
	if req.GetSpec() == nil {
		return nil, invalidArg("spec", "required: the job's name, size and command")
	}
	spec := proto.Clone(req.GetSpec()).(*gamesav1.JobSpec)
	// Constraints in any order are fine here; the log holds them sorted.
	slices.SortStableFunc(spec.Constraints, func(a, b *gamesav1.Label) int { return cmp.Compare(a.GetKey(), b.GetKey()) })
	for i := 1; i < len(spec.GetConstraints()); i++ {
		if k := spec.Constraints[i].GetKey(); k == spec.Constraints[i-1].GetKey() {
			return nil, invalidArg("spec.constraints", "label %s is constrained twice", k)
		}
	}
	if err := consensus.ValidateJobSpec(spec); err != nil {
		return nil, invalidArg("spec", "%v", err)
	}
	req.Spec = spec
	if req.GetRequestId() == "" {
		req.RequestId = newRequestID()
	}
	cmd := &gamesav1.Command{RequestId: req.GetRequestId(), Op: &gamesav1.Command_SubmitJob{SubmitJob: &gamesav1.SubmitJob{Spec: spec}}}
	var fwd *gamesav1.SubmitJobResponse
	res, err := writeAlloc(ctx, s.n.cluster, cmd, func(ctx context.Context, cl gamesav1.AllocationServiceClient) (err error) {
		fwd, err = cl.SubmitJob(ctx, req)
		return err
	})
	if err != nil || fwd != nil {
		return fwd, err
	}
	return &gamesav1.SubmitJobResponse{Job: res.GetJob(), Index: res.GetIndex(), Duplicate: res.GetDuplicate()}, nil
}

// StopJob asks for a job to stop, through the leader.
func (s *allocService) StopJob(ctx context.Context, req *gamesav1.StopJobRequest) (*gamesav1.StopJobResponse, error) {
	if err := consensus.ValidateJobID(req.GetJobId()); err != nil {
		return nil, invalidArg("job_id", "%v", err)
	}
	if req.GetRequestId() == "" {
		req.RequestId = newRequestID()
	}
	cmd := &gamesav1.Command{RequestId: req.GetRequestId(), Op: &gamesav1.Command_StopJob{StopJob: &gamesav1.StopJob{JobId: req.GetJobId()}}}
	var fwd *gamesav1.StopJobResponse
	res, err := writeAlloc(ctx, s.n.cluster, cmd, func(ctx context.Context, cl gamesav1.AllocationServiceClient) (err error) {
		fwd, err = cl.StopJob(ctx, req)
		return err
	})
	if err != nil || fwd != nil {
		return fwd, err
	}
	return &gamesav1.StopJobResponse{Job: res.GetJob(), Index: res.GetIndex(), Duplicate: res.GetDuplicate()}, nil
}

// RegisterNode records a node's registration, through the leader.
func (s *allocService) RegisterNode(ctx context.Context, req *gamesav1.RegisterNodeRequest) (*gamesav1.RegisterNodeResponse, error) {
	if req.GetNode() == nil {
		return nil, invalidArg("node", "required")
	}
	if req.GetRequestId() == "" {
		req.RequestId = newRequestID()
	}
	cmd := &gamesav1.Command{RequestId: req.GetRequestId(), Op: &gamesav1.Command_RegisterNode{RegisterNode: &gamesav1.RegisterNode{Node: req.GetNode()}}}
	var fwd *gamesav1.RegisterNodeResponse
	res, err := writeAlloc(ctx, s.n.cluster, cmd, func(ctx context.Context, cl gamesav1.AllocationServiceClient) (err error) {
		fwd, err = cl.RegisterNode(ctx, req)
		return err
	})
	if err != nil || fwd != nil {
		return fwd, err
	}
	return &gamesav1.RegisterNodeResponse{Node: res.GetNode(), Index: res.GetIndex()}, nil
}

// ReportJobState records a node's report about one of its runs, through
// the leader.
func (s *allocService) ReportJobState(ctx context.Context, req *gamesav1.ReportJobStateRequest) (*gamesav1.ReportJobStateResponse, error) {
	if req.GetReport() == nil {
		return nil, invalidArg("report", "required")
	}
	if req.GetRequestId() == "" {
		req.RequestId = newRequestID()
	}
	cmd := &gamesav1.Command{RequestId: req.GetRequestId(), Op: &gamesav1.Command_ReportJobState{ReportJobState: req.GetReport()}}
	var fwd *gamesav1.ReportJobStateResponse
	res, err := writeAlloc(ctx, s.n.cluster, cmd, func(ctx context.Context, cl gamesav1.AllocationServiceClient) (err error) {
		fwd, err = cl.ReportJobState(ctx, req)
		return err
	})
	if err != nil || fwd != nil {
		return fwd, err
	}
	return &gamesav1.ReportJobStateResponse{Job: res.GetJob(), Index: res.GetIndex(), Duplicate: res.GetDuplicate()}, nil
}

// read answers from a replica: this server's own for a stale read, the
// leader's verified one otherwise; a node that cannot answer sends the
// request on (a client to any server, a follower to the leader), holding
// while no leader is known, like a write.
func (s *allocService) read(ctx context.Context, stale bool, local func(st *consensus.State, consistent bool), forward func(context.Context, gamesav1.AllocationServiceClient) error) error {
	c := s.n.cluster
	if stale && c.raft != nil {
		local(c.raft.State(), false)
		return nil
	}
	hold, cancel := context.WithTimeout(ctx, writeHold)
	defer cancel()
	for attempt := 0; ; attempt++ {
		if c.raft != nil && c.leading.Load() {
			st, err := c.raft.ConsistentState(ctx)
			if err == nil {
				local(st, true)
				return nil
			}
			if ctx.Err() != nil {
				return status.FromContextError(ctx.Err()).Err()
			}
		} else if _, addr := c.target(); addr != "" {
			fctx, err := c.fwd.outgoing(ctx)
			if err != nil {
				return err
			}
			cl, err := c.fwd.allocClient(addr)
			if err != nil {
				return status.Error(codes.Internal, err.Error())
			}
			if err := forward(fctx, cl); status.Code(err) != codes.Unavailable {
				return err
			}
		}
		if err := holdForLeader(hold, attempt); err != nil {
			if ctx.Err() != nil {
				return status.FromContextError(ctx.Err()).Err()
			}
			return status.Errorf(codes.Unavailable, "no leader within %v: the cluster has no quorum (ask with stale: true for a replica's view)", writeHold)
		}
	}
}

// replicaAge is how long ago this server's replica last heard from the
// leader: 0 on the leader.
func (c *cluster) replicaAge() time.Duration {
	if c.leading.Load() {
		return 0
	}
	lc := c.raft.LastContact()
	if lc.IsZero() {
		return unknownReplicaAge
	}
	return max(time.Since(lc), 0)
}

// GetAllocation returns the committed allocation.
func (s *allocService) GetAllocation(ctx context.Context, req *gamesav1.GetAllocationRequest) (*gamesav1.GetAllocationResponse, error) {
	if id := req.GetNodeId(); id != "" && !validNodeID(id) {
		return nil, invalidArg("node_id", "%q is not a node id", id)
	}
	var resp *gamesav1.GetAllocationResponse
	c := s.n.cluster
	err := s.read(ctx, req.GetStale(), func(st *consensus.State, consistent bool) {
		resp = &gamesav1.GetAllocationResponse{
			Allocation: st.Allocation(), Budget: st.PowerBudget(), ServedBy: c.id, Consistent: consistent,
			AppliedIndex: st.Index(), ReplicaAge: durationpb.New(c.replicaAge()),
		}
		if id := req.GetNodeId(); id != "" {
			resp.Jobs = st.JobsOn(id)
			if n, ok := st.Node(id); ok {
				resp.Nodes = []*gamesav1.NodeResources{n}
			}
		} else {
			resp.Nodes = st.Nodes()
		}
	}, func(ctx context.Context, cl gamesav1.AllocationServiceClient) (err error) {
		resp, err = cl.GetAllocation(ctx, req)
		return err
	})
	return resp, err
}

// ListJobs lists the jobs.
func (s *allocService) ListJobs(ctx context.Context, req *gamesav1.ListJobsRequest) (*gamesav1.ListJobsResponse, error) {
	var resp *gamesav1.ListJobsResponse
	err := s.read(ctx, req.GetStale(), func(st *consensus.State, consistent bool) {
		resp = &gamesav1.ListJobsResponse{Jobs: st.Jobs(), ServedBy: s.n.cluster.id, Consistent: consistent}
	}, func(ctx context.Context, cl gamesav1.AllocationServiceClient) (err error) {
		resp, err = cl.ListJobs(ctx, req)
		return err
	})
	return resp, err
}

// GetJob returns one job.
func (s *allocService) GetJob(ctx context.Context, req *gamesav1.GetJobRequest) (*gamesav1.GetJobResponse, error) {
	if err := consensus.ValidateJobID(req.GetJobId()); err != nil {
		return nil, invalidArg("job_id", "%v", err)
	}
	var resp *gamesav1.GetJobResponse
	err := s.read(ctx, req.GetStale(), func(st *consensus.State, consistent bool) {
		if j, ok := st.Job(req.GetJobId()); ok {
			resp = &gamesav1.GetJobResponse{Job: j, ServedBy: s.n.cluster.id, Consistent: consistent}
		}
	}, func(ctx context.Context, cl gamesav1.AllocationServiceClient) (err error) {
		resp, err = cl.GetJob(ctx, req)
		return err
	})
	if err == nil && resp == nil {
		return nil, status.Errorf(codes.NotFound, "no job named %s", req.GetJobId())
	}
	return resp, err
}

// JobLogs streams a run's output from the node that ran it: from this
// node's data directory when it is that node, else through that node's
// gRPC server (found in gossip).
func (s *allocService) JobLogs(req *gamesav1.JobLogsRequest, stream grpc.ServerStreamingServer[gamesav1.JobLogsResponse]) error {
	ctx := stream.Context()
	if err := consensus.ValidateJobID(req.GetJobId()); err != nil {
		return invalidArg("job_id", "%v", err)
	}
	c := s.n.cluster
	resp, err := s.GetJob(ctx, &gamesav1.GetJobRequest{JobId: req.GetJobId(), Stale: true})
	if err != nil {
		return err
	}
	run, err := pickRun(resp.GetJob(), req.GetRunId())
	if err != nil {
		return err
	}
	if run.GetNodeId() == c.id {
		return s.streamLocal(req, run, stream)
	}
	m, ok := c.mesh.View().Get(run.GetNodeId())
	if !ok || m.State != gossip.StateAlive || m.Meta.GRPCAddr == "" {
		return status.Errorf(codes.Unavailable, "run %d of job %s ran on %s, which is not reachable now: its log stays on that node", run.GetRunId(), req.GetJobId(), run.GetNodeId())
	}
	cl, err := c.fwd.allocClient(m.Meta.GRPCAddr)
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	fctx, err := c.fwd.outgoing(ctx)
	if err != nil {
		return err
	}
	fwd := proto.Clone(req).(*gamesav1.JobLogsRequest)
	fwd.RunId = run.GetRunId()
	in, err := cl.JobLogs(fctx, fwd)
	if err != nil {
		return err
	}
	for {
		msg, err := in.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
}

// pickRun finds the run a JobLogs request means: run id, or the current
// run, or else the latest that ended.
func pickRun(j *gamesav1.Job, id uint64) (*gamesav1.JobRun, error) {
	runs := append([]*gamesav1.JobRun{j.GetCurrent(), j.GetDraining()}, j.GetHistory()...)
	if id == 0 {
		if c := j.GetCurrent(); c != nil {
			return c, nil
		}
		if h := j.GetHistory(); len(h) > 0 {
			return h[len(h)-1], nil
		}
		if d := j.GetDraining(); d != nil {
			return d, nil
		}
		return nil, status.Errorf(codes.FailedPrecondition, "job %s has not run yet: %s", j.GetSpec().GetId(), j.GetReason())
	}
	for _, r := range runs {
		if r != nil && r.GetRunId() == id {
			return r, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "job %s has no run %d (the cluster remembers its last %d)", j.GetSpec().GetId(), id, consensus.MaxJobHistory)
}

// streamLocal streams a run's log file from this node, following it while
// the run goes on when asked.
func (s *allocService) streamLocal(req *gamesav1.JobLogsRequest, run *gamesav1.JobRun, stream grpc.ServerStreamingServer[gamesav1.JobLogsResponse]) error {
	a := s.n.alloc
	job := req.GetJobId()
	path := filepath.Join(a.jobsDir, job, "run-"+strconv.FormatUint(run.GetRunId(), 10)+".log")
	live := func() bool { return false }
	if a.jobs != nil {
		live = func() bool { _, l := a.jobs.logOf(job, run.GetRunId()); return l }
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return status.Errorf(codes.NotFound, "no log of run %d of job %s on %s (it never started here, or its log was removed)", run.GetRunId(), job, s.n.cluster.id)
	}
	if err != nil {
		return status.Errorf(codes.Internal, "job log: %v", err)
	}
	defer f.Close()
	first := &gamesav1.JobLogsResponse{NodeId: s.n.cluster.id, RunId: run.GetRunId()}
	if err := stream.Send(first); err != nil {
		return err
	}
	buf := make([]byte, logChunk)
	for {
		running := live() // before the read: output written before the end is read after it
		n, err := f.Read(buf)
		if n > 0 {
			if err := stream.Send(&gamesav1.JobLogsResponse{Data: append([]byte(nil), buf[:n]...)}); err != nil {
				return err
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return status.Errorf(codes.Internal, "reading job log: %v", err)
		}
		if !req.GetFollow() || !running {
			return nil
		}
		select {
		case <-stream.Context().Done():
			return nil
		case <-time.After(logPoll):
		}
	}
}

// jobsDirOf is where a node keeps its jobs' logs.
func jobsDirOf(dataDir string) string { return filepath.Join(dataDir, "jobs") }
