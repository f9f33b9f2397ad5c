package consensus

import (
	"encoding/binary"
	"fmt"

	iradix "github.com/hashicorp/go-immutable-radix"
	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// The dedup table's bounds. Like the command limits they define the state
// machine: every server must evict the same records at the same index.
// 65536 request ids cover about 15 s of writes at the measured peak of
// some 4,500 commits/s (and hours at the agent's own rates): far longer
// than a client takes to retry after a leader change.
const (
	// DedupMaxEntries is how many request ids the table remembers.
	DedupMaxEntries = 65536
	// DedupMaxBytes bounds the table's size as recordCost counts it.
	DedupMaxBytes = 32 << 20
)

// dedupLimits lets tests shrink the table to see eviction.
type dedupLimits struct {
	entries, bytes int
}

var defaultDedupLimits = dedupLimits{entries: DedupMaxEntries, bytes: DedupMaxBytes}

// State is one immutable version of the replicated cluster state. Readers
// may hold it as long as they like: applying later commands builds a new
// State that shares unchanged parts with this one (persistent radix
// trees), so taking a State or a snapshot costs nothing.
type State struct {
	index uint64
	// settings maps a key to its *gamesav1.Setting.
	settings *iradix.Tree
	// requests maps a request id to its first *gamesav1.CommandResult;
	// order maps the result's index (big-endian) to the request id, so
	// its minimum is the oldest record to evict.
	requests     *iradix.Tree
	order        *iradix.Tree
	requestCount int
	requestBytes int

	// The allocation state (state_alloc.go): nodes maps a node id to its
	// *gamesav1.NodeResources, jobs a job id to its *gamesav1.Job, ended
	// an ended job's ended_index (big-endian) to its id, so its minimum is
	// the oldest to drop. Values are never modified once inserted.
	nodes      *iradix.Tree
	jobs       *iradix.Tree
	ended      *iradix.Tree
	activeJobs int
	endedJobs  int
	budget     *gamesav1.PowerBudget // nil: never set
	alloc      *gamesav1.Allocation  // nil: never committed; no placements

	fed *fedState // the federated rounds and models (state_fed.go); never nil
}

func emptyState() *State {
	return &State{
		settings: iradix.New(), requests: iradix.New(), order: iradix.New(),
		nodes: iradix.New(), jobs: iradix.New(), ended: iradix.New(),
		fed: emptyFed,
	}
}

// Index is the Raft log index of the last entry applied to this state, or
// the index of the snapshot it was restored from.
func (s *State) Index() uint64 { return s.index }

// Setting returns a copy of the setting under key.
func (s *State) Setting(key string) (*gamesav1.Setting, bool) {
	v, ok := s.settings.Get([]byte(key))
	if !ok {
		return nil, false
	}
	return proto.Clone(v.(*gamesav1.Setting)).(*gamesav1.Setting), true
}

// Settings returns copies of every setting, sorted by key.
func (s *State) Settings() []*gamesav1.Setting {
	out := make([]*gamesav1.Setting, 0, s.settings.Len())
	s.settings.Root().Walk(func(_ []byte, v any) bool {
		out = append(out, proto.Clone(v.(*gamesav1.Setting)).(*gamesav1.Setting))
		return false
	})
	return out
}

// Request returns a copy of the first result of request id, while the
// dedup table still remembers it.
func (s *State) Request(id string) (*gamesav1.CommandResult, bool) {
	v, ok := s.requests.Get([]byte(id))
	if !ok {
		return nil, false
	}
	return proto.Clone(v.(*gamesav1.CommandResult)).(*gamesav1.CommandResult), true
}

// Requests is how many request ids the dedup table remembers.
func (s *State) Requests() int { return s.requestCount }

// builder applies a batch of log entries on top of a State.
type builder struct {
	limits       dedupLimits
	index        uint64
	settings     *iradix.Txn
	requests     *iradix.Txn
	order        *iradix.Txn
	requestCount int
	requestBytes int

	nodes      *iradix.Txn
	jobs       *iradix.Txn
	ended      *iradix.Txn
	activeJobs int
	endedJobs  int
	budget     *gamesav1.PowerBudget
	alloc      *gamesav1.Allocation
	fed        *fedState // copied on write: see fedState
}

func (s *State) edit(lim dedupLimits) *builder {
	return &builder{
		limits:       lim,
		index:        s.index,
		settings:     s.settings.Txn(),
		requests:     s.requests.Txn(),
		order:        s.order.Txn(),
		requestCount: s.requestCount,
		requestBytes: s.requestBytes,
		nodes:        s.nodes.Txn(),
		jobs:         s.jobs.Txn(),
		ended:        s.ended.Txn(),
		activeJobs:   s.activeJobs,
		endedJobs:    s.endedJobs,
		budget:       s.budget,
		alloc:        s.alloc,
		fed:          s.fed,
	}
}

// state freezes the builder's changes into a new State. The builder must
// not be used afterwards.
func (b *builder) state() *State {
	return &State{
		index:        b.index,
		settings:     b.settings.CommitOnly(),
		requests:     b.requests.CommitOnly(),
		order:        b.order.CommitOnly(),
		requestCount: b.requestCount,
		requestBytes: b.requestBytes,
		nodes:        b.nodes.CommitOnly(),
		jobs:         b.jobs.CommitOnly(),
		ended:        b.ended.CommitOnly(),
		activeJobs:   b.activeJobs,
		endedJobs:    b.endedJobs,
		budget:       b.budget,
		alloc:        b.alloc,
		fed:          b.fed,
	}
}

// applyCommand applies one command entry. It depends only on the state and
// the entry (index and bytes): no clock, no randomness, and every error
// text is built from the command itself, so each server computes the same
// result.
func (b *builder) applyCommand(index uint64, data []byte) *gamesav1.CommandResult {
	b.index = index
	cmd := new(gamesav1.Command)
	if len(data) > MaxCommandSize || proto.Unmarshal(data, cmd) != nil {
		// The decoder's own message may change between library versions;
		// a fixed text keeps the result identical on every server.
		return rejected(index, gamesav1.Rejection_REJECTION_INVALID, "invalid command: undecodable entry")
	}
	id := cmd.GetRequestId()
	dedup := id != "" && validateRequestID(id) == nil
	if dedup {
		if v, ok := b.requests.Get([]byte(id)); ok {
			dup := proto.Clone(v.(*gamesav1.CommandResult)).(*gamesav1.CommandResult)
			dup.Duplicate = true
			return dup
		}
	}
	var res *gamesav1.CommandResult
	if err := validateCommand(cmd); err != nil {
		res = rejected(index, gamesav1.Rejection_REJECTION_INVALID, "invalid command: "+err.Error())
	} else {
		switch op := cmd.GetOp().(type) {
		case *gamesav1.Command_SetSetting:
			res = b.setSetting(index, op.SetSetting)
		case *gamesav1.Command_DeleteSetting:
			res = b.deleteSetting(index, op.DeleteSetting)
		default:
			var handled bool
			if res, handled = b.applyFedOp(index, cmd); !handled {
				res = b.applyAllocOp(index, cmd)
			}
		}
	}
	if dedup {
		b.remember(id, res)
	}
	return res
}

func rejected(index uint64, why gamesav1.Rejection, msg string) *gamesav1.CommandResult {
	return &gamesav1.CommandResult{Index: index, Error: msg, Rejection: why}
}

// current returns the setting under key and its version (0 when missing).
func (b *builder) current(key string) (*gamesav1.Setting, uint64) {
	v, ok := b.settings.Get([]byte(key))
	if !ok {
		return nil, 0
	}
	s := v.(*gamesav1.Setting)
	return s, s.GetVersion()
}

func mismatch(index uint64, key string, cur *gamesav1.Setting, have, want uint64) *gamesav1.CommandResult {
	res := rejected(index, gamesav1.Rejection_REJECTION_VERSION_MISMATCH,
		fmt.Sprintf("version mismatch: %s is at version %d, not %d", key, have, want))
	res.Setting = cur
	return res
}

func (b *builder) setSetting(index uint64, op *gamesav1.SetSetting) *gamesav1.CommandResult {
	cur, ver := b.current(op.GetKey())
	if want := op.GetExpectedVersion(); want != 0 && want != ver {
		return mismatch(index, op.GetKey(), cur, ver, want)
	}
	s := &gamesav1.Setting{Key: op.GetKey(), Value: op.GetValue(), Version: index}
	b.settings.Insert([]byte(s.Key), s)
	return &gamesav1.CommandResult{Index: index, Setting: s}
}

func (b *builder) deleteSetting(index uint64, op *gamesav1.DeleteSetting) *gamesav1.CommandResult {
	cur, ver := b.current(op.GetKey())
	if want := op.GetExpectedVersion(); want != 0 && want != ver {
		return mismatch(index, op.GetKey(), cur, ver, want)
	}
	if cur != nil {
		b.settings.Delete([]byte(op.GetKey()))
	}
	return &gamesav1.CommandResult{Index: index}
}

// remember records a request's first result and evicts the oldest records
// beyond the table's bounds.
func (b *builder) remember(id string, res *gamesav1.CommandResult) {
	b.requests.Insert([]byte(id), res)
	b.order.Insert(indexKey(res.GetIndex()), id)
	b.requestCount++
	b.requestBytes += recordCost(id, res)
	for b.requestCount > b.limits.entries || b.requestBytes > b.limits.bytes {
		k, v, ok := b.order.Root().Minimum()
		if !ok {
			break
		}
		old := v.(string)
		r, _ := b.requests.Delete([]byte(old))
		b.order.Delete(k)
		b.requestCount--
		b.requestBytes -= recordCost(old, r.(*gamesav1.CommandResult))
	}
}

// recordCost approximates a record's memory from its contents alone (not
// from proto.Size, whose encoding could change between versions), so every
// server evicts alike.
func recordCost(id string, res *gamesav1.CommandResult) int {
	s := res.GetSetting()
	return 64 + len(id) + len(res.GetError()) + len(s.GetKey()) + len(s.GetValue()) +
		jobCost(res.GetJob()) + nodeCost(res.GetNode()) + roundCost(res.GetRound())
}

func indexKey(index uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, index)
}
