// Package gossip will hold GAMESA's membership and telemetry digests over
// hashicorp/memberlist, and the ClusterView built from them (DESIGN.md,
// flow 2).
//
// Until that lands, the package holds only a test that proves the pinned
// memberlist v0.6.0 builds and forms a mesh over loopback.
package gossip
