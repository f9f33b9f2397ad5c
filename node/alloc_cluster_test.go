package node

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/krystalstack/gamesa/node/auth"
	"github.com/krystalstack/gamesa/node/pki"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// dialAlloc connects to a node's AllocationService with the CLI's
// certificate and the admin token.
func (sc *secureCluster) dialAlloc(t *testing.T, addr string) gamesav1.AllocationServiceClient {
	t.Helper()
	tc, err := pki.ClientConfig(sc.cli, pki.Server.Name(pki.DefaultDomain))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)), grpc.WithPerRPCCredentials(auth.Bearer(sc.adminToken)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return gamesav1.NewAllocationServiceClient(conn)
}

// TestClusterPowerAndJobs is the loop on a secure in-process
// cluster of three servers and two clients, all running jobs: a budget
// set through a client is split into caps that every node (clients too,
// which have no replica) takes up and gossips, summing within the budget;
// six jobs spread over the nodes; a job's log is read through a node that
// does not run it; and when a node that runs jobs stops, its jobs run
// again elsewhere, never two runs of one job at once.
func TestClusterPowerAndJobs(t *testing.T) {
	sc := newSecureCluster(t)
	tokenFile := filepath.Join(sc.dir, "admin.token")
	if err := os.WriteFile(tokenFile, []byte(sc.adminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	member := func(id, role string, expect int, join string) *testNode {
		return startNode(t, func(c *Config) {
			c.NodeID, c.Dev = id, false
			c.Tick = 200 * time.Millisecond
			c.Cluster.Role, c.Cluster.BootstrapExpect = role, expect
			if join != "" {
				c.Cluster.Join = []string{join}
			}
			c.Cluster.PromoteAfter = 0
			c.Cluster.ReconcileInterval = 200 * time.Millisecond
			c.Cluster.AllocateInterval = 500 * time.Millisecond
			c.Sim.Scenario = "idle"
			c.Jobs.Enabled = true
			c.Jobs.Labels = map[string]string{"role": role}
			sc.apply(c)
			c.Auth.TokenFile = tokenFile
		})
	}
	s1 := member("s1", "server", 3, "")
	join := s1.cluster.mesh.LocalAddr()
	nodes := map[string]*testNode{"s1": s1}
	for _, id := range []string{"s2", "s3"} {
		nodes[id] = member(id, "server", 3, join)
	}
	for _, id := range []string{"c1", "c2"} {
		nodes[id] = member(id, "client", 0, join)
	}
	api := func(id string) gamesav1.AllocationServiceClient {
		return sc.dialAlloc(t, nodes[id].GRPCAddr().String())
	}

	waitFor(t, "five registered nodes", 40*time.Second, func() (bool, string) {
		resp, err := api("c1").GetAllocation(ctxT(t), &gamesav1.GetAllocationRequest{})
		if err != nil {
			return false, err.Error()
		}
		return len(resp.GetNodes()) == 5 && resp.GetAllocation().GetEpoch() > 0, fmt.Sprintf("%d nodes, epoch %d", len(resp.GetNodes()), resp.GetAllocation().GetEpoch())
	})

	// The budget, through a client: 5 × 45 W uncapped, 120 W for all.
	const budget = 120
	if _, err := api("c2").SetPowerBudget(ctxT(t), &gamesav1.SetPowerBudgetRequest{BudgetWatts: budget}); err != nil {
		t.Fatalf("SetPowerBudget through c2: %v", err)
	}
	waitFor(t, "every node takes up its cap", 30*time.Second, func() (bool, string) {
		st, err := sc.dial(t, nodes["s2"].GRPCAddr().String(), sc.adminToken).GetClusterState(ctxT(t), &gamesav1.GetClusterStateRequest{})
		if err != nil {
			return false, err.Error()
		}
		caps := map[string]int64{}
		var sum int64
		for _, c := range st.GetAllocation().GetCaps() {
			caps[c.GetNodeId()] = c.GetCapMilliwatts()
			sum += c.GetCapMilliwatts()
		}
		if sum > budget*1000 {
			t.Fatalf("caps sum to %d mW, above the %d W budget: %v", sum, budget, st.GetAllocation().GetCaps())
		}
		var bad []string
		for _, m := range st.GetMembers() {
			id := m.GetInfo().GetNodeId()
			got := int64(m.GetDigest().GetPowerCapWatts()*1000 + 0.5)
			if c, ok := caps[id]; !ok || got != c {
				bad = append(bad, fmt.Sprintf("%s gossips %d mW, committed %d", id, got, caps[id]))
			}
		}
		return len(caps) == 5 && len(bad) == 0, strings.Join(bad, "; ")
	})

	// Six jobs, submitted through a client.
	for i := range 6 {
		spec := &gamesav1.JobSpec{Id: fmt.Sprintf("render-%d", i+1), Cores: 1, MemoryBytes: 64 << 20,
			Command: []string{"sh", "-c", `echo "frame on $GAMESA_NODE"; while :; do sleep 0.2; done`}}
		if _, err := api("c1").SubmitJob(ctxT(t), &gamesav1.SubmitJobRequest{Spec: spec}); err != nil {
			t.Fatalf("SubmitJob(%s): %v", spec.GetId(), err)
		}
	}
	var jobs []*gamesav1.Job
	waitFor(t, "six jobs running", 30*time.Second, func() (bool, string) {
		resp, err := api("s3").ListJobs(ctxT(t), &gamesav1.ListJobsRequest{})
		if err != nil {
			return false, err.Error()
		}
		jobs = resp.GetJobs()
		running := 0
		var states []string
		for _, j := range jobs {
			if j.GetState() == gamesav1.JobState_JOB_STATE_RUNNING {
				running++
			}
			states = append(states, j.GetSpec().GetId()+":"+j.GetState().String()+" "+j.GetReason())
		}
		return running == 6, strings.Join(states, "; ")
	})
	on := map[string][]*gamesav1.Job{}
	for _, j := range jobs {
		on[j.GetCurrent().GetNodeId()] = append(on[j.GetCurrent().GetNodeId()], j)
	}
	if len(on) < 3 {
		t.Errorf("six jobs on %d nodes; want them spread over at least 3", len(on))
	}

	// A job's log, read through a node that does not run it.
	j := jobs[0]
	reader := "s1"
	if j.GetCurrent().GetNodeId() == "s1" {
		reader = "s2"
	}
	var out string
	waitFor(t, "the job's output through "+reader, 10*time.Second, func() (bool, string) {
		out, _ = readLogs(t, api(reader), &gamesav1.JobLogsRequest{JobId: j.GetSpec().GetId()})
		return out == "frame on "+j.GetCurrent().GetNodeId()+"\n", out
	})

	// Stop a client that runs jobs: they run again elsewhere.
	victim := "c1"
	if len(on["c1"]) == 0 {
		victim = "c2"
	}
	moved := on[victim]
	if len(moved) == 0 {
		t.Fatalf("neither client runs a job: %v", on)
	}
	nodes[victim].stop(t)
	delete(nodes, victim)
	for _, old := range moved {
		id := old.GetSpec().GetId()
		nj := waitJob(t, api("s1"), id, 30*time.Second, func(j *gamesav1.Job) bool {
			return j.GetState() == gamesav1.JobState_JOB_STATE_RUNNING && j.GetCurrent().GetNodeId() != victim
		})
		if nj.GetCurrent().GetRunId() <= old.GetCurrent().GetRunId() {
			t.Errorf("%s: new run %d; want a later run than %d", id, nj.GetCurrent().GetRunId(), old.GetCurrent().GetRunId())
		}
		if err := processGone(int(old.GetCurrent().GetPid())); err != nil {
			t.Errorf("%s's first run: %v", id, err)
		}
		if i := slices.IndexFunc(nj.GetHistory(), func(r *gamesav1.JobRun) bool { return r.GetRunId() == old.GetCurrent().GetRunId() }); i < 0 {
			t.Errorf("%s: history %v lacks the first run", id, nj.GetHistory())
		}
	}
	// The node that left is deregistered; the budget is split among the
	// four that remain.
	waitFor(t, "the budget split among four", 20*time.Second, func() (bool, string) {
		resp, err := api("s2").GetAllocation(ctxT(t), &gamesav1.GetAllocationRequest{})
		if err != nil {
			return false, err.Error()
		}
		return len(resp.GetNodes()) == 4 && len(resp.GetAllocation().GetCaps()) == 4, fmt.Sprint(resp.GetAllocation().GetCaps())
	})
}
