package consensus

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

var fedT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func hashOf(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func openCmd(round, base uint64, baseHash []byte, min uint32, participants ...string) *gamesav1.Command {
	return &gamesav1.Command{Op: &gamesav1.Command_OpenRound{OpenRound: &gamesav1.OpenRound{
		Round: round, Kind: "thermal", Participants: participants, MinParticipants: min, Rule: "fedavg",
		BaseVersion: base, BaseHash: baseHash, LeaderId: "s1",
		OpenedAt: timestamppb.New(fedT0), Deadline: timestamppb.New(fedT0.Add(time.Minute)),
	}}}
}

func closeCmd(round, version uint64, hash []byte, contributors ...string) *gamesav1.Command {
	return &gamesav1.Command{Op: &gamesav1.Command_CloseRound{CloseRound: &gamesav1.CloseRound{
		Round: round, Contributors: contributors, ModelVersion: version, ModelHash: hash, Samples: 1000,
		SizeBytes: 4096, Metrics: map[string]float64{"updates": float64(len(contributors))},
		EndedAt: timestamppb.New(fedT0.Add(30 * time.Second)), Holder: "s1",
	}}}
}

func abortCmd(round uint64, why string) *gamesav1.Command {
	return &gamesav1.Command{Op: &gamesav1.Command_AbortRound{AbortRound: &gamesav1.AbortRound{
		Round: round, Reason: why, EndedAt: timestamppb.New(fedT0.Add(time.Minute)),
	}}}
}

func TestValidateFedCommands(t *testing.T) {
	h := hashOf("m1")
	withOpen := func(edit func(o *gamesav1.OpenRound)) *gamesav1.Command {
		c := openCmd(1, 0, nil, 1, "a", "b")
		edit(c.GetOpenRound())
		return c
	}
	tests := []struct {
		name string
		cmd  *gamesav1.Command
		want string // substring of the error; empty means valid
	}{
		{"open", openCmd(1, 0, nil, 2, "a", "b"), ""},
		{"open with base", openCmd(3, 2, h, 1, "a"), ""},
		{"open round 0", openCmd(0, 0, nil, 1, "a"), "round must be at least 1"},
		{"open no participants", openCmd(1, 0, nil, 1), "no participants"},
		{"open unsorted", openCmd(1, 0, nil, 1, "b", "a"), "sorted"},
		{"open duplicate participant", openCmd(1, 0, nil, 1, "a", "a"), "sorted and unique"},
		{"open bad node id", openCmd(1, 0, nil, 1, "a b"), "not allowed"},
		{"open min 0", openCmd(1, 0, nil, 0, "a"), "min_participants"},
		{"open min above participants", openCmd(1, 0, nil, 3, "a", "b"), "min_participants"},
		{"open hash without version", openCmd(1, 0, h, 1, "a"), "without a base_version"},
		{"open short hash", openCmd(1, 1, h[:8], 1, "a"), "bytes, want 32"},
		{"open kind upper case", withOpen(func(o *gamesav1.OpenRound) { o.Kind = "Thermal" }), "not allowed"},
		{"open no rule", withOpen(func(o *gamesav1.OpenRound) { o.Rule = "" }), "rule is empty"},
		{"open no leader", withOpen(func(o *gamesav1.OpenRound) { o.LeaderId = "" }), "leader"},
		{"open no deadline", withOpen(func(o *gamesav1.OpenRound) { o.Deadline = nil }), "deadline is required"},
		{"open deadline first", withOpen(func(o *gamesav1.OpenRound) { o.Deadline = timestamppb.New(fedT0) }), "not after"},
		{"close", closeCmd(1, 1, h, "a"), ""},
		{"close no contributors", closeCmd(1, 1, h), "no contributors"},
		{"close version 0", closeCmd(1, 0, h, "a"), "model_version"},
		{"close short hash", closeCmd(1, 1, h[:4], "a"), "model_hash"},
		{"close NaN metric", func() *gamesav1.Command {
			c := closeCmd(1, 1, h, "a")
			c.GetCloseRound().Metrics["loss"] = nan()
			return c
		}(), "finite"},
		{"close bad metric name", func() *gamesav1.Command {
			c := closeCmd(1, 1, h, "a")
			c.GetCloseRound().Metrics["Loss!"] = 1
			return c
		}(), "not allowed"},
		{"abort", abortCmd(1, "deadline passed"), ""},
		{"abort round 0", abortCmd(0, ""), "round must be at least 1"},
		{"abort reason too long", abortCmd(1, strings.Repeat("x", MaxReasonLen+1)), "reason"},
		{"empty open", &gamesav1.Command{Op: &gamesav1.Command_OpenRound{}}, "open_round is empty"},
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

// checkRejected fails unless res was refused with the rejection and a
// message containing want.
func checkRejected(t *testing.T, what string, res *gamesav1.CommandResult, rej gamesav1.Rejection, want string) {
	t.Helper()
	if res.GetRejection() != rej || !strings.Contains(res.GetError(), want) {
		t.Errorf("%s = %v %q; want %v containing %q", what, res.GetRejection(), res.GetError(), rej, want)
	}
}

// TestRoundLifecycle walks rounds through the state machine's rules: the
// next number only, one open at a time, a base that must be the latest,
// contributors who took part and reached the minimum, and no decision
// about a round that has ended.
func TestRoundLifecycle(t *testing.T) {
	f := newFSM(defaultDedupLimits)
	h1, h2 := hashOf("v1"), hashOf("v2")

	res := applyAll(t, f, openCmd(1, 0, nil, 2, "a", "b", "c"))[0]
	if res.GetError() != "" || res.GetRound().GetState() != gamesav1.RoundState_ROUND_STATE_OPEN || res.GetRound().GetOpenedIndex() != 1 {
		t.Fatalf("OpenRound(1) = %v; want round 1 open at index 1", res)
	}
	rs := applyAll(t, f,
		openCmd(1, 0, nil, 1, "a"),     // a second leader, same number
		openCmd(2, 0, nil, 1, "a"),     // while round 1 is open
		openCmd(5, 0, nil, 1, "a"),     // skips
		closeCmd(1, 1, h1, "a", "z"),   // z was not invited
		closeCmd(1, 1, h1, "a"),        // fewer than 2
		closeCmd(1, 2, h1, "a", "b"),   // version must be base + 1
		closeCmd(2, 1, h1, "a", "b"),   // not the open round
		abortCmd(2, "not open"),        // neither
		closeCmd(1, 1, h1, "a", "c"),   // good
		closeCmd(1, 1, h1, "a", "c"),   // again: round 1 ended
		openCmd(2, 0, nil, 1, "a"),     // stale base: version 1 exists
		openCmd(2, 1, h2, 1, "a"),      // wrong hash for version 1
		openCmd(2, 1, h1, 1, "a", "b"), // good
		abortCmd(2, "too few updates by the deadline"),
		abortCmd(2, "again"),
	)
	checkRejected(t, "OpenRound(1) again", rs[0], gamesav1.Rejection_REJECTION_STALE, "opened already")
	checkRejected(t, "OpenRound(2) while 1 is open", rs[1], gamesav1.Rejection_REJECTION_FAILED_PRECONDITION, "is open")
	checkRejected(t, "OpenRound(5)", rs[2], gamesav1.Rejection_REJECTION_FAILED_PRECONDITION, "skips")
	checkRejected(t, "CloseRound(stranger)", rs[3], gamesav1.Rejection_REJECTION_FAILED_PRECONDITION, "z did not take part")
	checkRejected(t, "CloseRound(too few)", rs[4], gamesav1.Rejection_REJECTION_FAILED_PRECONDITION, "fewer than its minimum of 2")
	checkRejected(t, "CloseRound(version 2)", rs[5], gamesav1.Rejection_REJECTION_FAILED_PRECONDITION, "the next is 1")
	checkRejected(t, "CloseRound(2)", rs[6], gamesav1.Rejection_REJECTION_STALE, "round 2 is not open (round 1 is open)")
	checkRejected(t, "AbortRound(2)", rs[7], gamesav1.Rejection_REJECTION_STALE, "not open")
	if rs[8].GetError() != "" || rs[8].GetRound().GetState() != gamesav1.RoundState_ROUND_STATE_CLOSED {
		t.Fatalf("CloseRound(1) = %v; want closed", rs[8])
	}
	checkRejected(t, "CloseRound(1) again", rs[9], gamesav1.Rejection_REJECTION_STALE, "no round is open")
	if rs[9].GetRound().GetState() != gamesav1.RoundState_ROUND_STATE_CLOSED {
		t.Errorf("late CloseRound result carries round %v; want the closed round 1", rs[9].GetRound())
	}
	checkRejected(t, "OpenRound(stale base)", rs[10], gamesav1.Rejection_REJECTION_STALE, "not the latest (1)")
	checkRejected(t, "OpenRound(wrong hash)", rs[11], gamesav1.Rejection_REJECTION_STALE, "not the latest")
	if rs[12].GetError() != "" {
		t.Fatalf("OpenRound(2 from v1) = %v; want applied", rs[12])
	}
	if rs[13].GetError() != "" || rs[13].GetRound().GetReason() != "too few updates by the deadline" {
		t.Fatalf("AbortRound(2) = %v; want aborted with the reason", rs[13])
	}
	checkRejected(t, "AbortRound(2) again", rs[14], gamesav1.Rejection_REJECTION_STALE, "not open")

	st := f.state.Load()
	if st.LastRound() != 2 || st.OpenRound() != nil {
		t.Errorf("LastRound = %d, OpenRound = %v; want 2 and none", st.LastRound(), st.OpenRound())
	}
	r1, ok := st.Round(1)
	if !ok || strings.Join(r1.GetContributors(), ",") != "a,c" || r1.GetModelVersion() != 1 || r1.GetSamples() != 1000 || r1.GetMetrics()["updates"] != 2 {
		t.Errorf("Round(1) = %v; want closed by a,c into version 1", r1)
	}
	m := st.GlobalModel("thermal")
	if m.GetVersion() != 1 || !bytes.Equal(m.GetHash(), h1) || m.GetRound() != 1 || m.GetHolder() != "s1" || m.GetIndex() != 10 {
		t.Errorf("GlobalModel(thermal) = %v; want version 1 of round 1 at index 10", m)
	}
	if got, ok := st.ModelByHash(h1); !ok || got.GetVersion() != 1 {
		t.Errorf("ModelByHash(h1) = %v, %v; want version 1", got, ok)
	}
	if st.GlobalModel("anomaly") != nil {
		t.Error("GlobalModel(anomaly) is set; want nil")
	}
	// Refused commands changed nothing: a replay of the good ones alone
	// gives the same rounds and models.
	g := newFSM(defaultDedupLimits)
	for i, c := range []*gamesav1.Command{openCmd(1, 0, nil, 2, "a", "b", "c"), closeCmd(1, 1, h1, "a", "c"), openCmd(2, 1, h1, 1, "a", "b"), abortCmd(2, "too few updates by the deadline")} {
		idx := []uint64{1, 10, 14, 15}[i]
		g.Apply(&raft.Log{Type: raft.LogCommand, Index: idx, Data: mustEncode(t, c)})
	}
	if a, b := st.Rounds(0), g.state.Load().Rounds(0); len(a) != len(b) || !proto.Equal(a[0], b[0]) || !proto.Equal(a[1], b[1]) {
		t.Errorf("rounds after refusals %v; want %v", a, b)
	}
}

// TestRoundsAndModelsAreBounded keeps more rounds and versions than the
// state remembers: the oldest go, and a snapshot restores the same.
func TestRoundsAndModelsAreBounded(t *testing.T) {
	f := newFSM(defaultDedupLimits)
	var base []byte
	for r := uint64(1); r <= MaxRounds+10; r++ {
		v := r - 1
		h := hashOf(fmt.Sprint("v", r))
		applyAll(t, f, openCmd(r, v, base, 1, "a"), closeCmd(r, v+1, h, "a"))
		base = h
	}
	st := f.state.Load()
	rounds := st.Rounds(0)
	if len(rounds) != MaxRounds || rounds[0].GetRound() != 11 {
		t.Errorf("%d rounds from %d; want %d from 11", len(rounds), rounds[0].GetRound(), MaxRounds)
	}
	models := st.GlobalModels("thermal")
	if len(models) != MaxModelVersions || models[len(models)-1].GetVersion() != MaxRounds+10 {
		t.Errorf("%d versions up to %d; want %d up to %d", len(models), models[len(models)-1].GetVersion(), MaxModelVersions, MaxRounds+10)
	}
	if got := st.Rounds(3); len(got) != 3 || got[2].GetRound() != MaxRounds+10 {
		t.Errorf("Rounds(3) = %d rounds ending at %d; want the newest 3", len(got), got[len(got)-1].GetRound())
	}
	snap, err := EncodeSnapshot(st)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeSnapshot(snap)
	if err != nil {
		t.Fatalf("DecodeSnapshot: %v", err)
	}
	again, _ := EncodeSnapshot(back)
	if !bytes.Equal(snap, again) || back.LastRound() != MaxRounds+10 {
		t.Error("federated state does not survive a snapshot")
	}
}

// fedState builds a state with a closed round, an aborted one and an
// open one, and returns its FSM.
func fedFSM(t testing.TB) *fsm {
	f := newFSM(defaultDedupLimits)
	h1 := hashOf("v1")
	for i, c := range []*gamesav1.Command{
		setCmd("r1", "a", "1", 0),
		openCmd(1, 0, nil, 1, "a", "b"), closeCmd(1, 1, h1, "a", "b"),
		openCmd(2, 1, h1, 2, "a", "b", "c"), abortCmd(2, "deadline passed with 1 update"),
		{RequestId: "open-3", Op: openCmd(3, 1, h1, 1, "b", "c").Op},
	} {
		f.Apply(&raft.Log{Type: raft.LogCommand, Index: uint64(i + 1), Data: mustEncode(t, c)})
	}
	return f
}

// TestFedSnapshotRestore: a snapshot carries the rounds (an open one too)
// and the versions; restoring an older one replaces them all.
func TestFedSnapshotRestore(t *testing.T) {
	f := fedFSM(t)
	st := f.state.Load()
	snap, err := EncodeSnapshot(st)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeSnapshot(snap)
	if err != nil {
		t.Fatalf("DecodeSnapshot: %v", err)
	}
	if open := back.OpenRound(); open.GetRound() != 3 || back.LastRound() != 3 || len(back.Rounds(0)) != 3 || back.GlobalModel("thermal").GetVersion() != 1 {
		t.Fatalf("restored: open %v, last %d, %d rounds, model %v", open, back.LastRound(), len(back.Rounds(0)), back.GlobalModel("thermal"))
	}
	if res, ok := back.Request("open-3"); !ok || res.GetRound().GetRound() != 3 {
		t.Errorf("restored dedup record of open-3 = %v, %v; want round 3", res, ok)
	}
	// Rounds go on from the restored state as from the original.
	h2 := hashOf("v2")
	g := newFSM(defaultDedupLimits)
	if err := g.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	a := applyAll(t, f, closeCmd(3, 2, h2, "c"))[0]
	b := applyAll(t, g, closeCmd(3, 2, h2, "c"))[0]
	if !proto.Equal(a, b) || a.GetError() != "" {
		t.Errorf("close after restore = %v; original %v", b, a)
	}
	// Restoring the older snapshot drops round 3's close and version 2.
	if err := f.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	if f.state.Load().GlobalModel("thermal").GetVersion() != 1 || f.state.Load().OpenRound().GetRound() != 3 {
		t.Errorf("after Restore: model %v, open %v; want version 1, round 3 open", f.state.Load().GlobalModel("thermal"), f.state.Load().OpenRound())
	}
}

// TestFedSnapshotRefusesInconsistentState edits a good snapshot into
// states the state machine could never reach: each is refused whole.
func TestFedSnapshotRefusesInconsistentState(t *testing.T) {
	good := fedFSM(t).state.Load().snapshotProto()
	tests := []struct {
		name string
		edit func(s *gamesav1.ClusterStateSnapshot)
		want string
	}{
		{"two open", func(s *gamesav1.ClusterStateSnapshot) {
			s.FederatedRounds[1].State = gamesav1.RoundState_ROUND_STATE_OPEN
			s.FederatedRounds[1].EndedIndex, s.FederatedRounds[1].Reason = 0, ""
		}, "open but not the newest"},
		{"unsorted", func(s *gamesav1.ClusterStateSnapshot) {
			s.FederatedRounds[0], s.FederatedRounds[1] = s.FederatedRounds[1], s.FederatedRounds[0]
		}, "is not after"},
		{"beyond last round", func(s *gamesav1.ClusterStateSnapshot) { s.FederatedLastRound = 2 }, "after the last opened"},
		{"closed without model", func(s *gamesav1.ClusterStateSnapshot) { s.FederatedRounds[0].ModelHash = nil }, "model_hash"},
		{"stranger contributed", func(s *gamesav1.ClusterStateSnapshot) { s.FederatedRounds[0].Contributors = []string{"a", "z"} }, "not a participant"},
		{"ended in the future", func(s *gamesav1.ClusterStateSnapshot) { s.FederatedRounds[1].EndedIndex = 99 }, "ended_index"},
		{"unknown state", func(s *gamesav1.ClusterStateSnapshot) { s.FederatedRounds[0].State = 9 }, "not a round state"},
		{"model short hash", func(s *gamesav1.ClusterStateSnapshot) { s.FederatedModels[0].Hash = []byte{1} }, "hash is 1 bytes"},
		{"model duplicated", func(s *gamesav1.ClusterStateSnapshot) {
			s.FederatedModels = append(s.FederatedModels, proto.CloneOf(s.FederatedModels[0]))
		}, "is not after"},
		{"open round on an old base", func(s *gamesav1.ClusterStateSnapshot) {
			m := proto.CloneOf(s.FederatedModels[0])
			m.Version, m.Hash = 2, hashOf("v2")
			s.FederatedModels = append(s.FederatedModels, m)
		}, "trains from thermal version 1, but the latest is 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := proto.CloneOf(good)
			tt.edit(s)
			b, err := proto.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			_, err = DecodeSnapshot(append(append([]byte(nil), snapshotMagic...), b...))
			if !errors.Is(err, ErrInvalidSnapshot) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("DecodeSnapshot(%s) = %v; want ErrInvalidSnapshot containing %q", tt.name, err, tt.want)
			}
		})
	}
}

// TestFedStateIsImmutable: a held State does not see later rounds, and
// what its accessors return is the caller's to modify.
func TestFedStateIsImmutable(t *testing.T) {
	f := fedFSM(t)
	held := f.state.Load()
	before, _ := EncodeSnapshot(held)
	applyAll(t, f, abortCmd(3, "leader changed"))
	held.OpenRound().Participants[0] = "scribbled"
	held.Rounds(0)[0].Contributors[0] = "scribbled"
	held.GlobalModel("thermal").Hash[0] ^= 1
	after, _ := EncodeSnapshot(held)
	if !bytes.Equal(before, after) {
		t.Fatal("a held State changed")
	}
	if held.OpenRound().GetRound() != 3 || f.state.Load().OpenRound() != nil {
		t.Error("the held State sees the later abort, or the new one does not")
	}
}

// fedSeeds are encoded federated commands for the fuzz targets.
func fedSeeds(tb testing.TB) [][]byte {
	h := hashOf("v1")
	var out [][]byte
	for _, c := range []*gamesav1.Command{
		openCmd(4, 1, h, 1, "a", "b"), openCmd(3, 1, h, 2, "b", "c"), closeCmd(3, 2, hashOf("v2"), "b"),
		closeCmd(3, 2, hashOf("v2"), "b", "c"), abortCmd(3, "deadline"), abortCmd(2, ""),
		{RequestId: "open-3", Op: abortCmd(3, "dup").Op},
	} {
		b, err := proto.Marshal(c)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzFedCommand applies arbitrary entries to a state with federated
// rounds: two state machines agree on every result, and the decoder and
// the state machine agree on what is valid.
func FuzzFedCommand(f *testing.F) {
	for _, s := range fedSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd, err := DecodeCommand(data)
		if err != nil && !errors.Is(err, ErrInvalidCommand) {
			t.Fatalf("DecodeCommand error %v does not wrap ErrInvalidCommand", err)
		}
		var results [2]*gamesav1.CommandResult
		var snaps [2][]byte
		for i := range results {
			m := fedFSM(t)
			results[i] = m.Apply(&raft.Log{Type: raft.LogCommand, Index: 7, Data: data}).(*gamesav1.CommandResult)
			if snaps[i], err = EncodeSnapshot(m.state.Load()); err != nil {
				t.Fatal(err)
			}
		}
		if !proto.Equal(results[0], results[1]) || !bytes.Equal(snaps[0], snaps[1]) {
			t.Fatalf("two FSMs disagree on %x: %v vs %v", data, results[0], results[1])
		}
		if _, err := DecodeSnapshot(snaps[0]); err != nil {
			t.Fatalf("the state after %x does not survive a snapshot: %v", data, err)
		}
		res := results[0]
		if cmd != nil && res.GetRejection() == gamesav1.Rejection_REJECTION_INVALID {
			t.Fatalf("decoder accepts %x (%v) but the FSM rejects it: %s", data, cmd, res.GetError())
		}
	})
}

// FuzzFedSnapshot feeds damaged snapshots with federated state to the
// decoder: it never panics, and what it accepts round-trips.
func FuzzFedSnapshot(f *testing.F) {
	good, err := EncodeSnapshot(fedFSM(f).state.Load())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
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
		if b2, _ := EncodeSnapshot(again); !bytes.Equal(b, b2) {
			t.Fatal("snapshot does not round-trip")
		}
	})
}

// BenchmarkFedRoundApply applies one round's commands (open, then close)
// to a state that remembers MaxRounds rounds: the state machine's cost
// per round, copy-on-write of the federated state included.
func BenchmarkFedRoundApply(b *testing.B) {
	f := newFSM(defaultDedupLimits)
	var base []byte
	r := uint64(0)
	round := func() {
		r++
		h := hashOf(fmt.Sprint("v", r))
		for i, c := range []*gamesav1.Command{openCmd(r, r-1, base, 1, "a", "b", "c"), closeCmd(r, r, h, "a", "b", "c")} {
			res := f.Apply(&raft.Log{Type: raft.LogCommand, Index: 2*r - 1 + uint64(i), Data: mustEncode(b, c)}).(*gamesav1.CommandResult)
			if res.GetError() != "" {
				b.Fatal(res.GetError())
			}
		}
		base = h
	}
	for range MaxRounds {
		round()
	}
	b.ResetTimer()
	for b.Loop() {
		round()
	}
}
