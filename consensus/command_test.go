package consensus

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func TestValidateCommand(t *testing.T) {
	withUnknown := setCmd("", "a", "b", 0)
	withUnknown.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
	tests := []struct {
		name string
		cmd  *gamesav1.Command
		want string // substring of the error; empty means valid
	}{
		{"set", setCmd("req-1", "power/budget", "1200", 0), ""},
		{"cas", setCmd("", "a.b_c-d/e", "", 7), ""},
		{"delete", delCmd("", "x", 3), ""},
		{"max key", setCmd("", "a"+strings.Repeat("b", MaxKeyLen-1), "v", 0), ""},
		{"max value", setCmd("", "a", strings.Repeat("v", MaxValueLen), 0), ""},
		{"max request id", setCmd(strings.Repeat("r", MaxRequestIDLen), "a", "v", 0), ""},
		{"nil", nil, "nil command"},
		{"no op", &gamesav1.Command{RequestId: "x"}, "no operation"},
		{"empty set", &gamesav1.Command{Op: &gamesav1.Command_SetSetting{}}, "set_setting is empty"},
		{"empty key", setCmd("", "", "v", 0), "key is empty"},
		{"upper case key", setCmd("", "Power", "v", 0), "not allowed"},
		{"leading dot", setCmd("", ".a", "v", 0), "not allowed"},
		{"space in key", setCmd("", "a b", "v", 0), "not allowed"},
		{"long key", setCmd("", strings.Repeat("a", MaxKeyLen+1), "v", 0), "more than 128"},
		{"long value", setCmd("", "a", strings.Repeat("v", MaxValueLen+1), 0), "more than 4096"},
		{"binary value", setCmd("", "a", "\xff", 0), "not UTF-8"},
		{"long request id", setCmd(strings.Repeat("r", MaxRequestIDLen+1), "a", "v", 0), "request_id is 65 bytes"},
		{"delete bad key", delCmd("", "A", 0), "not allowed"},
		{"unknown field", withUnknown, "does not know"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateCommand(tt.cmd)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("ValidateCommand(%v) = %v; want nil", tt.cmd, err)
			case tt.want != "" && err == nil:
				t.Fatalf("ValidateCommand(%v) = nil; want an error containing %q", tt.cmd, tt.want)
			case tt.want != "" && (!errors.Is(err, ErrInvalidCommand) || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("ValidateCommand(%v) = %v; want ErrInvalidCommand containing %q", tt.cmd, err, tt.want)
			}
		})
	}
}

func TestEncodeDecodeCommand(t *testing.T) {
	cmd := setCmd("req", "power/budget", "1200", 4)
	b, err := EncodeCommand(cmd)
	if err != nil {
		t.Fatalf("EncodeCommand: %v", err)
	}
	got, err := DecodeCommand(b)
	if err != nil {
		t.Fatalf("DecodeCommand: %v", err)
	}
	if !proto.Equal(got, cmd) {
		t.Errorf("DecodeCommand(EncodeCommand(%v)) = %v", cmd, got)
	}
	if _, err := DecodeCommand(bytes.Repeat([]byte{0}, MaxCommandSize+1)); !errors.Is(err, ErrInvalidCommand) {
		t.Errorf("DecodeCommand(oversized) = %v; want ErrInvalidCommand", err)
	}
	if _, err := EncodeCommand(setCmd("", "BAD", "", 0)); !errors.Is(err, ErrInvalidCommand) {
		t.Errorf("EncodeCommand(invalid) = %v; want ErrInvalidCommand", err)
	}
}

// FuzzDecodeCommand feeds arbitrary log entries to the decoder and the
// FSM: neither may panic, the FSM's answer must match the decoder's
// verdict, and it must not depend on which FSM applies it.
func FuzzDecodeCommand(f *testing.F) {
	for _, cmd := range []*gamesav1.Command{
		setCmd("req-1", "power/budget", "1200", 0),
		setCmd("", "a", "", 3),
		delCmd("r", "fan.curve", 0),
		{RequestId: "only-id"},
		registerCmd("pc1", 8, 60, 600, &gamesav1.Label{Key: "zone", Value: "a"}),
		submitCmd("render-1", 2, "blender", "-b"),
		allocCmd(1, []*gamesav1.NodeCap{{NodeId: "pc1", CapMilliwatts: 500000}}, &gamesav1.JobPlacement{JobId: "render-1", NodeId: "pc1"}),
		reportCmd("render-1", "pc1", 3, gamesav1.RunState_RUN_STATE_EXITED, 2),
		{Op: &gamesav1.Command_SetPowerBudget{SetPowerBudget: &gamesav1.SetPowerBudget{BudgetWatts: 3500}}},
		{Op: &gamesav1.Command_StopJob{StopJob: &gamesav1.StopJob{JobId: "render-1"}}},
		{Op: &gamesav1.Command_DeregisterNode{DeregisterNode: &gamesav1.DeregisterNode{NodeId: "pc1"}}},
	} {
		b, _ := proto.Marshal(cmd)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd, err := DecodeCommand(data)
		if err != nil && !errors.Is(err, ErrInvalidCommand) {
			t.Fatalf("DecodeCommand error %v does not wrap ErrInvalidCommand", err)
		}
		var results [2]*gamesav1.CommandResult
		for i := range results {
			fsm := newFSM(defaultDedupLimits)
			fsm.Apply(&raft.Log{Type: raft.LogCommand, Index: 1, Data: mustEncode(t, setCmd("seed", "k", "v", 0))})
			results[i] = fsm.Apply(&raft.Log{Type: raft.LogCommand, Index: 2, Data: data}).(*gamesav1.CommandResult)
		}
		if !proto.Equal(results[0], results[1]) {
			t.Fatalf("two FSMs disagree on %x: %v vs %v", data, results[0], results[1])
		}
		res := results[0]
		if err == nil && res.GetRejection() == gamesav1.Rejection_REJECTION_INVALID {
			t.Fatalf("decoder accepts %x (%v) but the FSM rejects it: %s", data, cmd, res.GetError())
		}
		if err != nil && res.GetRejection() != gamesav1.Rejection_REJECTION_INVALID && !res.GetDuplicate() {
			t.Fatalf("decoder rejects %x (%v) but the FSM applied it: %v", data, err, res)
		}
		if err == nil {
			// What decodes must encode again and mean the same.
			b, err := EncodeCommand(cmd)
			if err != nil {
				t.Fatalf("EncodeCommand(DecodeCommand(%x)) = %v", data, err)
			}
			again, err := DecodeCommand(b)
			if err != nil || !proto.Equal(again, cmd) {
				t.Fatalf("re-decoding %x gave %v, %v; want %v", b, again, err, cmd)
			}
		}
	})
}

// FuzzDecodeSnapshot feeds arbitrary snapshot files to the decoder: it
// must never panic, and what it accepts must encode back to a snapshot
// that decodes to the same state.
func FuzzDecodeSnapshot(f *testing.F) {
	fsm := newFSM(defaultDedupLimits)
	fsm.Apply(&raft.Log{Type: raft.LogCommand, Index: 1, Data: mustEncode(f, setCmd("r1", "a", "1", 0))})
	fsm.Apply(&raft.Log{Type: raft.LogCommand, Index: 2, Data: mustEncode(f, setCmd("r2", "b", "2", 9))})
	fsm.Apply(&raft.Log{Type: raft.LogCommand, Index: 3, Data: mustEncode(f, delCmd("", "a", 0))})
	good, _ := EncodeSnapshot(fsm.state.Load())
	empty, _ := EncodeSnapshot(emptyState())
	// A state with every kind of allocation state: nodes, budget, an
	// allocation, and jobs placed, running, draining and ended.
	for i, c := range []*gamesav1.Command{
		registerCmd("n1", 8, 10, 100), registerCmd("n2", 8, 10, 100), submitCmd("a", 1, "x"), submitCmd("b", 1, "y"),
		{Op: &gamesav1.Command_SetPowerBudget{SetPowerBudget: &gamesav1.SetPowerBudget{BudgetWatts: 150}}},
		allocCmd(1, []*gamesav1.NodeCap{{NodeId: "n1", CapMilliwatts: 90000}}, &gamesav1.JobPlacement{JobId: "a", NodeId: "n1"}, &gamesav1.JobPlacement{JobId: "b", NodeId: "n1"}),
		reportCmd("a", "n1", 9, gamesav1.RunState_RUN_STATE_RUNNING, 0),
		reportCmd("b", "n1", 9, gamesav1.RunState_RUN_STATE_EXITED, 0),
		allocCmd(2, nil, &gamesav1.JobPlacement{JobId: "a", NodeId: "n2"}),
	} {
		fsm.Apply(&raft.Log{Type: raft.LogCommand, Index: uint64(4 + i), Data: mustEncode(f, c)})
	}
	withJobs, _ := EncodeSnapshot(fsm.state.Load())
	f.Add(withJobs)
	f.Add(good)
	f.Add(empty)
	f.Add(snapshotMagic)
	f.Add([]byte("not a snapshot"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := DecodeSnapshot(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidSnapshot) {
				t.Fatalf("DecodeSnapshot error %v does not wrap ErrInvalidSnapshot", err)
			}
			return
		}
		b, err := EncodeSnapshot(st)
		if err != nil {
			t.Fatalf("EncodeSnapshot(DecodeSnapshot(%x)) = %v", data, err)
		}
		again, err := DecodeSnapshot(b)
		if err != nil {
			t.Fatalf("DecodeSnapshot(re-encoded) = %v", err)
		}
		b2, _ := EncodeSnapshot(again)
		if !bytes.Equal(b, b2) {
			t.Fatalf("snapshot does not round-trip")
		}
	})
}
