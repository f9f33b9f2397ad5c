package consensus

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func mustEncode(t testing.TB, cmd *gamesav1.Command) []byte {
	t.Helper()
	b, err := proto.Marshal(cmd)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	return b
}

func setCmd(id, key, value string, expected uint64) *gamesav1.Command {
	return &gamesav1.Command{RequestId: id, Op: &gamesav1.Command_SetSetting{SetSetting: &gamesav1.SetSetting{
		Key: key, Value: value, ExpectedVersion: expected,
	}}}
}

func delCmd(id, key string, expected uint64) *gamesav1.Command {
	return &gamesav1.Command{RequestId: id, Op: &gamesav1.Command_DeleteSetting{DeleteSetting: &gamesav1.DeleteSetting{
		Key: key, ExpectedVersion: expected,
	}}}
}

// formatResult prints a result the way the FSM scenarios expect it.
func formatResult(r *gamesav1.CommandResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "index=%d", r.GetIndex())
	if r.GetDuplicate() {
		b.WriteString(" duplicate")
	}
	if s := r.GetSetting(); s != nil {
		fmt.Fprintf(&b, " setting=%s=%q@%d", s.GetKey(), s.GetValue(), s.GetVersion())
	}
	if r.GetRejection() != gamesav1.Rejection_REJECTION_UNSPECIFIED {
		fmt.Fprintf(&b, " rejected=%s error=%q", strings.TrimPrefix(r.GetRejection().String(), "REJECTION_"), r.GetError())
	}
	return b.String()
}

func formatState(st *State) string {
	var b strings.Builder
	fmt.Fprintf(&b, "state index=%d requests=%d\n", st.Index(), st.Requests())
	for _, s := range st.Settings() {
		fmt.Fprintf(&b, "  %s=%q@%d\n", s.GetKey(), s.GetValue(), s.GetVersion())
	}
	return b.String()
}

// TestFSMScenarios replays testdata/fsm: each line is one log entry
// (set, delete, raw bytes, a configuration entry) or a command to show
// the state or snapshot and restore it; the trace is the golden output.
func TestFSMScenarios(t *testing.T) {
	runScenarios(t, "fsm", func(t *testing.T, input []string) string {
		f := newFSM(defaultDedupLimits)
		var out strings.Builder
		var index uint64
		for _, line := range input {
			word, a := fields(t, line)
			u := func(k string) uint64 {
				if a[k] == "" {
					return 0
				}
				v, err := strconv.ParseUint(a[k], 10, 64)
				if err != nil {
					t.Fatalf("line %q: %s: %v", line, k, err)
				}
				return v
			}
			var entry *raft.Log
			switch word {
			case "limits":
				n, _ := strconv.Atoi(a["entries"])
				bytes, _ := strconv.Atoi(a["bytes"])
				f.limits = dedupLimits{entries: n, bytes: bytes}
				continue
			case "set":
				index++
				entry = &raft.Log{Type: raft.LogCommand, Index: index, Data: mustEncode(t, setCmd(a["id"], a["key"], a["value"], u("expect")))}
			case "delete":
				index++
				entry = &raft.Log{Type: raft.LogCommand, Index: index, Data: mustEncode(t, delCmd(a["id"], a["key"], u("expect")))}
			case "raw":
				index++
				data, err := strconv.Unquote(a["data"])
				if err != nil {
					t.Fatalf("line %q: %v", line, err)
				}
				entry = &raft.Log{Type: raft.LogCommand, Index: index, Data: []byte(data)}
			case "config":
				index++
				entry = &raft.Log{Type: raft.LogConfiguration, Index: index}
			case "state":
				out.WriteString(formatState(f.state.Load()))
				continue
			case "roundtrip":
				// Snapshot, restore into a fresh FSM, and carry on there.
				var buf bytes.Buffer
				snap, err := f.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				if err := snap.Persist(&bufSink{Buffer: &buf}); err != nil {
					t.Fatal(err)
				}
				g := newFSM(f.limits)
				if err := g.Restore(io.NopCloser(&buf)); err != nil {
					t.Fatalf("Restore: %v", err)
				}
				f = g
				fmt.Fprintf(&out, "roundtrip ok\n")
				continue
			default:
				t.Fatalf("unknown scenario line %q", line)
			}
			res := f.ApplyBatch([]*raft.Log{entry})[0]
			if r, ok := res.(*gamesav1.CommandResult); ok {
				fmt.Fprintf(&out, "%s -> %s\n", line, formatResult(r))
			} else {
				fmt.Fprintf(&out, "%s -> %v\n", line, res)
			}
		}
		return out.String()
	})
}

// bufSink is a raft.SnapshotSink over a buffer.
type bufSink struct {
	*bytes.Buffer
	cancelled bool
}

func (s *bufSink) ID() string    { return "test" }
func (s *bufSink) Close() error  { return nil }
func (s *bufSink) Cancel() error { s.cancelled = true; return nil }

// TestApplyIsDeterministic feeds the same log to two FSMs, one entry at a
// time and in uneven batches, and expects byte-identical snapshots and
// identical results.
func TestApplyIsDeterministic(t *testing.T) {
	var logs []*raft.Log
	for i := 1; i <= 500; i++ {
		var cmd *gamesav1.Command
		k := fmt.Sprintf("key/%d", i%37)
		switch {
		case i%11 == 0:
			cmd = delCmd(fmt.Sprintf("req-%d", i%97), k, 0)
		case i%7 == 0:
			cmd = setCmd(fmt.Sprintf("req-%d", i), k, "cas", uint64(i-7))
		default:
			cmd = setCmd(fmt.Sprintf("req-%d", i%200), k, strconv.Itoa(i), 0)
		}
		logs = append(logs, &raft.Log{Type: raft.LogCommand, Index: uint64(i), Data: mustEncode(t, cmd)})
	}
	lim := dedupLimits{entries: 50, bytes: 1 << 20}
	a, b := newFSM(lim), newFSM(lim)
	var ra, rb []any
	for _, l := range logs {
		ra = append(ra, a.Apply(l))
	}
	for i := 0; i < len(logs); {
		n := min(1+i%13, len(logs)-i)
		rb = append(rb, b.ApplyBatch(logs[i:i+n])...)
		i += n
	}
	for i := range ra {
		if !proto.Equal(ra[i].(*gamesav1.CommandResult), rb[i].(*gamesav1.CommandResult)) {
			t.Fatalf("entry %d: results differ: %v vs %v", i+1, ra[i], rb[i])
		}
	}
	sa, err := EncodeSnapshot(a.state.Load())
	if err != nil {
		t.Fatal(err)
	}
	sb, err := EncodeSnapshot(b.state.Load())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sa, sb) {
		t.Fatal("snapshots of the same log differ")
	}
	if got := a.state.Load().Requests(); got != 50 {
		t.Errorf("dedup table holds %d requests; want the limit, 50", got)
	}
}

// TestStateIsImmutable holds a State across later applies and a restore:
// it must not change.
func TestStateIsImmutable(t *testing.T) {
	f := newFSM(defaultDedupLimits)
	f.Apply(&raft.Log{Type: raft.LogCommand, Index: 1, Data: mustEncode(t, setCmd("a", "k", "one", 0))})
	held := f.state.Load()
	before, _ := EncodeSnapshot(held)
	f.Apply(&raft.Log{Type: raft.LogCommand, Index: 2, Data: mustEncode(t, setCmd("b", "k", "two", 0))})
	f.Apply(&raft.Log{Type: raft.LogCommand, Index: 3, Data: mustEncode(t, setCmd("c", "other", "x", 0))})
	// A caller mutating what it was given must not reach the state.
	if s, ok := held.Setting("k"); ok {
		s.Value = "scribbled"
	}
	for _, s := range held.Settings() {
		s.Value = "scribbled"
	}
	after, _ := EncodeSnapshot(held)
	if !bytes.Equal(before, after) {
		t.Fatal("a held State changed after later applies")
	}
	if got, _ := held.Setting("k"); got.GetValue() != "one" {
		t.Errorf("held.Setting(k) = %q; want %q", got.GetValue(), "one")
	}
	if got, _ := f.state.Load().Setting("k"); got.GetValue() != "two" {
		t.Errorf("current Setting(k) = %q; want %q", got.GetValue(), "two")
	}
}

// TestRestoreReplacesEverything restores an older snapshot over a state
// with more keys and requests: nothing of the newer state survives.
func TestRestoreReplacesEverything(t *testing.T) {
	f := newFSM(defaultDedupLimits)
	f.Apply(&raft.Log{Type: raft.LogCommand, Index: 1, Data: mustEncode(t, setCmd("r1", "kept", "1", 0))})
	snap, err := EncodeSnapshot(f.state.Load())
	if err != nil {
		t.Fatal(err)
	}
	f.Apply(&raft.Log{Type: raft.LogCommand, Index: 2, Data: mustEncode(t, setCmd("r2", "gone", "2", 0))})
	if err := f.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	st := f.state.Load()
	if _, ok := st.Setting("gone"); ok {
		t.Error("setting written after the snapshot survived Restore")
	}
	if _, ok := st.Request("r2"); ok {
		t.Error("request recorded after the snapshot survived Restore")
	}
	if st.Index() != 1 {
		t.Errorf("Index() after Restore = %d; want 1", st.Index())
	}
	// The request id of the restored table is still deduplicated.
	res := f.Apply(&raft.Log{Type: raft.LogCommand, Index: 2, Data: mustEncode(t, setCmd("r1", "kept", "other", 0))}).(*gamesav1.CommandResult)
	if !res.GetDuplicate() || res.GetIndex() != 1 {
		t.Errorf("retry of r1 after Restore = %v; want the duplicate of index 1", formatResult(res))
	}
}

func TestRestoreRejectsDamagedSnapshots(t *testing.T) {
	f := newFSM(defaultDedupLimits)
	f.Apply(&raft.Log{Type: raft.LogCommand, Index: 1, Data: mustEncode(t, setCmd("r1", "a", "1", 0))})
	f.Apply(&raft.Log{Type: raft.LogCommand, Index: 2, Data: mustEncode(t, setCmd("r2", "b", "2", 0))})
	good := f.state.Load().snapshotProto()
	enc := func(s *gamesav1.ClusterStateSnapshot) []byte {
		b, err := proto.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return append(append([]byte(nil), snapshotMagic...), b...)
	}
	tests := []struct {
		name  string
		bytes func() []byte
	}{
		{"no header", func() []byte { b, _ := proto.Marshal(good); return b }},
		{"truncated", func() []byte { b := enc(good); return b[:len(b)-3] }},
		{"unsorted keys", func() []byte {
			s := proto.Clone(good).(*gamesav1.ClusterStateSnapshot)
			s.Settings[0], s.Settings[1] = s.Settings[1], s.Settings[0]
			return enc(s)
		}},
		{"bad key", func() []byte {
			s := proto.Clone(good).(*gamesav1.ClusterStateSnapshot)
			s.Settings[0].Key = "Upper"
			return enc(s)
		}},
		{"version beyond applied index", func() []byte {
			s := proto.Clone(good).(*gamesav1.ClusterStateSnapshot)
			s.AppliedIndex = 1
			return enc(s)
		}},
		{"request twice", func() []byte {
			s := proto.Clone(good).(*gamesav1.ClusterStateSnapshot)
			s.Requests[1].RequestId = s.Requests[0].RequestId
			return enc(s)
		}},
		{"request out of order", func() []byte {
			s := proto.Clone(good).(*gamesav1.ClusterStateSnapshot)
			s.Requests[0], s.Requests[1] = s.Requests[1], s.Requests[0]
			return enc(s)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newFSM(defaultDedupLimits)
			err := g.Restore(io.NopCloser(bytes.NewReader(tt.bytes())))
			if err == nil {
				t.Fatalf("Restore(%s) = nil; want an error", tt.name)
			}
			if g.state.Load().Index() != 0 {
				t.Errorf("a failed Restore changed the state")
			}
		})
	}
	if _, err := DecodeSnapshot(enc(good)); err != nil {
		t.Fatalf("DecodeSnapshot(good) = %v", err)
	}
}
