// Package gossip is GAMESA's membership and telemetry mesh: every node runs
// one Mesh, built on hashicorp/memberlist, that tells it who is in the
// cluster (alive, failed, left), what each member is (its Meta:
// role, gRPC and Raft addresses, version) and how each member is doing (its
// latest Digest: a compact telemetry summary well under 1 KB). The
// ClusterView is that knowledge as a snapshot; consensus and the dashboard
// read it. The package knows nothing of optimisation: it moves the digests
// the node fills in.
//
// The caller's contract, in order:
//
//  1. Fill a Config from DefaultConfig: NodeID (unique), BindAddr and
//     BindPort, Meta, and SecretKey (from DecodeKey; the same key on every
//     node) whenever the mesh listens beyond loopback. FastTiming suits
//     tests and loopback clusters.
//  2. New(cfg) starts listening. Join(ctx, peers) with one or more members'
//     addresses; a first node joins nobody. Subscribe first if the join
//     events of the members learned through Join matter.
//  3. Every tick, Publish a Digest with the node's numbers. The mesh stamps
//     node id, seq and epoch; it never blocks.
//  4. Read View whenever the cluster is needed: members sorted by id, each
//     with its latest digest, its age and whether it is stale. Subscribe
//     for join, update, leave and fail events; read the channel promptly
//     (a full channel drops events, counted in Stats) and call the cancel
//     function when done.
//  5. UpdateMeta when the node's metadata changes (rarely: it is broadcast
//     to everyone).
//  6. On exit, Leave (peers mark the node left, not failed) then Shutdown.
//     Shutdown alone is a crash as far as peers can tell.
//
// How digests travel. Publish queues the digest in a memberlist
// TransmitLimitedQueue as a broadcast named after the node, so that a
// newer digest replaces an older one still queued; memberlist piggybacks
// queued broadcasts on its gossip rounds, each to a few random members,
// a bounded number of times. A member that receives a digest newer than
// the one it holds, for a node it knows as alive, keeps it and queues it
// again: without this re-gossip of the first copy of each (node, seq) a
// memberlist user broadcast reaches only a few peers. Copies it already has
// are dropped. Push-pull state syncs carry every digest a member holds, as
// anti-entropy, and are not re-gossiped.
//
// Wire format. Digests, push-pull state and metadata are protobuf messages
// (gamesav1.Digest, DigestState, NodeMeta in proto/gamesa/v1/gossip.proto)
// behind two bytes: a wire version (1) and the kind. Limits:
// MaxDigestBytes, MaxStateBytes, MaxMetaBytes. Anything that does not
// decode, is over its limit, or carries impossible values is dropped and
// counted in Stats, never a panic; so is a digest from a node that is not
// an alive member here.
//
// Encryption. With SecretKey set, memberlist encrypts every packet and
// stream with AES-GCM and refuses what it cannot decrypt: a node with
// another key, or none, cannot join. The refused node's Join fails and
// logs "gossip: join refused: wrong encryption key?"; the members it tried
// log memberlist's own error and count it in Stats.KeyErrors.
//
// Failures and partitions. memberlist declares a member failed after it
// misses probes for the suspicion timeout; the view keeps failed and left
// members for Config.ForgetAfter. memberlist never contacts a failed member
// again, so the mesh does: every Timing.ReconnectInterval it joins one
// failed member at random, which heals a partition once the network does.
// Suspicion itself is not visible: memberlist v0.6.0 does not report it.
//
// Concurrency. A Mesh is safe for concurrent use. Its goroutines are
// memberlist's and one reconnect loop; Shutdown ends them.
package gossip
