// Package consensus is GAMESA's replicated cluster state: a hashicorp/raft
// replica on raft-boltdb/v2 storage (with a log cache in front), a file
// snapshot store keeping two snapshots, and a TCP transport that is mutual
// TLS when given a certificate. The state machine holds the cluster's
// settings, the nodes' registrations (resources, labels, power range), the
// power budget, the leader's last allocation (an epoch, a power cap per
// node), the jobs with their runs, and the federated learning rounds with
// the global models' versions (their metadata: state_fed.go); commands
// are gamesav1.Command messages; a reconciler keeps the Raft
// configuration in line with gossip membership (DESIGN.md, flow 3).
//
// A caller (the node package) uses it in these steps:
//
//  1. Open(cfg) with cfg from DefaultConfig (NodeID and DataDir set; TLS
//     and ClientTLS from the cluster CA beyond loopback). Open returns at
//     once; Shutdown stops the server and must be called.
//  2. If HasState() is false, wait until gossip shows the expected servers
//     and call Bootstrap with all of them (every server may do so with the
//     same list; ErrAlreadyBootstrapped means someone's state exists). A
//     server with state rejoins its cluster by itself; a new server joining
//     an existing cluster is not bootstrapped: the leader adds it.
//  3. Watch LeadershipChanges. true arrives once this server leads and its
//     post-election Barrier completed: only then may it decide. On true,
//     run Reconcile with the gossip view and ApplyChanges, on a timer and
//     on membership events; stop on false.
//  4. Write with Apply on the leader (a *NotLeaderError names the leader
//     to forward to). Give each logical write a request_id and reuse it on
//     retry: after ErrUnknownOutcome the write may have committed, and the
//     dedup table returns the first result instead of applying it twice.
//     A CAS that loses is a result with Rejection set, not an error.
//  5. Read with ConsistentState on the leader (linearizable; it commits a
//     shared Barrier, so it costs a log entry per burst of reads), or with
//     State anywhere (local, possibly stale, free). A State is immutable:
//     hold it as long as needed.
//
// The allocation commands follow three rules (state_alloc.go): an
// allocation must carry the next epoch, so a deposed leader's decision is
// refused whole (REJECTION_STALE) and one decision is one command; a job
// run is named by the index of the allocation that placed it, and a run
// that leaves a live node drains until that node reports it ended, before
// which its successor may not start (none runs twice at once); a report
// about a run that is neither current nor draining is stale. The power
// budget is a typed command (not the setting power/budget_watts) so that
// the state machine itself refuses a budget below the registered floors:
// a bad budget never reaches the state, whoever leads.
//
// The state machine is deterministic (its results depend only on the log
// entry and the state before it: no clock, no randomness, no map order),
// takes snapshots for free (the state is a persistent tree), and rejects
// invalid commands twice: in Apply before they reach the log, and again,
// deterministically, if one ever reaches it.
//
// Package consensustest runs clusters of Servers in one process for
// tests, on loopback TCP or on raft's in-memory transport with exact
// partitions.
package consensus
