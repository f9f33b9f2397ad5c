package consensus

import (
	"fmt"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Replay applies cmds, as the log entries 1..len(cmds), to an empty state
// and returns the resulting State with each command's result: the state
// machine without Raft, for tests and tools that need a State. An invalid
// command is rejected as it would be in the log; the error is only for a
// command that does not encode.
func Replay(cmds ...*gamesav1.Command) (*State, []*gamesav1.CommandResult, error) {
	f := newFSM(defaultDedupLimits)
	logs := make([]*raft.Log, len(cmds))
	for i, c := range cmds {
		data, err := proto.Marshal(c)
		if err != nil {
			return nil, nil, fmt.Errorf("command %d: %w", i+1, err)
		}
		logs[i] = &raft.Log{Type: raft.LogCommand, Index: uint64(i + 1), Data: data}
	}
	out := f.ApplyBatch(logs)
	res := make([]*gamesav1.CommandResult, len(out))
	for i, r := range out {
		res[i] = r.(*gamesav1.CommandResult)
	}
	return f.state.Load(), res, nil
}
