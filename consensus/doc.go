// Package consensus will hold GAMESA's replicated cluster state: a
// hashicorp/raft node with raft-boltdb/v2 storage, the FSM, its commands and
// snapshots, membership reconcile and leader forwarding (DESIGN.md, flow 3).
//
// Until that lands, the package holds only a test that proves the pinned
// dependency set (raft v1.7.3, raft-boltdb/v2 v2.3.1, go-metrics v0.6.0)
// builds and elects a leader on real storage.
package consensus
