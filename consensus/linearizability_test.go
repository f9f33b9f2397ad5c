package consensus_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/krystalstack/gamesa/consensus"
	"github.com/krystalstack/gamesa/consensus/consensustest"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

var (
	linRuns     = flag.Int("lin.runs", 3, "how many chaos histories TestLinearizable records and checks")
	linDuration = flag.Duration("lin.duration", 4*time.Second, "how long each history runs")
)

// The model's operations.
const (
	opRead = iota
	opSet
	opCAS
	opDelete
)

type linInput struct {
	Op     int
	Key    string
	Value  string
	Expect uint64
}

type linOutput struct {
	// Unknown marks a write whose outcome the client never learned; such
	// an operation stays open to the end of the history.
	Unknown  bool
	Rejected bool
	Value    string
	Version  uint64
}

// linState is one key. Version is the log index of the last write; after
// a write of unknown outcome only a lower bound (Floor) is known until a
// read or a CAS reveals it.
type linState struct {
	Value   string
	Version uint64
	Known   bool
	Floor   uint64
}

// observe checks that the key's version could be v and pins it.
func (s linState) observe(v uint64) (linState, bool) {
	if s.Known {
		return s, v == s.Version
	}
	if v <= s.Floor {
		return s, false
	}
	s.Version, s.Known, s.Floor = v, true, 0
	return s, true
}

func (s linState) lowerBound() uint64 {
	if s.Known {
		return s.Version
	}
	return s.Floor
}

// settingsModel is the sequential specification of one setting.
var settingsModel = porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(linInput).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() []any { return []any{linState{Known: true}} },
	Step: func(state, input, output any) []any {
		s, in, out := state.(linState), input.(linInput), output.(linOutput)
		switch in.Op {
		case opRead:
			if out.Value != s.Value {
				return nil
			}
			if next, ok := s.observe(out.Version); ok {
				return []any{next}
			}
			return nil
		case opSet:
			if out.Unknown {
				return []any{linState{Value: in.Value, Floor: s.lowerBound()}}
			}
			if out.Version <= s.lowerBound() {
				return nil
			}
			return []any{linState{Value: in.Value, Version: out.Version, Known: true}}
		case opCAS:
			switch {
			case out.Unknown:
				next := []any{s} // not applied (the version differed)
				if (s.Known && s.Version == in.Expect) || (!s.Known && in.Expect > s.Floor) {
					next = append(next, linState{Value: in.Value, Floor: in.Expect})
				}
				return next
			case out.Rejected:
				if out.Version == in.Expect || out.Value != s.Value {
					return nil
				}
				if next, ok := s.observe(out.Version); ok {
					return []any{next}
				}
				return nil
			default:
				if _, ok := s.observe(in.Expect); !ok || out.Version <= in.Expect {
					return nil
				}
				return []any{linState{Value: in.Value, Version: out.Version, Known: true}}
			}
		case opDelete:
			return []any{linState{Known: true}}
		}
		return nil
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		res := fmt.Sprintf("%q@%d", out.Value, out.Version)
		switch {
		case out.Unknown:
			res = "unknown"
		case out.Rejected:
			res = "rejected, now " + res
		}
		switch in.Op {
		case opRead:
			return fmt.Sprintf("get(%s) -> %s", in.Key, res)
		case opSet:
			return fmt.Sprintf("set(%s, %q) -> %s", in.Key, in.Value, res)
		case opCAS:
			return fmt.Sprintf("cas(%s, @%d, %q) -> %s", in.Key, in.Expect, in.Value, res)
		default:
			return fmt.Sprintf("delete(%s) -> %s", in.Key, res)
		}
	},
	DescribeState: func(state any) string {
		s := state.(linState)
		if s.Known {
			return fmt.Sprintf("%q@%d", s.Value, s.Version)
		}
		return fmt.Sprintf("%q@>%d", s.Value, s.Floor)
	},
}

// TestLinearizable records concurrent writes (plain, compare-and-set,
// delete) and consistent reads from several clients while a chaos loop
// kills and restarts leaders and partitions servers, then checks the
// history with porcupine. A write whose outcome a client never learned
// stays open-ended, as in etcd's robustness tests; clients retry with the
// same request id, so the dedup table is exercised too.
func TestLinearizable(t *testing.T) {
	runs, d := *linRuns, *linDuration
	if testing.Short() {
		runs, d = 1, 2*time.Second
	}
	for run := range runs {
		t.Run(fmt.Sprintf("run-%d", run), func(t *testing.T) {
			ops := recordHistory(t, uint64(run), d)
			var writes, reads, open int
			for _, op := range ops {
				switch {
				case op.Output.(linOutput).Unknown:
					open++
				case op.Input.(linInput).Op == opRead:
					reads++
				default:
					writes++
				}
			}
			t.Logf("history: %d writes, %d reads, %d open-ended", writes, reads, open)
			if writes < 20 || reads < 20 {
				t.Fatalf("history too thin to mean anything: %d writes, %d reads", writes, reads)
			}
			model := settingsModel.ToModel()
			res, info := porcupine.CheckOperationsVerbose(model, ops, 60*time.Second)
			switch res {
			case porcupine.Ok:
			case porcupine.Unknown:
				t.Fatalf("porcupine timed out checking %d operations", len(ops))
			default:
				path := filepath.Join(os.TempDir(), fmt.Sprintf("consensus-linearizability-%d.html", time.Now().UnixNano()))
				if err := porcupine.VisualizePath(model, info, path); err != nil {
					t.Logf("writing the visualization: %v", err)
				}
				t.Fatalf("history of %d operations is not linearizable; see %s", len(ops), path)
			}
		})
	}
}

// recordHistory runs clients and chaos against five in-memory servers for
// d and returns the history.
func recordHistory(t *testing.T, seed uint64, d time.Duration) []porcupine.Operation {
	c := consensustest.New(t, 5, consensustest.Options{Inmem: true})
	c.WaitLeader(20 * time.Second)
	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }

	var mu sync.Mutex
	var ops []porcupine.Operation
	record := func(op porcupine.Operation) {
		mu.Lock()
		ops = append(ops, op)
		mu.Unlock()
	}
	ctx, stop := context.WithTimeout(context.Background(), d)
	defer stop()
	var wg sync.WaitGroup
	const clients = 6
	for id := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runClient(ctx, c, id, rand.New(rand.NewPCG(seed, uint64(id))), now, record)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		chaos(ctx, t, c, rand.New(rand.NewPCG(seed, 1000)))
	}()
	wg.Wait()
	return ops
}

// chaos kills leaders, partitions servers and heals, until ctx ends; it
// leaves every server running and connected.
func chaos(ctx context.Context, t *testing.T, c *consensustest.Cluster, rng *rand.Rand) {
	pause := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Duration(200+rng.IntN(500)) * time.Millisecond):
			return true
		}
	}
	defer func() {
		c.Heal()
		for i := range c.Len() {
			if c.Server(i) == nil {
				c.Restart(i)
			}
		}
	}()
	for pause() {
		leader, _ := c.Leader()
		switch rng.IntN(4) {
		case 0: // kill the leader, bring it back after a while
			if leader < 0 {
				continue
			}
			t.Logf("chaos: kill leader server-%d", leader)
			c.Stop(leader)
			if !pause() {
				return
			}
			c.Restart(leader)
		case 1: // the leader and one follower are cut off
			if leader < 0 {
				continue
			}
			other := (leader + 1 + rng.IntN(4)) % 5
			t.Logf("chaos: partition {server-%d, server-%d} from the rest", leader, other)
			var rest []int
			for i := range 5 {
				if i != leader && i != other {
					rest = append(rest, i)
				}
			}
			c.Partition([]int{leader, other}, rest)
			if !pause() {
				return
			}
			c.Heal()
		case 2: // a random server is isolated
			i := rng.IntN(5)
			t.Logf("chaos: isolate server-%d", i)
			var rest []int
			for j := range 5 {
				if j != i {
					rest = append(rest, j)
				}
			}
			c.Partition([]int{i}, rest)
			if !pause() {
				return
			}
			c.Heal()
		default: // quiet period
		}
	}
}

var linKeys = []string{"k0", "k1", "k2"}

// runClient issues operations one after another until ctx ends.
func runClient(ctx context.Context, c *consensustest.Cluster, id int, rng *rand.Rand, now func() int64, record func(porcupine.Operation)) {
	versions := map[string]uint64{} // the last version this client saw per key
	for n := 0; ctx.Err() == nil; n++ {
		in := linInput{Key: linKeys[rng.IntN(len(linKeys))]}
		switch r := rng.IntN(10); {
		case r < 4:
			in.Op = opRead
		case r < 7:
			in.Op, in.Value = opSet, fmt.Sprintf("c%d-%d", id, n)
		case r < 9:
			in.Op, in.Value, in.Expect = opCAS, fmt.Sprintf("c%d-%d", id, n), versions[in.Key]
			if in.Expect == 0 {
				in.Op = opSet // a CAS on version 0 is not a CAS
			}
		default:
			in.Op = opDelete
		}
		call := now()
		out, ok := do(ctx, c, rng, in, fmt.Sprintf("c%d-%d", id, n))
		if !ok {
			continue // failed before submission: no effect, not in the history
		}
		ret := now()
		if out.Unknown {
			ret = 1 << 62 // open-ended: it may take effect any time after the call
		} else if out.Version != 0 {
			versions[in.Key] = out.Version
		}
		record(porcupine.Operation{ClientId: id, Input: in, Call: call, Output: out, Return: ret})
	}
}

// do runs one operation, retrying on other servers for up to 3 s. ok is
// false when the operation certainly had no effect (a read that failed,
// a write never submitted).
func do(ctx context.Context, c *consensustest.Cluster, rng *rand.Rand, in linInput, reqID string) (linOutput, bool) {
	var cmd *gamesav1.Command
	switch in.Op {
	case opSet:
		cmd = set(reqID, in.Key, in.Value, 0)
	case opCAS:
		cmd = set(reqID, in.Key, in.Value, in.Expect)
	case opDelete:
		cmd = del(reqID, in.Key, 0)
	}
	deadline := time.Now().Add(3 * time.Second)
	submitted := false
	for time.Now().Before(deadline) {
		// Usually the leader; sometimes any server, to exercise refusals.
		var s *consensus.Server
		if rng.IntN(5) == 0 {
			s = c.Server(rng.IntN(c.Len()))
		} else {
			_, s = c.Leader()
		}
		if s == nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		octx, cancel := context.WithTimeout(context.Background(), time.Second)
		if cmd == nil {
			st, err := s.ConsistentState(octx)
			cancel()
			if err != nil {
				continue
			}
			var out linOutput
			if setting, ok := st.Setting(in.Key); ok {
				out.Value, out.Version = setting.GetValue(), setting.GetVersion()
			}
			return out, true
		}
		res, err := s.Apply(octx, cmd)
		cancel()
		switch {
		case err == nil:
			out := linOutput{Rejected: res.GetRejection() != gamesav1.Rejection_REJECTION_UNSPECIFIED}
			if setting := res.GetSetting(); setting != nil {
				out.Value, out.Version = setting.GetValue(), setting.GetVersion()
			}
			return out, true
		case errors.Is(err, consensus.ErrUnknownOutcome):
			submitted = true
			if rng.IntN(3) == 0 {
				// Give up now and then, leaving the write open-ended.
				return linOutput{Unknown: true}, true
			}
		case errors.Is(err, consensus.ErrNotLeader), errors.Is(err, consensus.ErrShutdown),
			errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			// Not submitted; try again elsewhere.
		default:
			panic(fmt.Sprintf("Apply(%v): unexpected error %v", cmd, err))
		}
		if ctx.Err() != nil && !submitted {
			return linOutput{}, false
		}
	}
	if submitted {
		return linOutput{Unknown: true}, true
	}
	return linOutput{}, false
}

// TestLinearizabilityModel checks the checker: small histories with a
// known verdict, so TestLinearizable's passes mean something.
func TestLinearizabilityModel(t *testing.T) {
	type o = porcupine.Operation
	const inf = 1 << 62
	get := func(call, ret int64, value string, version uint64) o {
		return o{Input: linInput{Op: opRead, Key: "k"}, Call: call, Return: ret, Output: linOutput{Value: value, Version: version}}
	}
	put := func(call, ret int64, value string, version uint64) o {
		return o{Input: linInput{Op: opSet, Key: "k", Value: value}, Call: call, Return: ret, Output: linOutput{Version: version}}
	}
	unknownPut := func(call int64, value string) o {
		return o{Input: linInput{Op: opSet, Key: "k", Value: value}, Call: call, Return: inf, Output: linOutput{Unknown: true}}
	}
	cas := func(call, ret int64, value string, expect uint64, out linOutput) o {
		return o{Input: linInput{Op: opCAS, Key: "k", Value: value, Expect: expect}, Call: call, Return: ret, Output: out}
	}
	tests := []struct {
		name string
		ops  []o
		want porcupine.CheckResult
	}{
		{"read your write", []o{put(0, 1, "a", 5), get(2, 3, "a", 5)}, porcupine.Ok},
		{"stale read", []o{put(0, 1, "a", 5), put(2, 3, "b", 6), get(4, 5, "a", 5)}, porcupine.Illegal},
		{"concurrent read may see either", []o{put(0, 1, "a", 5), put(2, 6, "b", 6), get(3, 4, "a", 5)}, porcupine.Ok},
		{"versions go up", []o{put(0, 1, "a", 5), put(2, 3, "b", 4)}, porcupine.Illegal},
		{"read of a value never written", []o{get(0, 1, "x", 3)}, porcupine.Illegal},
		{"unknown write seen later", []o{unknownPut(0, "a"), get(5, 6, "a", 9), get(7, 8, "a", 9)}, porcupine.Ok},
		{"unknown write never seen", []o{put(0, 1, "a", 5), unknownPut(2, "b"), get(5, 6, "a", 5)}, porcupine.Ok},
		{"unknown write's version is fixed once seen", []o{unknownPut(0, "a"), get(5, 6, "a", 9), get(7, 8, "a", 10)}, porcupine.Illegal},
		{"cas on the current version", []o{put(0, 1, "a", 5), cas(2, 3, "b", 5, linOutput{Value: "b", Version: 7}), get(4, 5, "b", 7)}, porcupine.Ok},
		{"cas on a stale version applied", []o{put(0, 1, "a", 5), put(2, 3, "b", 6), cas(4, 5, "c", 5, linOutput{Value: "c", Version: 8})}, porcupine.Illegal},
		{"cas rejected shows the current value", []o{put(0, 1, "a", 5), cas(2, 3, "b", 4, linOutput{Rejected: true, Value: "a", Version: 5})}, porcupine.Ok},
		{"cas rejected with a wrong current value", []o{put(0, 1, "a", 5), cas(2, 3, "b", 4, linOutput{Rejected: true, Value: "z", Version: 5})}, porcupine.Illegal},
		{"write applied twice", []o{put(0, 10, "a", 7), get(1, 2, "a", 5)}, porcupine.Illegal},
	}
	model := settingsModel.ToModel()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := porcupine.CheckOperations(model, tt.ops); (got && tt.want != porcupine.Ok) || (!got && tt.want == porcupine.Ok) {
				t.Errorf("CheckOperations(%s) = %v; want %v", tt.name, got, tt.want)
			}
		})
	}
}
