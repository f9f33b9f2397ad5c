package consensus

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// scenarioEpoch dates the allocations of the scenarios: second n after it
// is "t+n".
var scenarioEpoch = time.Date(2025, 6, 1, 20, 0, 0, 0, time.UTC)

// labelsArg parses "k=v,k2=v2" (sorted by the caller's order).
func labelsArg(s string) []*gamesav1.Label {
	if s == "" {
		return nil
	}
	var out []*gamesav1.Label
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		out = append(out, &gamesav1.Label{Key: k, Value: v})
	}
	return out
}

// allocCommand turns one scenario line into a command; ok is false for a
// line that is not a command.
func allocCommand(t *testing.T, line string) (*gamesav1.Command, bool) {
	t.Helper()
	word, a := fields(t, line)
	num := func(k string) uint64 {
		if a[k] == "" {
			return 0
		}
		v, err := strconv.ParseUint(a[k], 10, 64)
		if err != nil {
			t.Fatalf("line %q: %s: %v", line, k, err)
		}
		return v
	}
	flt := func(k string) float64 {
		if a[k] == "" {
			return 0
		}
		v, err := strconv.ParseFloat(a[k], 64)
		if err != nil {
			t.Fatalf("line %q: %s: %v", line, k, err)
		}
		return v
	}
	cmd := &gamesav1.Command{RequestId: a["req"]}
	switch word {
	case "register":
		cmd.Op = &gamesav1.Command_RegisterNode{RegisterNode: &gamesav1.RegisterNode{Node: &gamesav1.NodeResources{
			NodeId: a["node"], Cores: uint32(num("cores")), MemoryBytes: num("gib") << 30, Gpus: uint32(num("gpus")),
			Labels: labelsArg(a["labels"]), JobsEnabled: a["jobs"] != "false",
			PowerFloorWatts: flt("floor"), PowerCeilingWatts: flt("ceil"),
		}}}
	case "deregister":
		cmd.Op = &gamesav1.Command_DeregisterNode{DeregisterNode: &gamesav1.DeregisterNode{NodeId: a["node"]}}
	case "budget":
		cmd.Op = &gamesav1.Command_SetPowerBudget{SetPowerBudget: &gamesav1.SetPowerBudget{BudgetWatts: flt("watts")}}
	case "alloc":
		c := &gamesav1.CommitAllocation{Epoch: num("epoch"), BudgetWatts: flt("budget"),
			DecidedAt: timestamppb.New(scenarioEpoch.Add(time.Duration(num("t")) * time.Second))}
		if s := a["caps"]; s != "" {
			for _, nc := range strings.Split(s, ",") {
				n, w, _ := strings.Cut(nc, ":")
				mw, _ := strconv.ParseInt(w, 10, 64)
				c.Caps = append(c.Caps, &gamesav1.NodeCap{NodeId: n, CapMilliwatts: mw})
			}
		}
		if s := a["place"]; s != "" {
			for _, jn := range strings.Split(s, ",") {
				j, n, _ := strings.Cut(jn, "@")
				c.Placements = append(c.Placements, &gamesav1.JobPlacement{JobId: j, NodeId: n})
			}
		}
		if s := a["lost"]; s != "" {
			for _, jr := range strings.Split(s, ",") {
				j, r, _ := strings.Cut(jr, ":")
				run, _ := strconv.ParseUint(r, 10, 64)
				c.Lost = append(c.Lost, &gamesav1.JobRunRef{JobId: j, RunId: run, Reason: "node failed"})
			}
		}
		if s := a["note"]; s != "" {
			j, why, _ := strings.Cut(s, ":")
			c.Notes = append(c.Notes, &gamesav1.JobNote{JobId: j, Reason: strings.ReplaceAll(why, "_", " ")})
		}
		cmd.Op = &gamesav1.Command_CommitAllocation{CommitAllocation: c}
	case "submit":
		spec := &gamesav1.JobSpec{Id: a["id"], Cores: uint32(num("cores")), MemoryBytes: num("gib") << 30, Gpus: uint32(num("gpus")),
			Constraints: labelsArg(a["needs"])}
		if s, ok := a["cmd"]; ok && s != "" {
			spec.Command = strings.Split(s, ",")
		} else if !ok {
			spec.Command = []string{"render"}
		}
		cmd.Op = &gamesav1.Command_SubmitJob{SubmitJob: &gamesav1.SubmitJob{Spec: spec}}
	case "stop":
		cmd.Op = &gamesav1.Command_StopJob{StopJob: &gamesav1.StopJob{JobId: a["id"]}}
	case "report":
		st := gamesav1.RunState(gamesav1.RunState_value["RUN_STATE_"+strings.ToUpper(a["state"])])
		cmd.Op = &gamesav1.Command_ReportJobState{ReportJobState: &gamesav1.ReportJobState{
			JobId: a["id"], NodeId: a["node"], RunId: num("run"), State: st, ExitCode: int32(num("exit")),
			Pid: uint32(num("pid")), Reason: strings.ReplaceAll(a["why"], "_", " "),
		}}
	default:
		return nil, false
	}
	return cmd, true
}

func runText(r *gamesav1.JobRun) string {
	if r == nil {
		return "-"
	}
	s := fmt.Sprintf("%d@%s", r.GetRunId(), r.GetNodeId())
	if r.GetState() != gamesav1.RunState_RUN_STATE_UNSPECIFIED {
		s += ":" + strings.ToLower(strings.TrimPrefix(r.GetState().String(), "RUN_STATE_"))
		if r.GetState() == gamesav1.RunState_RUN_STATE_EXITED {
			s += fmt.Sprintf("(%d)", r.GetExitCode())
		}
	}
	return s
}

func jobText(j *gamesav1.Job) string {
	s := fmt.Sprintf("%s %s cur=%s drain=%s", j.GetSpec().GetId(), jobStateWord(j.GetState()), runText(j.GetCurrent()), runText(j.GetDraining()))
	if j.GetStopRequested() {
		s += " stop"
	}
	return s
}

func formatAllocResult(r *gamesav1.CommandResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "index=%d", r.GetIndex())
	if r.GetDuplicate() {
		b.WriteString(" duplicate")
	}
	if r.GetEpoch() != 0 {
		fmt.Fprintf(&b, " epoch=%d", r.GetEpoch())
	}
	if pb := r.GetPowerBudget(); pb != nil {
		fmt.Fprintf(&b, " budget=%gW@%d", pb.GetBudgetWatts(), pb.GetVersion())
	}
	if j := r.GetJob(); j != nil {
		fmt.Fprintf(&b, " job=[%s]", jobText(j))
	}
	if r.GetRejection() != gamesav1.Rejection_REJECTION_UNSPECIFIED {
		fmt.Fprintf(&b, " rejected=%s error=%q", strings.TrimPrefix(r.GetRejection().String(), "REJECTION_"), r.GetError())
	}
	return b.String()
}

func formatAllocState(st *State) string {
	var b strings.Builder
	fmt.Fprintf(&b, "state index=%d epoch=%d active=%d\n", st.Index(), st.Epoch(), st.ActiveJobs())
	if pb := st.PowerBudget(); pb != nil {
		fmt.Fprintf(&b, "  budget %gW@%d\n", pb.GetBudgetWatts(), pb.GetVersion())
	}
	for _, n := range st.Nodes() {
		fmt.Fprintf(&b, "  node %s cores=%d mem=%s gpus=%d labels=%s jobs=%v power=%g..%gW @%d\n", n.GetNodeId(), n.GetCores(),
			bytesText(n.GetMemoryBytes()), n.GetGpus(), labelsText(n.GetLabels()), n.GetJobsEnabled(),
			n.GetPowerFloorWatts(), n.GetPowerCeilingWatts(), n.GetVersion())
	}
	if a := st.Allocation(); a != nil {
		fmt.Fprintf(&b, "  allocation epoch=%d index=%d at=t+%d", a.GetEpoch(), a.GetIndex(), int(a.GetDecidedAt().AsTime().Sub(scenarioEpoch).Seconds()))
		for _, c := range a.GetCaps() {
			fmt.Fprintf(&b, " %s:%dmW", c.GetNodeId(), c.GetCapMilliwatts())
		}
		for _, p := range a.GetPlacements() {
			fmt.Fprintf(&b, " %s@%s#%d", p.GetJobId(), p.GetNodeId(), p.GetRunId())
		}
		b.WriteString("\n")
	}
	for _, j := range st.Jobs() {
		fmt.Fprintf(&b, "  job %s runs=%d v=%d", jobText(j), j.GetRuns(), j.GetVersion())
		if e := j.GetEndedIndex(); e != 0 {
			fmt.Fprintf(&b, " ended=%d", e)
		}
		fmt.Fprintf(&b, " reason=%q", j.GetReason())
		for _, h := range j.GetHistory() {
			fmt.Fprintf(&b, " [%s %q]", runText(h), h.GetReason())
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestAllocScenarios replays testdata/alloc: node registrations, budgets,
// allocations, job submissions, stops and reports as log entries, with
// the state shown (and snapshotted and restored) along the way; the trace
// is the golden output.
func TestAllocScenarios(t *testing.T) {
	runScenarios(t, "alloc", func(t *testing.T, input []string) string {
		f := newFSM(defaultDedupLimits)
		var out strings.Builder
		var index uint64
		for _, line := range input {
			switch strings.Fields(line)[0] {
			case "state":
				out.WriteString(formatAllocState(f.state.Load()))
				continue
			case "roundtrip":
				var buf bytes.Buffer
				snap, _ := f.Snapshot()
				if err := snap.Persist(&bufSink{Buffer: &buf}); err != nil {
					t.Fatal(err)
				}
				before := buf.Bytes()
				g := newFSM(f.limits)
				if err := g.Restore(io.NopCloser(bytes.NewReader(before))); err != nil {
					t.Fatalf("Restore: %v", err)
				}
				again, err := EncodeSnapshot(g.state.Load())
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(again, before) {
					t.Fatalf("line %q: a restored state encodes differently", line)
				}
				f = g
				out.WriteString("roundtrip ok\n")
				continue
			}
			cmd, ok := allocCommand(t, line)
			if !ok {
				t.Fatalf("unknown scenario line %q", line)
			}
			index++
			res := f.ApplyBatch([]*raft.Log{{Type: raft.LogCommand, Index: index, Data: mustEncode(t, cmd)}})[0].(*gamesav1.CommandResult)
			fmt.Fprintf(&out, "%s -> %s\n", line, formatAllocResult(res))
		}
		return out.String()
	})
}
