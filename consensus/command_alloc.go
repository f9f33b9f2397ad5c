package consensus

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Limits on the allocation and job commands. Like the setting limits they
// define the state machine: every server enforces the same ones.
const (
	// MaxNodeIDLen is the longest node id, in bytes (as gossip allows).
	MaxNodeIDLen = 64
	// MaxJobIDLen is the longest job name, in bytes.
	MaxJobIDLen = 63
	// MaxLabels bounds a node's labels and a job's constraints.
	MaxLabels = 64
	// MaxLabelKeyLen and MaxLabelValueLen bound one label.
	MaxLabelKeyLen   = 63
	MaxLabelValueLen = 128
	// MaxArgs and MaxCommandBytes bound a job's command (and its
	// checkpoint command), arguments and bytes together.
	MaxArgs         = 1024
	MaxCommandBytes = 16 << 10
	// MaxReasonLen bounds the reasons in words that commands carry.
	MaxReasonLen = 512
	// MaxWatts bounds every power figure, as optimizer/alloc does.
	MaxWatts = 1e9
	// MaxCores and MaxGPUs bound a node's or a job's size.
	MaxCores = 1 << 20
	MaxGPUs  = 1 << 10
	// MaxActiveJobs bounds the jobs that have not ended; a submission
	// beyond it is refused.
	MaxActiveJobs = 10000
	// MaxEndedJobs is how many ended jobs the state keeps; the oldest
	// ended one is dropped beyond it.
	MaxEndedJobs = 1000
	// MaxJobHistory is how many ended runs a job remembers.
	MaxJobHistory = 8
)

// hasUnknown reports whether m or any message below it carries fields this
// version does not know: a command from a newer version must not be
// applied as if they were absent.
func hasUnknown(m protoreflect.Message) bool {
	if len(m.GetUnknown()) > 0 {
		return true
	}
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil || fd.IsMap() {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len() && !found; i++ {
				found = hasUnknown(l.Get(i).Message())
			}
		} else {
			found = hasUnknown(v.Message())
		}
		return !found
	})
	return found
}

// validateAllocOp checks the allocation and job operations; handled is
// false for an operation it does not know.
func validateAllocOp(cmd *gamesav1.Command) (handled bool, err error) {
	switch op := cmd.GetOp().(type) {
	case *gamesav1.Command_RegisterNode:
		return true, checkOp("register_node", op.RegisterNode, func() error {
			n := op.RegisterNode.GetNode()
			if n == nil {
				return fmt.Errorf("register_node has no node")
			}
			if n.GetVersion() != 0 {
				return fmt.Errorf("register_node: version is set by the state machine, not the command")
			}
			return ValidateNodeResources(n)
		})
	case *gamesav1.Command_DeregisterNode:
		return true, checkOp("deregister_node", op.DeregisterNode, func() error {
			return validateNodeID(op.DeregisterNode.GetNodeId())
		})
	case *gamesav1.Command_SetPowerBudget:
		return true, checkOp("set_power_budget", op.SetPowerBudget, func() error {
			return validateWatts("budget_watts", op.SetPowerBudget.GetBudgetWatts())
		})
	case *gamesav1.Command_CommitAllocation:
		return true, checkOp("commit_allocation", op.CommitAllocation, func() error {
			return validateCommitAllocation(op.CommitAllocation)
		})
	case *gamesav1.Command_SubmitJob:
		return true, checkOp("submit_job", op.SubmitJob, func() error {
			if op.SubmitJob.GetSpec() == nil {
				return fmt.Errorf("submit_job has no spec")
			}
			return ValidateJobSpec(op.SubmitJob.GetSpec())
		})
	case *gamesav1.Command_StopJob:
		return true, checkOp("stop_job", op.StopJob, func() error {
			return validateJobID(op.StopJob.GetJobId())
		})
	case *gamesav1.Command_ReportJobState:
		return true, checkOp("report_job_state", op.ReportJobState, func() error {
			return validateReport(op.ReportJobState)
		})
	}
	return false, nil
}

// checkOp refuses an empty operation or one with unknown fields, then runs
// the operation's own checks.
func checkOp[M interface {
	comparable
	ProtoReflect() protoreflect.Message
}](name string, m M, check func() error) error {
	var zero M
	if m == zero {
		return fmt.Errorf("%s is empty", name)
	}
	if hasUnknown(m.ProtoReflect()) {
		return fmt.Errorf("%s has unknown fields", name)
	}
	return check()
}

// validateNodeID is the gossip node id pattern [A-Za-z0-9._-]{1,64}.
func validateNodeID(id string) error {
	if id == "" {
		return fmt.Errorf("node id is empty")
	}
	if len(id) > MaxNodeIDLen {
		return fmt.Errorf("node id is %d bytes, more than %d", len(id), MaxNodeIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("node id %q: byte %d (%q) is not allowed: node ids are [A-Za-z0-9._-]", id, i, c)
		}
	}
	return nil
}

// ValidateJobID checks a job name: [a-z0-9][a-z0-9._-]{0,62}. Its errors
// wrap ErrInvalidCommand.
func ValidateJobID(id string) error {
	if err := validateJobID(id); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalidCommand, err)
	}
	return nil
}

func validateJobID(id string) error {
	if id == "" {
		return fmt.Errorf("job name is empty")
	}
	if len(id) > MaxJobIDLen {
		return fmt.Errorf("job name is %d bytes, more than %d", len(id), MaxJobIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return fmt.Errorf("job name %q: byte %d (%q) is not allowed: names are [a-z0-9][a-z0-9._-]*", id, i, c)
		}
	}
	return nil
}

// ValidateLabels checks a node's labels or a job's constraints as the state
// machine does (see validateLabels). Its errors are plain.
func ValidateLabels(ls []*gamesav1.Label) error { return validateLabels("labels", ls) }

// validateLabels checks a node's labels or a job's constraints: at most
// MaxLabels, sorted by key, keys unique and of [A-Za-z0-9._/-], values
// UTF-8 without control characters.
func validateLabels(what string, ls []*gamesav1.Label) error {
	if len(ls) > MaxLabels {
		return fmt.Errorf("%s: %d labels, more than %d", what, len(ls), MaxLabels)
	}
	for i, l := range ls {
		k, v := l.GetKey(), l.GetValue()
		if k == "" || len(k) > MaxLabelKeyLen {
			return fmt.Errorf("%s: key %q must be 1..%d bytes", what, k, MaxLabelKeyLen)
		}
		for j := 0; j < len(k); j++ {
			c := k[j]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '/' || c == '-') {
				return fmt.Errorf("%s: key %q: byte %d (%q) is not allowed: keys are [A-Za-z0-9._/-]", what, k, j, c)
			}
		}
		if len(v) > MaxLabelValueLen || !utf8.ValidString(v) || strings.ContainsFunc(v, isControl) {
			return fmt.Errorf("%s: value of %s must be at most %d bytes of UTF-8 without control characters", what, k, MaxLabelValueLen)
		}
		if i > 0 && k <= ls[i-1].GetKey() {
			return fmt.Errorf("%s: key %q is not after %q: keys must be sorted and unique", what, k, ls[i-1].GetKey())
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func validateWatts(field string, w float64) error {
	if math.IsNaN(w) || math.IsInf(w, 0) || w < 0 || w > MaxWatts {
		return fmt.Errorf("%s = %v: must be within 0..%g", field, w, float64(MaxWatts))
	}
	return nil
}

func validateReason(field, s string) error {
	if len(s) > MaxReasonLen || !utf8.ValidString(s) {
		return fmt.Errorf("%s must be at most %d bytes of UTF-8", field, MaxReasonLen)
	}
	return nil
}

// ValidateNodeResources checks a node's registration (version aside). Its
// errors are plain: callers wrap them.
func ValidateNodeResources(n *gamesav1.NodeResources) error {
	if err := validateNodeID(n.GetNodeId()); err != nil {
		return err
	}
	if n.GetCores() > MaxCores {
		return fmt.Errorf("node %s: cores = %d: at most %d", n.GetNodeId(), n.GetCores(), MaxCores)
	}
	if n.GetGpus() > MaxGPUs {
		return fmt.Errorf("node %s: gpus = %d: at most %d", n.GetNodeId(), n.GetGpus(), MaxGPUs)
	}
	if err := validateLabels("node "+n.GetNodeId()+" labels", n.GetLabels()); err != nil {
		return err
	}
	if err := validateWatts("power_floor_watts", n.GetPowerFloorWatts()); err != nil {
		return err
	}
	if err := validateWatts("power_ceiling_watts", n.GetPowerCeilingWatts()); err != nil {
		return err
	}
	if c := n.GetPowerCeilingWatts(); c > 0 && c < n.GetPowerFloorWatts() {
		return fmt.Errorf("node %s: power_ceiling_watts %g is below power_floor_watts %g", n.GetNodeId(), c, n.GetPowerFloorWatts())
	}
	if n.GetPowerPriority() > 4 {
		return fmt.Errorf("node %s: power_priority = %d: must be 0 (judge from telemetry) or 1..4", n.GetNodeId(), n.GetPowerPriority())
	}
	return nil
}

// validateArgv checks a command line: arguments without NUL (the kernel
// cannot pass them), UTF-8, and within MaxArgs and MaxCommandBytes.
func validateArgv(field string, argv []string) error {
	if len(argv) > MaxArgs {
		return fmt.Errorf("%s has %d arguments, more than %d", field, len(argv), MaxArgs)
	}
	total := 0
	for i, a := range argv {
		total += len(a)
		if strings.IndexByte(a, 0) >= 0 || !utf8.ValidString(a) {
			return fmt.Errorf("%s argument %d must be UTF-8 without NUL bytes", field, i)
		}
	}
	if total > MaxCommandBytes {
		return fmt.Errorf("%s is %d bytes, more than %d", field, total, MaxCommandBytes)
	}
	if len(argv) > 0 && argv[0] == "" {
		return fmt.Errorf("%s: the program (first argument) is empty", field)
	}
	return nil
}

// ValidateJobSpec checks a job's spec: its name, its size, its constraints
// and a non-empty command. Its errors are plain: callers wrap them.
func ValidateJobSpec(s *gamesav1.JobSpec) error {
	if err := validateJobID(s.GetId()); err != nil {
		return err
	}
	if len(s.GetCommand()) == 0 {
		return fmt.Errorf("job %s: the command is empty: give the program to run and its arguments", s.GetId())
	}
	if err := validateArgv("command", s.GetCommand()); err != nil {
		return fmt.Errorf("job %s: %w", s.GetId(), err)
	}
	if err := validateArgv("checkpoint_command", s.GetCheckpointCommand()); err != nil {
		return fmt.Errorf("job %s: %w", s.GetId(), err)
	}
	if s.GetCores() > MaxCores {
		return fmt.Errorf("job %s: cores = %d: at most %d", s.GetId(), s.GetCores(), MaxCores)
	}
	if s.GetGpus() > MaxGPUs {
		return fmt.Errorf("job %s: gpus = %d: at most %d", s.GetId(), s.GetGpus(), MaxGPUs)
	}
	return validateLabels("job "+s.GetId()+" constraints", s.GetConstraints())
}

func validateCommitAllocation(c *gamesav1.CommitAllocation) error {
	if c.GetEpoch() == 0 {
		return fmt.Errorf("commit_allocation: epoch must be at least 1")
	}
	if err := validateWatts("budget_watts", c.GetBudgetWatts()); err != nil {
		return fmt.Errorf("commit_allocation: %w", err)
	}
	if d := c.GetDecidedAt(); d != nil {
		if err := d.CheckValid(); err != nil {
			return fmt.Errorf("commit_allocation: decided_at: %w", err)
		}
	}
	for i, cp := range c.GetCaps() {
		if err := validateNodeID(cp.GetNodeId()); err != nil {
			return fmt.Errorf("commit_allocation: cap %d: %w", i, err)
		}
		if i > 0 && cp.GetNodeId() <= c.GetCaps()[i-1].GetNodeId() {
			return fmt.Errorf("commit_allocation: cap %d: node %s is not after %s: caps must be sorted by node, once each", i, cp.GetNodeId(), c.GetCaps()[i-1].GetNodeId())
		}
		if mw := cp.GetCapMilliwatts(); mw <= 0 || mw > MaxWatts*1000 {
			return fmt.Errorf("commit_allocation: cap of %s = %d mW: must be within 1..%d", cp.GetNodeId(), mw, int64(MaxWatts*1000))
		}
		if err := validateReason("commit_allocation: cap reason", cp.GetReason()); err != nil {
			return err
		}
	}
	for i, p := range c.GetPlacements() {
		if err := validateJobID(p.GetJobId()); err != nil {
			return fmt.Errorf("commit_allocation: placement %d: %w", i, err)
		}
		if err := validateNodeID(p.GetNodeId()); err != nil {
			return fmt.Errorf("commit_allocation: placement of %s: %w", p.GetJobId(), err)
		}
		if i > 0 && p.GetJobId() <= c.GetPlacements()[i-1].GetJobId() {
			return fmt.Errorf("commit_allocation: placement %d: job %s is not after %s: placements must be sorted by job, once each", i, p.GetJobId(), c.GetPlacements()[i-1].GetJobId())
		}
		if p.GetRunId() != 0 {
			return fmt.Errorf("commit_allocation: placement of %s: run_id is set by the state machine, not the command", p.GetJobId())
		}
		if s := p.GetSince(); s != nil {
			if err := s.CheckValid(); err != nil {
				return fmt.Errorf("commit_allocation: placement of %s: since: %w", p.GetJobId(), err)
			}
		}
	}
	for i, l := range c.GetLost() {
		if err := validateJobID(l.GetJobId()); err != nil {
			return fmt.Errorf("commit_allocation: lost run %d: %w", i, err)
		}
		if l.GetRunId() == 0 {
			return fmt.Errorf("commit_allocation: lost run of %s: run_id must be set", l.GetJobId())
		}
		if err := validateReason("commit_allocation: lost reason", l.GetReason()); err != nil {
			return err
		}
	}
	for i, n := range c.GetNotes() {
		if err := validateJobID(n.GetJobId()); err != nil {
			return fmt.Errorf("commit_allocation: note %d: %w", i, err)
		}
		if err := validateReason("commit_allocation: note", n.GetReason()); err != nil {
			return err
		}
	}
	return nil
}

func validateReport(r *gamesav1.ReportJobState) error {
	if err := validateJobID(r.GetJobId()); err != nil {
		return fmt.Errorf("report_job_state: %w", err)
	}
	if err := validateNodeID(r.GetNodeId()); err != nil {
		return fmt.Errorf("report_job_state: %w", err)
	}
	if r.GetRunId() == 0 {
		return fmt.Errorf("report_job_state: run_id must be set")
	}
	switch r.GetState() {
	case gamesav1.RunState_RUN_STATE_RUNNING, gamesav1.RunState_RUN_STATE_EXITED,
		gamesav1.RunState_RUN_STATE_KILLED, gamesav1.RunState_RUN_STATE_START_FAILED:
	default:
		return fmt.Errorf("report_job_state: state %v: a node reports RUNNING, EXITED, KILLED or START_FAILED", r.GetState())
	}
	return validateReason("report_job_state: reason", r.GetReason())
}
