package node

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/krystalstack/gamesa/gossip"
)

// Cluster and actuation metrics, read from their owners at scrape time.
var (
	descMembers       = desc("cluster_members", "Members this node knows, by state.", "state")
	descRaftLeader    = desc("raft_leader", "1 while this server leads the cluster (after its barrier).")
	descRaftTerm      = desc("raft_term", "The current Raft term on this server.")
	descRaftCommit    = desc("raft_commit_index", "The last Raft index known committed on this server.")
	descRaftApplied   = desc("raft_applied_index", "The last Raft index applied to this server's state.")
	descRaftContact   = desc("raft_last_contact_seconds", "Seconds since this follower last heard from the leader.")
	descGossipMsgs    = prometheus.NewDesc("gamesa_gossip_digests_total", "Digests handled by gossip, by outcome.", []string{"outcome"}, nil)
	descGossipKeyErrs = prometheus.NewDesc("gamesa_gossip_key_errors_total", "Gossip messages no installed key could decrypt (a peer with another key).", nil, nil)
	descPlanActions   = desc("plan_actions", "Actions of the latest plan, by what became of them.", "status")
)

// clusterCollector exports the node's view of the cluster and of its own
// actuation. Like sampleCollector it is unchecked: label sets vary.
type clusterCollector struct{ n *Node }

func (c *clusterCollector) Describe(chan<- *prometheus.Desc) {}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	e := emitter{ch: ch}
	if cl := c.n.cluster; cl != nil {
		counts := map[gossip.MemberState]int{gossip.StateAlive: 0, gossip.StateFailed: 0, gossip.StateLeft: 0}
		for _, m := range cl.mesh.View().Members {
			counts[m.State]++
		}
		for st, k := range counts {
			e.g(descMembers, float64(k), st.String())
		}
		gs := cl.mesh.Stats()
		for _, o := range []struct {
			name string
			v    uint64
		}{
			{"published", gs.Published}, {"received", gs.Received}, {"accepted", gs.Accepted},
			{"rebroadcast", gs.Rebroadcast}, {"dropped_stale", gs.DroppedStale}, {"dropped_unknown", gs.DroppedUnknown},
			{"dropped_oversized", gs.DroppedOversized}, {"dropped_malformed", gs.DroppedMalformed},
		} {
			ch <- prometheus.MustNewConstMetric(descGossipMsgs, prometheus.CounterValue, float64(o.v), o.name)
		}
		ch <- prometheus.MustNewConstMetric(descGossipKeyErrs, prometheus.CounterValue, float64(gs.KeyErrors))
		if cl.raft != nil {
			st := cl.raft.Stats()
			leading := 0.0
			if cl.leading.Load() {
				leading = 1
			}
			e.g(descRaftLeader, leading)
			e.g(descRaftTerm, float64(st.Term))
			e.g(descRaftCommit, float64(st.CommitIndex))
			e.g(descRaftApplied, float64(st.AppliedIndex))
			if !st.LastContact.IsZero() {
				e.g(descRaftContact, time.Since(st.LastContact).Seconds())
			}
		}
	}
	if a := c.n.act; a != nil {
		a.mu.Lock()
		counts := map[string]int{}
		if a.last != nil {
			for _, r := range a.last.GetResults() {
				counts[r.GetStatus()]++
			}
		}
		a.mu.Unlock()
		for st, k := range counts {
			e.g(descPlanActions, float64(k), st)
		}
	}
}
