package consensus

import (
	"fmt"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// decodeAllocState loads and checks the allocation part of a snapshot:
// valid, sorted, unique registrations and jobs, indexes no later than the
// snapshot's, runs that agree with their job's state, and the bounds the
// state machine keeps (so that a restored state evicts as the original
// would).
func decodeAllocState(snap *gamesav1.ClusterStateSnapshot, b *builder) error {
	applied := snap.GetAppliedIndex()
	inRange := func(what string, i uint64) error {
		if i == 0 || i > applied {
			return fmt.Errorf("%s %d is not in [1, %d]", what, i, applied)
		}
		return nil
	}
	prev := ""
	for i, n := range snap.GetNodes() {
		if err := ValidateNodeResources(n); err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		if i > 0 && n.GetNodeId() <= prev {
			return fmt.Errorf("node %d: id %q is not after %q", i, n.GetNodeId(), prev)
		}
		if err := inRange("node "+n.GetNodeId()+" version", n.GetVersion()); err != nil {
			return err
		}
		prev = n.GetNodeId()
		b.nodes.Insert([]byte(n.GetNodeId()), n)
	}
	if pb := snap.GetPowerBudget(); pb != nil {
		if err := validateWatts("power budget", pb.GetBudgetWatts()); err != nil {
			return err
		}
		if err := inRange("power budget version", pb.GetVersion()); err != nil {
			return err
		}
		b.budget = pb
	}
	if a := snap.GetAllocation(); a != nil {
		if len(a.GetPlacements()) > 0 {
			return fmt.Errorf("allocation: placements are the jobs' runs, never stored")
		}
		c := &gamesav1.CommitAllocation{Epoch: a.GetEpoch(), DecidedAt: a.GetDecidedAt(), BudgetWatts: a.GetBudgetWatts(), Caps: a.GetCaps()}
		if err := validateCommitAllocation(c); err != nil {
			return err
		}
		if err := inRange("allocation index", a.GetIndex()); err != nil {
			return err
		}
		b.alloc = a
	}
	prev = ""
	for i, j := range snap.GetJobs() {
		id := j.GetSpec().GetId()
		if j.GetSpec() == nil {
			return fmt.Errorf("job %d has no spec", i)
		}
		if err := ValidateJobSpec(j.GetSpec()); err != nil {
			return fmt.Errorf("job %d: %w", i, err)
		}
		if i > 0 && id <= prev {
			return fmt.Errorf("job %d: name %q is not after %q", i, id, prev)
		}
		prev = id
		if err := checkJob(j, applied); err != nil {
			return fmt.Errorf("job %s: %w", id, err)
		}
		if e := j.GetEndedIndex(); e != 0 {
			b.ended.Insert(endedKey(e, id), id)
			b.endedJobs++
		} else {
			b.activeJobs++
		}
		b.jobs.Insert([]byte(id), j)
	}
	if b.endedJobs > MaxEndedJobs {
		return fmt.Errorf("%d ended jobs, more than the %d the state keeps", b.endedJobs, MaxEndedJobs)
	}
	return nil
}

// checkJob checks that a job's fields agree with each other.
func checkJob(j *gamesav1.Job, applied uint64) error {
	if _, ok := gamesav1.JobState_name[int32(j.GetState())]; !ok || j.GetState() == gamesav1.JobState_JOB_STATE_UNSPECIFIED {
		return fmt.Errorf("state %v is not a job state", j.GetState())
	}
	if j.GetSubmittedIndex() == 0 || j.GetSubmittedIndex() > j.GetVersion() || j.GetVersion() > applied {
		return fmt.Errorf("submitted %d and version %d must satisfy 1 <= submitted <= version <= %d", j.GetSubmittedIndex(), j.GetVersion(), applied)
	}
	ended := j.GetEndedIndex() != 0
	if ended != Ended(j.GetState()) {
		return fmt.Errorf("ended_index %d does not agree with state %v", j.GetEndedIndex(), j.GetState())
	}
	if ended && (j.GetEndedIndex() > j.GetVersion() || j.GetCurrent() != nil || j.GetDraining() != nil) {
		return fmt.Errorf("an ended job has runs, or ended after its last change")
	}
	if len(j.GetHistory()) > MaxJobHistory {
		return fmt.Errorf("%d runs of history, more than %d", len(j.GetHistory()), MaxJobHistory)
	}
	for _, r := range []*gamesav1.JobRun{j.GetCurrent(), j.GetDraining()} {
		if r == nil {
			continue
		}
		if r.GetRunId() == 0 || r.GetRunId() > applied {
			return fmt.Errorf("run %d is not in [1, %d]", r.GetRunId(), applied)
		}
		if err := validateNodeID(r.GetNodeId()); err != nil {
			return fmt.Errorf("run %d: %w", r.GetRunId(), err)
		}
	}
	if c, d := j.GetCurrent(), j.GetDraining(); c != nil && d != nil && c.GetRunId() <= d.GetRunId() {
		return fmt.Errorf("current run %d is not after draining run %d", c.GetRunId(), d.GetRunId())
	}
	return nil
}
