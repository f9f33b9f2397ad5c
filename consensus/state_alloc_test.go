package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func registerCmd(node string, cores uint32, floor, ceil float64, labels ...*gamesav1.Label) *gamesav1.Command {
	return &gamesav1.Command{Op: &gamesav1.Command_RegisterNode{RegisterNode: &gamesav1.RegisterNode{Node: &gamesav1.NodeResources{
		NodeId: node, Cores: cores, MemoryBytes: 16 << 30, Labels: labels, JobsEnabled: true,
		PowerFloorWatts: floor, PowerCeilingWatts: ceil,
	}}}}
}

func submitCmd(id string, cores uint32, argv ...string) *gamesav1.Command {
	return &gamesav1.Command{Op: &gamesav1.Command_SubmitJob{SubmitJob: &gamesav1.SubmitJob{Spec: &gamesav1.JobSpec{
		Id: id, Cores: cores, Command: argv,
	}}}}
}

func allocCmd(epoch uint64, caps []*gamesav1.NodeCap, place ...*gamesav1.JobPlacement) *gamesav1.Command {
	return &gamesav1.Command{Op: &gamesav1.Command_CommitAllocation{CommitAllocation: &gamesav1.CommitAllocation{
		Epoch: epoch, Caps: caps, Placements: place,
	}}}
}

func reportCmd(job, node string, run uint64, st gamesav1.RunState, code int32) *gamesav1.Command {
	return &gamesav1.Command{Op: &gamesav1.Command_ReportJobState{ReportJobState: &gamesav1.ReportJobState{
		JobId: job, NodeId: node, RunId: run, State: st, ExitCode: code,
	}}}
}

func TestValidateAllocCommands(t *testing.T) {
	long := strings.Repeat("x", MaxCommandBytes/2+1)
	tests := []struct {
		name string
		cmd  *gamesav1.Command
		want string // substring of the error; empty means valid
	}{
		{"register", registerCmd("pc-1.lan", 8, 60, 600, &gamesav1.Label{Key: "gpu", Value: "rtx"}), ""},
		{"register no node", &gamesav1.Command{Op: &gamesav1.Command_RegisterNode{RegisterNode: &gamesav1.RegisterNode{}}}, "no node"},
		{"register bad id", registerCmd("pc 1", 8, 0, 0), "not allowed"},
		{"register floor above ceiling", registerCmd("pc1", 8, 700, 600), "below power_floor_watts"},
		{"register unsorted labels", registerCmd("pc1", 8, 0, 0, &gamesav1.Label{Key: "b"}, &gamesav1.Label{Key: "a"}), "sorted"},
		{"register label with newline", registerCmd("pc1", 8, 0, 0, &gamesav1.Label{Key: "a", Value: "x\ny"}), "control"},
		{"register version set", &gamesav1.Command{Op: &gamesav1.Command_RegisterNode{RegisterNode: &gamesav1.RegisterNode{Node: &gamesav1.NodeResources{NodeId: "a", Version: 3}}}}, "version"},
		{"submit", submitCmd("render-1", 2, "blender", "-b", "scene.blend"), ""},
		{"submit empty command", submitCmd("render-1", 2), "command is empty"},
		{"submit empty program", submitCmd("render-1", 2, "", "x"), "program"},
		{"submit NUL", submitCmd("render-1", 2, "a\x00b"), "NUL"},
		{"submit too long", submitCmd("render-1", 2, long, long), "bytes, more than"},
		{"submit upper-case name", submitCmd("Render", 2, "x"), "not allowed"},
		{"submit no spec", &gamesav1.Command{Op: &gamesav1.Command_SubmitJob{SubmitJob: &gamesav1.SubmitJob{}}}, "no spec"},
		{"budget NaN", &gamesav1.Command{Op: &gamesav1.Command_SetPowerBudget{SetPowerBudget: &gamesav1.SetPowerBudget{BudgetWatts: nan()}}}, "budget_watts"},
		{"alloc epoch 0", allocCmd(0, nil), "epoch"},
		{"alloc run id set", allocCmd(1, nil, &gamesav1.JobPlacement{JobId: "a", NodeId: "n", RunId: 4}), "run_id"},
		{"alloc duplicate placement", allocCmd(1, nil, &gamesav1.JobPlacement{JobId: "a", NodeId: "n"}, &gamesav1.JobPlacement{JobId: "a", NodeId: "m"}), "once each"},
		{"alloc negative cap", allocCmd(1, []*gamesav1.NodeCap{{NodeId: "n", CapMilliwatts: -1}}), "mW"},
		{"report", reportCmd("a", "n", 3, gamesav1.RunState_RUN_STATE_RUNNING, 0), ""},
		{"report lost", reportCmd("a", "n", 3, gamesav1.RunState_RUN_STATE_LOST, 0), "a node reports"},
		{"report run 0", reportCmd("a", "n", 0, gamesav1.RunState_RUN_STATE_EXITED, 0), "run_id"},
		{"stop bad name", &gamesav1.Command{Op: &gamesav1.Command_StopJob{StopJob: &gamesav1.StopJob{JobId: ""}}}, "empty"},
		{"empty op", &gamesav1.Command{Op: &gamesav1.Command_StopJob{}}, "stop_job is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateCommand(tt.cmd)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("ValidateCommand(%v) = %v; want nil", tt.cmd, err)
			case tt.want != "" && (err == nil || !errors.Is(err, ErrInvalidCommand) || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("ValidateCommand(%v) = %v; want ErrInvalidCommand containing %q", tt.cmd, err, tt.want)
			}
		})
	}
}

func nan() float64 { var z float64; return z / z }

// TestAllocUnknownNestedFields: a command from a newer version with a
// field this one does not know, deep inside, is refused rather than
// applied without it.
func TestAllocUnknownNestedFields(t *testing.T) {
	cmd := submitCmd("a", 1, "x")
	cmd.GetSubmitJob().GetSpec().ProtoReflect().SetUnknown([]byte{0xf8, 0x07, 0x01}) // field 127, varint 1
	if err := ValidateCommand(cmd); err == nil || !strings.Contains(err.Error(), "unknown fields") {
		t.Fatalf("ValidateCommand(nested unknown field) = %v; want unknown fields", err)
	}
}

// applyAll applies commands at indexes 1.. and returns the results.
func applyAll(t *testing.T, f *fsm, cmds ...*gamesav1.Command) []*gamesav1.CommandResult {
	t.Helper()
	var out []*gamesav1.CommandResult
	base := f.state.Load().Index()
	for i, c := range cmds {
		r := f.Apply(&raft.Log{Type: raft.LogCommand, Index: base + uint64(i) + 1, Data: mustEncode(t, c)})
		out = append(out, r.(*gamesav1.CommandResult))
	}
	return out
}

// TestEndedJobsAreBounded ends more jobs than the state keeps: the oldest
// ended ones go, active ones stay, and a snapshot restores the same.
func TestEndedJobsAreBounded(t *testing.T) {
	f := newFSM(defaultDedupLimits)
	applyAll(t, f, registerCmd("n", 8, 0, 0))
	const n = MaxEndedJobs + 5
	for i := range n {
		id := fmt.Sprintf("j%04d", i)
		applyAll(t, f, submitCmd(id, 1, "x"), &gamesav1.Command{Op: &gamesav1.Command_StopJob{StopJob: &gamesav1.StopJob{JobId: id}}})
	}
	applyAll(t, f, submitCmd("live", 1, "x"))
	st := f.state.Load()
	if got := len(st.Jobs()); got != MaxEndedJobs+1 {
		t.Errorf("len(Jobs()) = %d; want %d ended + 1 active", got, MaxEndedJobs)
	}
	for _, id := range []string{"j0000", "j0004"} {
		if _, ok := st.Job(id); ok {
			t.Errorf("Job(%q) still held; want the oldest ended jobs dropped", id)
		}
	}
	if _, ok := st.Job("j0005"); !ok {
		t.Error("Job(j0005) dropped; want kept (one of the newest ended)")
	}
	if st.ActiveJobs() != 1 {
		t.Errorf("ActiveJobs() = %d; want 1", st.ActiveJobs())
	}
	// Resubmitting an ended name replaces it, and the count stays right.
	applyAll(t, f, submitCmd("j0500", 1, "y"))
	st = f.state.Load()
	if j, _ := st.Job("j0500"); j.GetState() != gamesav1.JobState_JOB_STATE_PENDING || st.ActiveJobs() != 2 {
		t.Errorf("after resubmitting j0500: state %v, active %d; want pending, 2", j.GetState(), st.ActiveJobs())
	}
	snap, err := EncodeSnapshot(st)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeSnapshot(snap)
	if err != nil {
		t.Fatalf("DecodeSnapshot: %v", err)
	}
	if back.ActiveJobs() != 2 || len(back.Jobs()) != len(st.Jobs()) {
		t.Errorf("restored: %d active of %d; want 2 of %d", back.ActiveJobs(), len(back.Jobs()), len(st.Jobs()))
	}
}

// TestAllocRestoreReplacesEverything restores a snapshot taken before any
// job or budget over a state with both: none of them survives.
func TestAllocRestoreReplacesEverything(t *testing.T) {
	f := newFSM(defaultDedupLimits)
	applyAll(t, f, registerCmd("n1", 8, 10, 100))
	snap, _ := EncodeSnapshot(f.state.Load())
	applyAll(t, f, registerCmd("n2", 8, 10, 100), submitCmd("a", 1, "x"),
		&gamesav1.Command{Op: &gamesav1.Command_SetPowerBudget{SetPowerBudget: &gamesav1.SetPowerBudget{BudgetWatts: 150}}},
		allocCmd(1, []*gamesav1.NodeCap{{NodeId: "n1", CapMilliwatts: 100000}}, &gamesav1.JobPlacement{JobId: "a", NodeId: "n2"}))
	if f.state.Load().Epoch() != 1 {
		t.Fatalf("setup: epoch %d; want 1", f.state.Load().Epoch())
	}
	if err := f.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	st := f.state.Load()
	if st.Epoch() != 0 || st.PowerBudget() != nil || st.Allocation() != nil || len(st.Jobs()) != 0 || st.ActiveJobs() != 0 || len(st.Nodes()) != 1 {
		t.Errorf("after Restore: epoch %d budget %v alloc %v jobs %d active %d nodes %d; want only n1",
			st.Epoch(), st.PowerBudget(), st.Allocation(), len(st.Jobs()), st.ActiveJobs(), len(st.Nodes()))
	}
}

// TestAllocStateIsImmutable: a held State does not see later job changes,
// and what its accessors return is the caller's to modify.
func TestAllocStateIsImmutable(t *testing.T) {
	f := newFSM(defaultDedupLimits)
	applyAll(t, f, registerCmd("n1", 8, 0, 0), submitCmd("a", 1, "x"), allocCmd(1, nil, &gamesav1.JobPlacement{JobId: "a", NodeId: "n1"}))
	held := f.state.Load()
	before, _ := EncodeSnapshot(held)
	applyAll(t, f, reportCmd("a", "n1", 3, gamesav1.RunState_RUN_STATE_RUNNING, 0), reportCmd("a", "n1", 3, gamesav1.RunState_RUN_STATE_EXITED, 1))
	for _, j := range held.Jobs() {
		j.State = gamesav1.JobState_JOB_STATE_STOPPED
		j.Current.NodeId = "scribbled"
	}
	held.Allocation().Placements[0].NodeId = "scribbled"
	after, _ := EncodeSnapshot(held)
	if !bytes.Equal(before, after) {
		t.Fatal("a held State changed")
	}
	if j, _ := held.Job("a"); j.GetState() != gamesav1.JobState_JOB_STATE_PLACED {
		t.Errorf("held Job(a) = %v; want placed", j.GetState())
	}
	if j, _ := f.state.Load().Job("a"); j.GetState() != gamesav1.JobState_JOB_STATE_FAILED {
		t.Errorf("current Job(a) = %v; want failed", j.GetState())
	}
}

// TestAllocRandomLogs applies random logs of allocation and job commands
// (the kind a real cluster writes, with stale and wrong ones mixed in) to
// two state machines in different batches, and checks after every entry
// the invariants that keep jobs from running twice and caps within the
// budget, and at the end that both agree byte for byte and survive a
// snapshot.
func TestAllocRandomLogs(t *testing.T) {
	nodes := []string{"n1", "n2", "n3"}
	jobs := []string{"a", "b", "c", "d"}
	states := []gamesav1.RunState{gamesav1.RunState_RUN_STATE_RUNNING, gamesav1.RunState_RUN_STATE_EXITED,
		gamesav1.RunState_RUN_STATE_KILLED, gamesav1.RunState_RUN_STATE_START_FAILED}
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		a, b := newFSM(defaultDedupLimits), newFSM(defaultDedupLimits)
		var logs []*raft.Log
		for i := 1; i <= 400; i++ {
			st := a.state.Load()
			var cmd *gamesav1.Command
			switch k := rng.IntN(10); {
			case k == 0:
				cmd = registerCmd(nodes[rng.IntN(3)], uint32(rng.IntN(8)), float64(rng.IntN(50)), 50+float64(rng.IntN(200)))
			case k == 1:
				cmd = &gamesav1.Command{Op: &gamesav1.Command_SetPowerBudget{SetPowerBudget: &gamesav1.SetPowerBudget{BudgetWatts: float64(rng.IntN(400))}}}
			case k == 2:
				cmd = submitCmd(jobs[rng.IntN(4)], uint32(rng.IntN(4)), "x")
			case k == 3:
				cmd = &gamesav1.Command{Op: &gamesav1.Command_StopJob{StopJob: &gamesav1.StopJob{JobId: jobs[rng.IntN(4)]}}}
			case k <= 6:
				c := &gamesav1.CommitAllocation{Epoch: st.Epoch() + uint64(rng.IntN(3))}
				if c.Epoch == 0 {
					c.Epoch = 1
				}
				for _, n := range nodes {
					if rng.IntN(2) == 0 {
						c.Caps = append(c.Caps, &gamesav1.NodeCap{NodeId: n, CapMilliwatts: 1 + rng.Int64N(150000)})
					}
				}
				for _, j := range jobs {
					if rng.IntN(3) > 0 {
						c.Placements = append(c.Placements, &gamesav1.JobPlacement{JobId: j, NodeId: nodes[rng.IntN(3)]})
					}
					if jb, ok := st.Job(j); ok && rng.IntN(4) == 0 {
						for _, r := range []*gamesav1.JobRun{jb.GetCurrent(), jb.GetDraining()} {
							if r != nil {
								c.Lost = append(c.Lost, &gamesav1.JobRunRef{JobId: j, RunId: r.GetRunId()})
								break
							}
						}
					}
				}
				cmd = &gamesav1.Command{Op: &gamesav1.Command_CommitAllocation{CommitAllocation: c}}
			default:
				// Mostly reports about real runs, some about stale ones.
				j := jobs[rng.IntN(4)]
				run, node := uint64(1+rng.IntN(i)), nodes[rng.IntN(3)]
				if jb, ok := st.Job(j); ok && rng.IntN(4) > 0 {
					for _, r := range []*gamesav1.JobRun{jb.GetCurrent(), jb.GetDraining()} {
						if r != nil && rng.IntN(2) == 0 {
							run, node = r.GetRunId(), r.GetNodeId()
						}
					}
				}
				cmd = reportCmd(j, node, run, states[rng.IntN(4)], int32(rng.IntN(2)))
			}
			l := &raft.Log{Type: raft.LogCommand, Index: uint64(i), Data: mustEncode(t, cmd)}
			logs = append(logs, l)
			a.Apply(l)
			checkAllocInvariants(t, seed, i, a.state.Load())
		}
		for i := 0; i < len(logs); {
			n := min(1+i%7, len(logs)-i)
			b.ApplyBatch(logs[i : i+n])
			i += n
		}
		sa, _ := EncodeSnapshot(a.state.Load())
		sb, _ := EncodeSnapshot(b.state.Load())
		if !bytes.Equal(sa, sb) {
			t.Fatalf("seed %d: two state machines disagree on the same log", seed)
		}
		back, err := DecodeSnapshot(sa)
		if err != nil {
			t.Fatalf("seed %d: DecodeSnapshot: %v", seed, err)
		}
		if again, _ := EncodeSnapshot(back); !bytes.Equal(again, sa) {
			t.Fatalf("seed %d: snapshot does not round-trip", seed)
		}
	}
}

func checkAllocInvariants(t *testing.T, seed uint64, i int, st *State) {
	t.Helper()
	active := 0
	for _, j := range st.Jobs() {
		id := j.GetSpec().GetId()
		if !Ended(j.GetState()) {
			active++
		}
		if c, d := j.GetCurrent(), j.GetDraining(); d != nil && c.GetState() == gamesav1.RunState_RUN_STATE_RUNNING {
			t.Fatalf("seed %d entry %d: job %s runs %d on %s while %d drains on %s", seed, i, id, c.GetRunId(), c.GetNodeId(), d.GetRunId(), d.GetNodeId())
		}
		if Ended(j.GetState()) && (j.GetCurrent() != nil || j.GetDraining() != nil) {
			t.Fatalf("seed %d entry %d: ended job %s has runs", seed, i, id)
		}
		if j.GetState() == gamesav1.JobState_JOB_STATE_RUNNING && j.GetCurrent().GetState() != gamesav1.RunState_RUN_STATE_RUNNING {
			t.Fatalf("seed %d entry %d: job %s running without a running run", seed, i, id)
		}
	}
	if active != st.ActiveJobs() {
		t.Fatalf("seed %d entry %d: %d active jobs; ActiveJobs() = %d", seed, i, active, st.ActiveJobs())
	}
	if a := st.Allocation(); a != nil {
		var sum int64
		for _, c := range a.GetCaps() {
			sum += c.GetCapMilliwatts()
		}
		if budget := MilliWatts(st.PowerBudget().GetBudgetWatts()); sum > budget && st.PowerBudget().GetVersion() < a.GetIndex() {
			t.Fatalf("seed %d entry %d: caps sum %d mW above the budget %d mW they were committed under", seed, i, sum, budget)
		}
	}
	if _, err := DecodeSnapshot(mustSnapshot(t, st)); err != nil {
		t.Fatalf("seed %d entry %d: the state's own snapshot does not decode: %v", seed, i, err)
	}
}

func mustSnapshot(t *testing.T, st *State) []byte {
	t.Helper()
	b, err := EncodeSnapshot(st)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRestoreRejectsDamagedAllocSnapshots(t *testing.T) {
	f := newFSM(defaultDedupLimits)
	applyAll(t, f, registerCmd("n1", 8, 10, 100), registerCmd("n2", 8, 10, 100), submitCmd("a", 1, "x"), submitCmd("b", 1, "x"),
		allocCmd(1, nil, &gamesav1.JobPlacement{JobId: "a", NodeId: "n1"}))
	good := f.state.Load().snapshotProto()
	enc := func(s *gamesav1.ClusterStateSnapshot) []byte {
		b, err := proto.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return append(append([]byte(nil), snapshotMagic...), b...)
	}
	clone := func() *gamesav1.ClusterStateSnapshot { return proto.Clone(good).(*gamesav1.ClusterStateSnapshot) }
	tests := []struct {
		name string
		edit func(s *gamesav1.ClusterStateSnapshot)
	}{
		{"unsorted nodes", func(s *gamesav1.ClusterStateSnapshot) { s.Nodes[0], s.Nodes[1] = s.Nodes[1], s.Nodes[0] }},
		{"node version beyond applied", func(s *gamesav1.ClusterStateSnapshot) { s.Nodes[0].Version = 99 }},
		{"duplicate job", func(s *gamesav1.ClusterStateSnapshot) { s.Jobs[1] = s.Jobs[0] }},
		{"ended job with a run", func(s *gamesav1.ClusterStateSnapshot) {
			s.Jobs[0].State, s.Jobs[0].EndedIndex = gamesav1.JobState_JOB_STATE_SUCCEEDED, s.Jobs[0].Version
		}},
		{"run beyond applied", func(s *gamesav1.ClusterStateSnapshot) { s.Jobs[0].Current.RunId = 99 }},
		{"stored placements", func(s *gamesav1.ClusterStateSnapshot) {
			s.Allocation.Placements = []*gamesav1.JobPlacement{{JobId: "a", NodeId: "n1"}}
		}},
		{"job without a command", func(s *gamesav1.ClusterStateSnapshot) { s.Jobs[1].Spec.Command = nil }},
		{"unknown job state", func(s *gamesav1.ClusterStateSnapshot) { s.Jobs[1].State = 42 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := clone()
			tt.edit(s)
			g := newFSM(defaultDedupLimits)
			if err := g.Restore(io.NopCloser(bytes.NewReader(enc(s)))); !errors.Is(err, ErrInvalidSnapshot) {
				t.Fatalf("Restore(%s) = %v; want ErrInvalidSnapshot", tt.name, err)
			}
			if g.state.Load().Index() != 0 {
				t.Error("a failed Restore changed the state")
			}
		})
	}
	if _, err := DecodeSnapshot(enc(good)); err != nil {
		t.Fatalf("DecodeSnapshot(good) = %v", err)
	}
}
