package consensus

import (
	"fmt"
	"math"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// The allocation state: node registrations, the power budget, the leader's
// last committed allocation and the jobs. Its rules, which every server
// applies alike:
//
//   - An allocation's epoch must be exactly one more than the committed
//     one, so a decision made on an older state (a deposed leader's) is
//     refused whole: REJECTION_STALE.
//   - Its caps may not sum above the budget in force when it applies (the
//     budget may have been lowered since the decision).
//   - A job's run is identified by the index of the allocation that placed
//     it. When a job leaves a node, its run becomes the job's draining run
//     until that node reports it ended (or the leader declares it lost);
//     the new run must not start before, and its RUNNING report is refused
//     while a run drains. That is what keeps a job from running twice.
//   - A report about any other run is refused as stale: it is the fence a
//     node that was cut off meets when it comes back.

// Node returns a copy of the registration of node id.
func (s *State) Node(id string) (*gamesav1.NodeResources, bool) {
	v, ok := s.nodes.Get([]byte(id))
	if !ok {
		return nil, false
	}
	return proto.Clone(v.(*gamesav1.NodeResources)).(*gamesav1.NodeResources), true
}

// Nodes returns copies of every registration, sorted by node id.
func (s *State) Nodes() []*gamesav1.NodeResources {
	out := make([]*gamesav1.NodeResources, 0, s.nodes.Len())
	s.nodes.Root().Walk(func(_ []byte, v any) bool {
		out = append(out, proto.Clone(v.(*gamesav1.NodeResources)).(*gamesav1.NodeResources))
		return false
	})
	return out
}

// WalkNodes calls fn with each registration in node id order until fn
// returns false: the state's own messages, uncopied, for readers that
// only look (fn must neither modify nor keep them).
func (s *State) WalkNodes(fn func(*gamesav1.NodeResources) bool) {
	s.nodes.Root().Walk(func(_ []byte, v any) bool {
		return !fn(v.(*gamesav1.NodeResources))
	})
}

// PowerBudget returns a copy of the power budget, nil when none was ever
// set.
func (s *State) PowerBudget() *gamesav1.PowerBudget {
	if s.budget == nil {
		return nil
	}
	return proto.Clone(s.budget).(*gamesav1.PowerBudget)
}

// Epoch is the epoch of the committed allocation, 0 before the first.
func (s *State) Epoch() uint64 { return s.alloc.GetEpoch() }

// Allocation returns a copy of the committed allocation with its
// placements (the jobs' current runs, sorted by job), or nil before the
// first.
func (s *State) Allocation() *gamesav1.Allocation {
	if s.alloc == nil {
		return nil
	}
	a := proto.Clone(s.alloc).(*gamesav1.Allocation)
	s.jobs.Root().Walk(func(_ []byte, v any) bool {
		j := v.(*gamesav1.Job)
		if c := j.GetCurrent(); c != nil {
			a.Placements = append(a.Placements, &gamesav1.JobPlacement{
				JobId: j.GetSpec().GetId(), NodeId: c.GetNodeId(), RunId: c.GetRunId(),
				Since: proto.Clone(j.GetSince()).(*timestamppb.Timestamp),
			})
		}
		return false
	})
	return a
}

// Job returns a copy of job id.
func (s *State) Job(id string) (*gamesav1.Job, bool) {
	v, ok := s.jobs.Get([]byte(id))
	if !ok {
		return nil, false
	}
	return proto.Clone(v.(*gamesav1.Job)).(*gamesav1.Job), true
}

// Jobs returns copies of every job, active and recently ended, sorted by
// name.
func (s *State) Jobs() []*gamesav1.Job {
	out := make([]*gamesav1.Job, 0, s.jobs.Len())
	s.jobs.Root().Walk(func(_ []byte, v any) bool {
		out = append(out, proto.Clone(v.(*gamesav1.Job)).(*gamesav1.Job))
		return false
	})
	return out
}

// JobsOn returns copies of the jobs with a run on node: a current run (to
// run, unless one drains) or a draining one (to stop), sorted by name.
func (s *State) JobsOn(node string) []*gamesav1.Job {
	var out []*gamesav1.Job
	s.jobs.Root().Walk(func(_ []byte, v any) bool {
		j := v.(*gamesav1.Job)
		if j.GetCurrent().GetNodeId() == node || j.GetDraining().GetNodeId() == node {
			out = append(out, proto.Clone(j).(*gamesav1.Job))
		}
		return false
	})
	return out
}

// ActiveJobs is how many jobs have not ended.
func (s *State) ActiveJobs() int { return s.activeJobs }

// Ended reports whether a job state is final.
func Ended(st gamesav1.JobState) bool {
	switch st {
	case gamesav1.JobState_JOB_STATE_SUCCEEDED, gamesav1.JobState_JOB_STATE_FAILED, gamesav1.JobState_JOB_STATE_STOPPED:
		return true
	}
	return false
}

// MilliWatts converts watts to whole milliwatts, rounding down so that the
// result is never above w: a budget's milliwatts never exceed the budget.
func MilliWatts(w float64) int64 {
	m := int64(math.Floor(w * 1000))
	for m > 0 && float64(m)/1000 > w {
		m--
	}
	return m
}

// ceilMilliWatts rounds up: a floor's milliwatts are never below it.
func ceilMilliWatts(w float64) int64 {
	m := int64(math.Ceil(w * 1000))
	for float64(m)/1000 < w {
		m++
	}
	return m
}

// applyAllocOp applies one allocation or job command (already validated).
func (b *builder) applyAllocOp(index uint64, cmd *gamesav1.Command) *gamesav1.CommandResult {
	switch op := cmd.GetOp().(type) {
	case *gamesav1.Command_RegisterNode:
		return b.registerNode(index, op.RegisterNode.GetNode())
	case *gamesav1.Command_DeregisterNode:
		return b.deregisterNode(index, op.DeregisterNode.GetNodeId())
	case *gamesav1.Command_SetPowerBudget:
		return b.setPowerBudget(index, op.SetPowerBudget.GetBudgetWatts())
	case *gamesav1.Command_CommitAllocation:
		return b.commitAllocation(index, op.CommitAllocation)
	case *gamesav1.Command_SubmitJob:
		return b.submitJob(index, op.SubmitJob.GetSpec())
	case *gamesav1.Command_StopJob:
		return b.stopJob(index, op.StopJob.GetJobId())
	case *gamesav1.Command_ReportJobState:
		return b.reportJobState(index, op.ReportJobState)
	}
	// Unreachable: validateCommand refused every other operation.
	return rejected(index, gamesav1.Rejection_REJECTION_INVALID, "invalid command: operation not supported")
}

func (b *builder) node(id string) (*gamesav1.NodeResources, bool) {
	v, ok := b.nodes.Get([]byte(id))
	if !ok {
		return nil, false
	}
	return v.(*gamesav1.NodeResources), true
}

func (b *builder) job(id string) (*gamesav1.Job, bool) {
	v, ok := b.jobs.Get([]byte(id))
	if !ok {
		return nil, false
	}
	return v.(*gamesav1.Job), true
}

// withJob is a result that carries a copy of the job.
func withJob(res *gamesav1.CommandResult, j *gamesav1.Job) *gamesav1.CommandResult {
	if j != nil {
		res.Job = proto.Clone(j).(*gamesav1.Job)
	}
	return res
}

func (b *builder) registerNode(index uint64, n *gamesav1.NodeResources) *gamesav1.CommandResult {
	n = proto.Clone(n).(*gamesav1.NodeResources)
	n.Version = index
	b.nodes.Insert([]byte(n.GetNodeId()), n)
	return &gamesav1.CommandResult{Index: index, Node: proto.Clone(n).(*gamesav1.NodeResources)}
}

func (b *builder) deregisterNode(index uint64, id string) *gamesav1.CommandResult {
	if _, ok := b.node(id); !ok {
		return &gamesav1.CommandResult{Index: index}
	}
	var runs []string
	b.jobs.Root().Walk(func(_ []byte, v any) bool {
		j := v.(*gamesav1.Job)
		for _, r := range []*gamesav1.JobRun{j.GetCurrent(), j.GetDraining()} {
			if r != nil && r.GetNodeId() == id {
				runs = append(runs, fmt.Sprintf("%s run %d", j.GetSpec().GetId(), r.GetRunId()))
			}
		}
		return false
	})
	if len(runs) > 0 {
		return rejected(index, gamesav1.Rejection_REJECTION_FAILED_PRECONDITION,
			fmt.Sprintf("node %s still has job runs (%s): they must end or be declared lost first", id, strings.Join(runs, ", ")))
	}
	b.nodes.Delete([]byte(id))
	return &gamesav1.CommandResult{Index: index}
}

// floorsMilliWatts sums the floors of the nodes that take part in the power
// split (a ceiling above 0).
func (b *builder) floorsMilliWatts() (sum int64, nodes int) {
	b.nodes.Root().Walk(func(_ []byte, v any) bool {
		n := v.(*gamesav1.NodeResources)
		if n.GetPowerCeilingWatts() > 0 {
			sum += ceilMilliWatts(n.GetPowerFloorWatts())
			nodes++
		}
		return false
	})
	return sum, nodes
}

func (b *builder) setPowerBudget(index uint64, w float64) *gamesav1.CommandResult {
	if w > 0 {
		floors, n := b.floorsMilliWatts()
		if MilliWatts(w) < floors {
			res := rejected(index, gamesav1.Rejection_REJECTION_FAILED_PRECONDITION,
				fmt.Sprintf("budget %.1f W is below the sum of the floors of the %d nodes in the power split (%.1f W): every node needs its floor to run; raise the budget or lower their floors",
					w, n, float64(floors)/1000))
			if b.budget != nil {
				res.PowerBudget = proto.Clone(b.budget).(*gamesav1.PowerBudget)
			}
			return res
		}
	}
	b.budget = &gamesav1.PowerBudget{BudgetWatts: w, Version: index}
	return &gamesav1.CommandResult{Index: index, PowerBudget: proto.Clone(b.budget).(*gamesav1.PowerBudget)}
}

func (b *builder) commitAllocation(index uint64, c *gamesav1.CommitAllocation) *gamesav1.CommandResult {
	cur := b.alloc.GetEpoch()
	// Every check comes before the first change: a refused command must
	// leave the state as it was.
	switch {
	case c.GetEpoch() <= cur:
		res := rejected(index, gamesav1.Rejection_REJECTION_STALE,
			fmt.Sprintf("allocation epoch %d is stale: epoch %d is committed (another leader decided first)", c.GetEpoch(), cur))
		res.Epoch = cur
		return res
	case c.GetEpoch() > cur+1:
		res := rejected(index, gamesav1.Rejection_REJECTION_FAILED_PRECONDITION,
			fmt.Sprintf("allocation epoch %d skips epochs: epoch %d is committed, so the next is %d", c.GetEpoch(), cur, cur+1))
		res.Epoch = cur
		return res
	}
	var budgetMW int64
	if b.budget != nil {
		budgetMW = MilliWatts(b.budget.GetBudgetWatts())
	}
	caps := make([]*gamesav1.NodeCap, 0, len(c.GetCaps()))
	var sum int64
	for _, cp := range c.GetCaps() {
		if _, ok := b.node(cp.GetNodeId()); !ok {
			continue // deregistered since the decision
		}
		caps = append(caps, proto.Clone(cp).(*gamesav1.NodeCap))
		sum += cp.GetCapMilliwatts()
	}
	if len(caps) > 0 && budgetMW == 0 {
		return rejected(index, gamesav1.Rejection_REJECTION_FAILED_PRECONDITION,
			"allocation has power caps but no budget is set (it was lifted since the decision)")
	}
	if sum > budgetMW {
		return rejected(index, gamesav1.Rejection_REJECTION_FAILED_PRECONDITION,
			fmt.Sprintf("allocation caps sum to %.3f W, above the budget of %.3f W (it was lowered since the decision)", float64(sum)/1000, float64(budgetMW)/1000))
	}

	notes := make(map[string]string, len(c.GetNotes()))
	for _, n := range c.GetNotes() {
		notes[n.GetJobId()] = n.GetReason()
	}
	for _, l := range c.GetLost() {
		j, ok := b.job(l.GetJobId())
		if !ok || j.GetEndedIndex() != 0 {
			continue
		}
		j = proto.Clone(j).(*gamesav1.Job)
		why := l.GetReason()
		if why == "" {
			why = "its node is gone"
		}
		switch {
		case j.GetCurrent().GetRunId() == l.GetRunId():
			r := j.Current
			j.Current = nil
			endRun(j, r, gamesav1.RunState_RUN_STATE_LOST, 0, why)
			if j.GetStopRequested() {
				j.State = gamesav1.JobState_JOB_STATE_STOPPING
			} else {
				j.State = gamesav1.JobState_JOB_STATE_PENDING
			}
			j.Reason = fmt.Sprintf("run %d on %s lost: %s", r.GetRunId(), r.GetNodeId(), why)
		case j.GetDraining().GetRunId() == l.GetRunId():
			r := j.Draining
			j.Draining = nil
			endRun(j, r, gamesav1.RunState_RUN_STATE_LOST, 0, why)
		default:
			continue // ended already
		}
		b.putJob(index, j)
	}

	placed := make(map[string]*gamesav1.JobPlacement, len(c.GetPlacements()))
	for _, p := range c.GetPlacements() {
		placed[p.GetJobId()] = p
	}
	var active []*gamesav1.Job
	b.jobs.Root().Walk(func(_ []byte, v any) bool {
		if j := v.(*gamesav1.Job); j.GetEndedIndex() == 0 {
			active = append(active, j)
		}
		return false
	})
	for _, old := range active {
		id := old.GetSpec().GetId()
		p, ok := placed[id]
		if ok {
			if n, known := b.node(p.GetNodeId()); !known || !n.GetJobsEnabled() {
				ok = false // deregistered, or stopped running jobs, since the decision
			}
		}
		cur := old.GetCurrent()
		if ok && old.GetStopRequested() && cur.GetNodeId() != p.GetNodeId() {
			ok = false // a stopping job is never placed anew
		}
		note, noted := notes[id]
		switch {
		case ok && cur != nil && cur.GetNodeId() == p.GetNodeId():
			if noted && note != old.GetReason() {
				j := proto.Clone(old).(*gamesav1.Job)
				j.Reason = note
				b.putJob(index, j)
			}
		case ok:
			j := proto.Clone(old).(*gamesav1.Job)
			retire(j)
			j.Current = &gamesav1.JobRun{RunId: index, NodeId: p.GetNodeId()}
			j.Since = p.GetSince()
			if j.Since == nil {
				j.Since = c.GetDecidedAt()
			}
			j.Since = proto.Clone(j.Since).(*timestamppb.Timestamp)
			j.Runs++
			j.State = gamesav1.JobState_JOB_STATE_PLACED
			j.Reason = "placed on " + p.GetNodeId()
			if noted {
				j.Reason = note
			}
			if d := j.GetDraining(); d != nil {
				j.Reason += fmt.Sprintf("; starts once run %d on %s has ended", d.GetRunId(), d.GetNodeId())
			}
			b.putJob(index, j)
		case cur != nil:
			j := proto.Clone(old).(*gamesav1.Job)
			retire(j)
			j.Since = nil
			if j.GetStopRequested() {
				j.State = gamesav1.JobState_JOB_STATE_STOPPING
			} else {
				j.State = gamesav1.JobState_JOB_STATE_PENDING
				j.Reason = "waiting for a node"
				if noted {
					j.Reason = note
				}
			}
			b.putJob(index, j)
		case noted && note != old.GetReason() && !old.GetStopRequested():
			j := proto.Clone(old).(*gamesav1.Job)
			j.Reason = note
			b.putJob(index, j)
		}
	}

	b.alloc = &gamesav1.Allocation{
		Epoch:       c.GetEpoch(),
		DecidedAt:   proto.Clone(c.GetDecidedAt()).(*timestamppb.Timestamp),
		BudgetWatts: c.GetBudgetWatts(),
		Caps:        caps,
		Index:       index,
	}
	return &gamesav1.CommandResult{Index: index, Epoch: c.GetEpoch()}
}

// retire takes a job's current run away: it drains until its node reports
// it ended. When a run drains already, the current one cannot have started
// (its start waits for the drain) and is dropped.
func retire(j *gamesav1.Job) {
	r := j.GetCurrent()
	if r == nil {
		return
	}
	j.Current = nil
	if j.Draining == nil {
		j.Draining = r
		return
	}
	endRun(j, r, gamesav1.RunState_RUN_STATE_LOST, 0, "moved again before it started")
}

// endRun records an ended run in the job's history, keeping the last
// MaxJobHistory.
func endRun(j *gamesav1.Job, r *gamesav1.JobRun, st gamesav1.RunState, code int32, why string) {
	r = proto.Clone(r).(*gamesav1.JobRun)
	r.State, r.ExitCode, r.Reason = st, code, why
	j.History = append(j.History, r)
	if n := len(j.History); n > MaxJobHistory {
		j.History = append([]*gamesav1.JobRun(nil), j.History[n-MaxJobHistory:]...)
	}
}

// putJob stores j as changed at index; a job whose state became final is
// ended here (and the oldest ended jobs beyond MaxEndedJobs dropped).
func (b *builder) putJob(index uint64, j *gamesav1.Job) {
	j.Version = index
	if j.GetEndedIndex() == 0 && !Ended(j.GetState()) && j.GetStopRequested() && j.GetCurrent() == nil && j.GetDraining() == nil {
		j.State = gamesav1.JobState_JOB_STATE_STOPPED
		j.Reason = "stopped"
	}
	if j.GetEndedIndex() == 0 && Ended(j.GetState()) {
		j.EndedIndex = index
		j.Current, j.Draining, j.Since = nil, nil, nil
		b.activeJobs--
		b.endedJobs++
		b.ended.Insert(endedKey(index, j.GetSpec().GetId()), j.GetSpec().GetId())
	}
	b.jobs.Insert([]byte(j.GetSpec().GetId()), j)
	for b.endedJobs > MaxEndedJobs {
		k, v, ok := b.ended.Root().Minimum()
		if !ok {
			break
		}
		b.ended.Delete(k)
		b.jobs.Delete([]byte(v.(string)))
		b.endedJobs--
	}
}

func endedKey(index uint64, id string) []byte {
	return append(indexKey(index), id...)
}

// hasLabel reports whether labels (sorted) carry key=value.
func hasLabel(labels []*gamesav1.Label, key, value string) bool {
	for _, l := range labels {
		if l.GetKey() == key {
			return l.GetValue() == value
		}
	}
	return false
}

func (b *builder) submitJob(index uint64, spec *gamesav1.JobSpec) *gamesav1.CommandResult {
	id := spec.GetId()
	old, exists := b.job(id)
	if exists && old.GetEndedIndex() == 0 {
		return withJob(rejected(index, gamesav1.Rejection_REJECTION_FAILED_PRECONDITION,
			fmt.Sprintf("job %s exists and has not ended (%s): stop it first, or pick another name", id, jobStateWord(old.GetState()))), old)
	}
	if b.activeJobs >= MaxActiveJobs {
		return rejected(index, gamesav1.Rejection_REJECTION_FAILED_PRECONDITION,
			fmt.Sprintf("the cluster holds %d active jobs, the most it takes: wait for some to end", b.activeJobs))
	}
	if why, kind := b.infeasible(spec); why != "" {
		return rejected(index, kind, why)
	}
	if exists {
		b.ended.Delete(endedKey(old.GetEndedIndex(), id))
		b.endedJobs--
	}
	j := &gamesav1.Job{
		Spec:           proto.Clone(spec).(*gamesav1.JobSpec),
		State:          gamesav1.JobState_JOB_STATE_PENDING,
		Reason:         "waiting for the leader to place it",
		SubmittedIndex: index,
	}
	b.activeJobs++
	b.putJob(index, j)
	return withJob(&gamesav1.CommandResult{Index: index}, j)
}

// infeasible says why no registered node could ever run spec: no node runs
// jobs, a constraint names a label none of them carries, or the job is
// bigger than every matching node. Room taken by other jobs is the
// leader's business: such a job waits.
func (b *builder) infeasible(spec *gamesav1.JobSpec) (string, gamesav1.Rejection) {
	var runners []*gamesav1.NodeResources
	b.nodes.Root().Walk(func(_ []byte, v any) bool {
		if n := v.(*gamesav1.NodeResources); n.GetJobsEnabled() {
			runners = append(runners, n)
		}
		return false
	})
	id := spec.GetId()
	if len(runners) == 0 {
		return fmt.Sprintf("job %s: no node runs jobs (start agents with --enable-jobs)", id), gamesav1.Rejection_REJECTION_FAILED_PRECONDITION
	}
	for _, c := range spec.GetConstraints() {
		known := false
		for _, n := range runners {
			if hasLabel(n.GetLabels(), c.GetKey(), c.GetValue()) {
				known = true
				break
			}
		}
		if !known {
			return fmt.Sprintf("job %s requires label %s=%s, which no node that runs jobs carries (a typo?)", id, c.GetKey(), c.GetValue()),
				gamesav1.Rejection_REJECTION_UNKNOWN_LABEL
		}
	}
	var matching []*gamesav1.NodeResources
	for _, n := range runners {
		ok := true
		for _, c := range spec.GetConstraints() {
			if !hasLabel(n.GetLabels(), c.GetKey(), c.GetValue()) {
				ok = false
				break
			}
		}
		if ok {
			matching = append(matching, n)
		}
	}
	if len(matching) == 0 {
		return fmt.Sprintf("job %s requires %s, which no single node that runs jobs carries together", id, labelsText(spec.GetConstraints())),
			gamesav1.Rejection_REJECTION_UNKNOWN_LABEL
	}
	var mostCores, mostGPUs *gamesav1.NodeResources
	var mostMem *gamesav1.NodeResources
	for _, n := range matching {
		if n.GetCores() >= spec.GetCores() && n.GetMemoryBytes() >= spec.GetMemoryBytes() && n.GetGpus() >= spec.GetGpus() {
			return "", 0
		}
		if mostCores == nil || n.GetCores() > mostCores.GetCores() {
			mostCores = n
		}
		if mostMem == nil || n.GetMemoryBytes() > mostMem.GetMemoryBytes() {
			mostMem = n
		}
		if mostGPUs == nil || n.GetGpus() > mostGPUs.GetGpus() {
			mostGPUs = n
		}
	}
	var short []string
	if spec.GetCores() > mostCores.GetCores() {
		short = append(short, fmt.Sprintf("%d cores (most: %d on %s)", spec.GetCores(), mostCores.GetCores(), mostCores.GetNodeId()))
	}
	if spec.GetMemoryBytes() > mostMem.GetMemoryBytes() {
		short = append(short, fmt.Sprintf("%s memory (most: %s on %s)", bytesText(spec.GetMemoryBytes()), bytesText(mostMem.GetMemoryBytes()), mostMem.GetNodeId()))
	}
	if spec.GetGpus() > mostGPUs.GetGpus() {
		short = append(short, fmt.Sprintf("%d GPUs (most: %d on %s)", spec.GetGpus(), mostGPUs.GetGpus(), mostGPUs.GetNodeId()))
	}
	if len(short) == 0 {
		short = append(short, fmt.Sprintf("%d cores, %s memory and %d GPUs together", spec.GetCores(), bytesText(spec.GetMemoryBytes()), spec.GetGpus()))
	}
	where := "any node that runs jobs"
	if len(spec.GetConstraints()) > 0 {
		where = "any node with " + labelsText(spec.GetConstraints())
	}
	return fmt.Sprintf("job %s needs more than %s has: %s", id, where, strings.Join(short, ", ")), gamesav1.Rejection_REJECTION_FAILED_PRECONDITION
}

func labelsText(ls []*gamesav1.Label) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.GetKey() + "=" + l.GetValue()
	}
	return strings.Join(parts, ",")
}

// bytesText prints a size in binary units with integer arithmetic, so
// every server prints the same.
func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	tenths := n * 10 / div
	if n > math.MaxUint64/10 {
		tenths = n / (div / 10)
	}
	return fmt.Sprintf("%d.%d %ciB", tenths/10, tenths%10, "KMGTPE"[exp])
}

func jobStateWord(s gamesav1.JobState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "JOB_STATE_"))
}

func (b *builder) stopJob(index uint64, id string) *gamesav1.CommandResult {
	old, ok := b.job(id)
	if !ok {
		return rejected(index, gamesav1.Rejection_REJECTION_NOT_FOUND, fmt.Sprintf("no job named %s", id))
	}
	if old.GetEndedIndex() != 0 || old.GetStopRequested() {
		return withJob(&gamesav1.CommandResult{Index: index}, old)
	}
	j := proto.Clone(old).(*gamesav1.Job)
	j.StopRequested = true
	j.State = gamesav1.JobState_JOB_STATE_STOPPING
	if r := j.GetCurrent(); r != nil {
		j.Reason = fmt.Sprintf("stopping: waiting for %s to report run %d ended", r.GetNodeId(), r.GetRunId())
	} else if r := j.GetDraining(); r != nil {
		j.Reason = fmt.Sprintf("stopping: waiting for %s to report run %d ended", r.GetNodeId(), r.GetRunId())
	}
	b.putJob(index, j) // with no run it is stopped at once
	return withJob(&gamesav1.CommandResult{Index: index}, j)
}

func (b *builder) reportJobState(index uint64, r *gamesav1.ReportJobState) *gamesav1.CommandResult {
	old, ok := b.job(r.GetJobId())
	if !ok {
		return rejected(index, gamesav1.Rejection_REJECTION_NOT_FOUND, fmt.Sprintf("no job named %s", r.GetJobId()))
	}
	stale := func(why string) *gamesav1.CommandResult {
		return withJob(rejected(index, gamesav1.Rejection_REJECTION_STALE, why), old)
	}
	if old.GetEndedIndex() != 0 {
		return stale(fmt.Sprintf("job %s has ended (%s)", r.GetJobId(), jobStateWord(old.GetState())))
	}
	cur, dr := old.GetCurrent(), old.GetDraining()
	run := r.GetRunId()
	var mine *gamesav1.JobRun
	switch run {
	case cur.GetRunId():
		mine = cur
	case dr.GetRunId():
		mine = dr
	}
	if mine == nil {
		now := "no run"
		if cur != nil {
			now = fmt.Sprintf("run %d on %s", cur.GetRunId(), cur.GetNodeId())
		}
		return stale(fmt.Sprintf("run %d of job %s is not current (now: %s)", run, r.GetJobId(), now))
	}
	if mine.GetNodeId() != r.GetNodeId() {
		return stale(fmt.Sprintf("run %d of job %s is on %s, not %s", run, r.GetJobId(), mine.GetNodeId(), r.GetNodeId()))
	}
	j := proto.Clone(old).(*gamesav1.Job)
	code, why := r.GetExitCode(), r.GetReason()
	// finish ends the job by how its process ended.
	finish := func(node string) {
		switch {
		case j.GetStopRequested():
			j.State, j.Reason = gamesav1.JobState_JOB_STATE_STOPPED, "stopped"
		case code == 0:
			j.State, j.Reason = gamesav1.JobState_JOB_STATE_SUCCEEDED, "exited with status 0 on "+node
		default:
			j.State, j.Reason = gamesav1.JobState_JOB_STATE_FAILED, fmt.Sprintf("exited with status %d on %s", code, node)
		}
	}
	if mine == cur {
		if dr != nil && r.GetState() != gamesav1.RunState_RUN_STATE_KILLED {
			return withJob(rejected(index, gamesav1.Rejection_REJECTION_FAILED_PRECONDITION,
				fmt.Sprintf("run %d of job %s must not start before run %d on %s has ended", run, r.GetJobId(), dr.GetRunId(), dr.GetNodeId())), old)
		}
		switch r.GetState() {
		case gamesav1.RunState_RUN_STATE_RUNNING:
			j.Current.State, j.Current.Pid = r.GetState(), r.GetPid()
			if !j.GetStopRequested() {
				j.State = gamesav1.JobState_JOB_STATE_RUNNING
				j.Reason = fmt.Sprintf("running on %s (pid %d)", r.GetNodeId(), r.GetPid())
			}
		case gamesav1.RunState_RUN_STATE_EXITED:
			j.Current = nil
			endRun(j, cur, r.GetState(), code, why)
			finish(r.GetNodeId())
		case gamesav1.RunState_RUN_STATE_KILLED:
			j.Current, j.Since = nil, nil
			endRun(j, cur, r.GetState(), code, why)
			if !j.GetStopRequested() {
				j.State = gamesav1.JobState_JOB_STATE_PENDING
				j.Reason = fmt.Sprintf("run %d on %s was ended by its agent (%s); waiting to be placed again", run, r.GetNodeId(), orText(why, "no reason given"))
			}
		case gamesav1.RunState_RUN_STATE_START_FAILED:
			j.Current = nil
			endRun(j, cur, r.GetState(), code, why)
			j.State = gamesav1.JobState_JOB_STATE_FAILED
			j.Reason = fmt.Sprintf("could not start on %s: %s", r.GetNodeId(), orText(why, "no reason given"))
			if j.GetStopRequested() {
				j.State, j.Reason = gamesav1.JobState_JOB_STATE_STOPPED, "stopped"
			}
		}
		b.putJob(index, j)
		return withJob(&gamesav1.CommandResult{Index: index}, j)
	}
	// The draining run.
	switch r.GetState() {
	case gamesav1.RunState_RUN_STATE_RUNNING:
		return withJob(&gamesav1.CommandResult{Index: index}, old) // known to run: it is being stopped
	case gamesav1.RunState_RUN_STATE_EXITED:
		// The job finished on its own while it was being moved; the run
		// that waited for it never started.
		j.Draining = nil
		endRun(j, dr, r.GetState(), code, why)
		if c := j.GetCurrent(); c != nil {
			j.Current, j.Since = nil, nil
			endRun(j, c, gamesav1.RunState_RUN_STATE_LOST, 0, "not started: the job ended before it could")
		}
		finish(r.GetNodeId())
	default:
		j.Draining = nil
		endRun(j, dr, r.GetState(), code, why)
		if c := j.GetCurrent(); c != nil {
			j.Reason = fmt.Sprintf("placed on %s; run %d on %s has ended", c.GetNodeId(), run, r.GetNodeId())
		}
	}
	b.putJob(index, j)
	return withJob(&gamesav1.CommandResult{Index: index}, j)
}

func orText(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

// jobCost and nodeCost approximate a dedup record's memory from contents
// alone, like recordCost.
func jobCost(j *gamesav1.Job) int {
	if j == nil {
		return 0
	}
	n := 128 + len(j.GetReason()) + 64*len(j.GetHistory()) + len(j.GetSpec().GetId())
	for _, a := range j.GetSpec().GetCommand() {
		n += len(a)
	}
	for _, a := range j.GetSpec().GetCheckpointCommand() {
		n += len(a)
	}
	for _, h := range j.GetHistory() {
		n += len(h.GetReason())
	}
	return n
}

func nodeCost(n *gamesav1.NodeResources) int {
	if n == nil {
		return 0
	}
	c := 64 + len(n.GetNodeId())
	for _, l := range n.GetLabels() {
		c += len(l.GetKey()) + len(l.GetValue())
	}
	return c
}
