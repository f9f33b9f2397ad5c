package consensus

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestReconcileScenarios replays testdata/reconcile. Lines:
//
//	policy promote=D slack=N remove-failed=D
//	leader id=ID commit=N
//	now t=D                      (time since the scenario's epoch)
//	server id=ID addr=A voter=B  (the Raft configuration)
//	member id=ID addr=A status=alive|left|failed since=D applied=N
//	forget id=ID                 (gossip no longer knows the member)
//	reconcile                    (prints the changes)
//	apply                        (applies the last changes to the configuration)
func TestReconcileScenarios(t *testing.T) {
	runScenarios(t, "reconcile", func(t *testing.T, input []string) string {
		var (
			cfg     []ServerInfo
			members []MemberStatus
			leader  string
			commit  uint64
			now     = epoch
			policy  = DefaultReconcilePolicy()
			last    []Change
			out     strings.Builder
		)
		dur := func(line, v string) time.Duration {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			return d
		}
		num := func(line, v string) uint64 {
			if v == "" {
				return 0
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			return n
		}
		for _, line := range input {
			word, a := fields(t, line)
			switch word {
			case "policy":
				policy = ReconcilePolicy{PromoteAfter: dur(line, a["promote"]), CatchUpSlack: num(line, a["slack"]), RemoveFailedAfter: dur(line, a["remove-failed"])}
			case "leader":
				leader, commit = a["id"], num(line, a["commit"])
			case "now":
				now = epoch.Add(dur(line, a["t"]))
			case "server":
				cfg = slices.DeleteFunc(cfg, func(s ServerInfo) bool { return s.ID == a["id"] })
				cfg = append(cfg, ServerInfo{ID: a["id"], Addr: a["addr"], Voter: a["voter"] == "true"})
			case "member":
				st := map[string]Status{"alive": StatusAlive, "left": StatusLeft, "failed": StatusFailed}[a["status"]]
				if st == 0 {
					t.Fatalf("line %q: unknown status", line)
				}
				members = slices.DeleteFunc(members, func(m MemberStatus) bool { return m.ID == a["id"] })
				members = append(members, MemberStatus{ID: a["id"], RaftAddr: a["addr"], Status: st, Since: epoch.Add(dur(line, a["since"])), AppliedIndex: num(line, a["applied"])})
			case "forget":
				members = slices.DeleteFunc(members, func(m MemberStatus) bool { return m.ID == a["id"] })
			case "reconcile":
				last = Reconcile(cfg, members, leader, commit, now, policy)
				fmt.Fprintf(&out, "reconcile at %v:\n", now.Sub(epoch))
				if len(last) == 0 {
					out.WriteString("  (no changes)\n")
				}
				for _, c := range last {
					fmt.Fprintf(&out, "  %v\n", c)
				}
			case "apply":
				cfg = applyToConfig(cfg, last)
				var ids []string
				for _, s := range cfg {
					ids = append(ids, fmt.Sprintf("%s@%s/%s", s.ID, s.Addr, map[bool]string{true: "voter", false: "nonvoter"}[s.Voter]))
				}
				fmt.Fprintf(&out, "configuration: %s\n", strings.Join(ids, " "))
			default:
				t.Fatalf("unknown scenario line %q", line)
			}
		}
		return out.String()
	})
}

// applyToConfig is what ApplyChanges does to a configuration, in memory.
func applyToConfig(cfg []ServerInfo, changes []Change) []ServerInfo {
	cfg = slices.Clone(cfg)
	for _, c := range changes {
		i := slices.IndexFunc(cfg, func(s ServerInfo) bool { return s.ID == c.ID })
		switch c.Kind {
		case ChangeAddNonvoter:
			if i < 0 {
				cfg = append(cfg, ServerInfo{ID: c.ID, Addr: c.Addr})
			} else {
				cfg[i].Addr = c.Addr
			}
		case ChangePromote:
			if i >= 0 {
				cfg[i].Voter = true
			}
		case ChangeRemove:
			if i >= 0 {
				cfg = slices.Delete(cfg, i, i+1)
			}
		}
	}
	slices.SortFunc(cfg, func(a, b ServerInfo) int { return strings.Compare(a.ID, b.ID) })
	return cfg
}

// TestReconcileInvariants runs Reconcile on random configurations and
// gossip views and checks the rules that must hold whatever the input:
// the leader is never removed, voters keep a quorum of the configured
// voters, the output does not depend on input order, and changes once
// applied are not asked for again.
func TestReconcileInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	policy := ReconcilePolicy{PromoteAfter: 10 * time.Second, CatchUpSlack: 10, RemoveFailedAfter: time.Minute}
	statuses := []Status{StatusAlive, StatusLeft, StatusFailed}
	for trial := range 2000 {
		n := 1 + rng.IntN(7)
		var cfg []ServerInfo
		var members []MemberStatus
		for i := range n {
			id := fmt.Sprintf("s%d", i)
			addr := fmt.Sprintf("10.0.0.%d:7947", i)
			if rng.IntN(5) > 0 {
				cfg = append(cfg, ServerInfo{ID: id, Addr: addr, Voter: rng.IntN(4) > 0})
			}
			if rng.IntN(6) > 0 {
				if rng.IntN(8) == 0 {
					addr = fmt.Sprintf("10.0.1.%d:7947", i) // moved
				}
				members = append(members, MemberStatus{
					ID: id, RaftAddr: addr, Status: statuses[rng.IntN(3)],
					Since: epoch.Add(time.Duration(rng.IntN(120)) * time.Second), AppliedIndex: uint64(rng.IntN(100)),
				})
			}
		}
		if len(cfg) == 0 {
			continue
		}
		leader := cfg[rng.IntN(len(cfg))].ID
		now := epoch.Add(2 * time.Minute)
		changes := Reconcile(cfg, members, leader, 100, now, policy)

		voters := 0
		for _, s := range cfg {
			if s.Voter {
				voters++
			}
		}
		removedVoters := 0
		for _, c := range changes {
			if c.Kind == ChangeRemove && c.ID == leader {
				t.Fatalf("trial %d: Reconcile removes the leader %s: %v", trial, leader, changes)
			}
			if c.Kind == ChangeRemove && slices.ContainsFunc(cfg, func(s ServerInfo) bool { return s.ID == c.ID && s.Voter }) {
				removedVoters++
			}
		}
		if removedVoters > 0 && voters-removedVoters < voters/2+1 {
			t.Fatalf("trial %d: %d of %d voters removed, below a quorum: %v", trial, removedVoters, voters, changes)
		}
		shuffledCfg, shuffledMembers := slices.Clone(cfg), slices.Clone(members)
		rng.Shuffle(len(shuffledCfg), func(i, j int) { shuffledCfg[i], shuffledCfg[j] = shuffledCfg[j], shuffledCfg[i] })
		rng.Shuffle(len(shuffledMembers), func(i, j int) {
			shuffledMembers[i], shuffledMembers[j] = shuffledMembers[j], shuffledMembers[i]
		})
		if again := Reconcile(shuffledCfg, shuffledMembers, leader, 100, now, policy); !slices.Equal(again, changes) {
			t.Fatalf("trial %d: Reconcile depends on input order:\n%v\n%v", trial, changes, again)
		}
		next := Reconcile(applyToConfig(cfg, changes), members, leader, 100, now, policy)
		for _, c := range next {
			if slices.Contains(changes, c) {
				t.Fatalf("trial %d: change %v asked for again after it was applied", trial, c)
			}
		}
	}
}
