package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// jobList is `gamesa job ls -o json`, the fields the test reads.
type jobList struct {
	Jobs []struct {
		Spec struct {
			ID string `json:"id"`
		} `json:"spec"`
		State   string `json:"state"`
		Reason  string `json:"reason"`
		Current *struct {
			RunID  string `json:"run_id"`
			NodeID string `json:"node_id"`
			Pid    int    `json:"pid"`
		} `json:"current"`
	} `json:"jobs"`
}

func (cf *clusterFiles) jobs(t *testing.T, bin, addr string) (jobList, error) {
	t.Helper()
	out, code := cf.cli(t, bin, addr, "job", "ls", "-o", "json")
	var l jobList
	if code != 0 {
		return l, fmt.Errorf("exit %d: %s", code, out)
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		return l, fmt.Errorf("%v: %s", err, out)
	}
	return l, nil
}

// jobWatch scans /proc for the test's job processes (GAMESA_JOB in their
// environment) and records every moment two runs of one job were alive
// together.
type jobWatch struct {
	prefix string
	mu     sync.Mutex
	twice  []string
	scans  int
	stop   chan struct{}
	done   chan struct{}
}

func watchJobs(prefix string) *jobWatch {
	w := &jobWatch{prefix: prefix, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runs := liveRuns(prefix)
			w.mu.Lock()
			w.scans++
			for job, rs := range runs {
				if len(rs) > 1 {
					w.twice = append(w.twice, fmt.Sprintf("%s: runs %v alive together", job, rs))
				}
			}
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *jobWatch) finish() (twice []string, scans int) {
	close(w.stop)
	<-w.done
	return w.twice, w.scans
}

// liveRuns lists, per job whose name starts with prefix, the run ids of
// its live processes ("node/run"). Zombies have no environment and do not
// count: they run nothing.
func liveRuns(prefix string) map[string][]string {
	out := map[string][]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		var job, run, node string
		for _, kv := range bytes.Split(env, []byte{0}) {
			k, v, _ := strings.Cut(string(kv), "=")
			switch k {
			case "GAMESA_JOB":
				job = v
			case "GAMESA_RUN_ID":
				run = v
			case "GAMESA_NODE":
				node = v
			}
		}
		if job == "" || !strings.HasPrefix(job, prefix) {
			continue
		}
		if r := node + "/" + run; !slices.Contains(out[job], r) {
			out[job] = append(out[job], r)
		}
	}
	return out
}

// TestJobsMoveOffAKilledNode is the end-to-end proof with real
// processes: three servers and two clients of a secure cluster, all
// running jobs; six jobs submitted with the CLI; the agent of a node
// running jobs is killed with SIGKILL (its jobs die with it: the
// parent-death signal). Its jobs run again on other nodes within 10 s of
// gossip declaring it failed, and a scan of /proc every 20 ms never sees
// two runs of one job alive at once.
func TestJobsMoveOffAKilledNode(t *testing.T) {
	bin := buildBinary(t)
	cf := makeClusterFiles(t, bin, 3)
	for range 2 {
		mustCLI(t, bin, "tls", "cert", "create", "--client", "--dir", cf.dir)
	}
	jobArgs := []string{"--enable-jobs", "--sim-scenario", "idle", "--token-file", cf.adminTokenFile, "--allocate-interval", "500ms"}
	names := []string{"s1", "s2", "s3", "c1", "c2"}
	agents := map[string]*agent{}
	agents["s1"] = launchAgent(t, bin, append(cf.serverArgs(0, t.TempDir()), jobArgs...)...)
	join := agents["s1"].gossip
	for i := 1; i < 3; i++ {
		agents[names[i]] = launchAgent(t, bin, append(append(cf.serverArgs(i, t.TempDir()), jobArgs...), "--join", join)...)
	}
	for i, id := range []string{"c1", "c2"} {
		args := []string{
			"--node-id", id, "--data-dir", t.TempDir(), "--source", "sim", "--tick", "200ms", "--ml=false",
			"--role", "client", "--join", join, "--encrypt-key-file", cf.key, "--tokens-file", cf.tokensFile,
			"--tls-ca", cf.ca,
			"--tls-cert", filepath.Join(cf.dir, fmt.Sprintf("gamesa-client-gamesa-%d.pem", i)),
			"--tls-key", filepath.Join(cf.dir, fmt.Sprintf("gamesa-client-gamesa-%d-key.pem", i)),
		}
		agents[id] = launchAgent(t, bin, append(args, jobArgs...)...)
	}
	addr := agents["c2"].grpcAddr
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, id := range names {
			lines := strings.Split(strings.TrimSpace(agents[id].stderr.String()), "\n")
			t.Logf("%s's log, last lines:\n%s", id, strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})

	poll(t, "five nodes registered", 60*time.Second, func() (bool, string) {
		out, code := cf.cli(t, bin, addr, "power", "budget", "-o", "json")
		var resp struct {
			Nodes []struct {
				NodeID string `json:"node_id"`
			} `json:"nodes"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &resp) != nil {
			return false, out
		}
		return len(resp.Nodes) == 5, out
	})

	// Names unique to this run: another test may run jobs on this host.
	prefix := fmt.Sprintf("kill%d-", os.Getpid()%100000)
	watch := watchJobs(prefix)
	for i := range 6 {
		// The client flags go before the job's command, which ends the
		// CLI's own.
		args := append([]string{"job", "run", "--addr", addr, "--tls-ca", cf.ca, "--tls-cert", cf.cliCert, "--tls-key", cf.cliKey,
			"--token-file", cf.adminTokenFile, "--name", fmt.Sprintf("%s%d", prefix, i+1), "--cpu", "1", "--mem", "64MiB"}, "--", "sleep", "3600")
		if out, code := runCLI(t, bin, args...); code != 0 {
			t.Fatalf("job run: exit %d\n%s", code, out)
		}
	}
	var list jobList
	poll(t, "six jobs running", 60*time.Second, func() (bool, string) {
		var err error
		if list, err = cf.jobs(t, bin, addr); err != nil {
			return false, err.Error()
		}
		running := 0
		for _, j := range list.Jobs {
			if j.State == "JOB_STATE_RUNNING" {
				running++
			}
		}
		return running == 6, fmt.Sprintf("%+v", list)
	})

	// The victim: the node with the most jobs that does not lead (the
	// leader's loss would only add an election to the wait).
	st, err := cf.state(t, bin, addr, false)
	if err != nil {
		t.Fatal(err)
	}
	leader, _ := st["leader_id"].(string)
	per := map[string][]string{}
	for _, j := range list.Jobs {
		per[j.Current.NodeID] = append(per[j.Current.NodeID], j.Spec.ID)
	}
	victim := ""
	for _, id := range names {
		if id != leader && len(per[id]) > len(per[victim]) {
			victim = id
		}
	}
	if victim == "" {
		t.Fatalf("no node but the leader runs a job: %v", per)
	}
	moved := per[victim]
	t.Logf("killing %s (leader %s), which runs %v; jobs per node %v", victim, leader, moved, per)
	if err := agents[victim].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-agents[victim].exited
	survivor := agents["s1"].grpcAddr
	if victim == "s1" {
		survivor = agents["s2"].grpcAddr
	}

	// Detection, as gossip on a survivor reports it: the last poll that
	// still saw the victim alive bounds it from below, so the measured
	// wait can only be longer than the true one.
	var notYet, detected time.Time
	poll(t, "the victim declared failed", 60*time.Second, func() (bool, string) {
		asked := time.Now()
		out, code := cf.cli(t, bin, survivor, "members", "--stale", "-o", "json")
		if code != 0 {
			return false, out
		}
		var resp struct {
			Members []struct {
				Info struct {
					NodeID string `json:"node_id"`
				} `json:"info"`
				State string `json:"state"`
			} `json:"members"`
		}
		if err := json.Unmarshal([]byte(out), &resp); err != nil {
			return false, out
		}
		for _, m := range resp.Members {
			if m.Info.NodeID == victim && m.State == "MEMBER_STATE_DEAD" {
				detected = time.Now()
				return true, ""
			}
		}
		notYet = asked
		return false, "not yet failed"
	})
	poll(t, "the victim's jobs running elsewhere", 60*time.Second, func() (bool, string) {
		// Ask a survivor: addr is c2's, and c2 may be the victim.
		l, err := cf.jobs(t, bin, survivor)
		if err != nil {
			return false, err.Error()
		}
		var waiting []string
		for _, j := range l.Jobs {
			if slices.Contains(moved, j.Spec.ID) && (j.State != "JOB_STATE_RUNNING" || j.Current == nil || j.Current.NodeID == victim) {
				waiting = append(waiting, j.Spec.ID+": "+j.State+" "+j.Reason)
			}
		}
		return len(waiting) == 0, strings.Join(waiting, "; ")
	})
	running := time.Now()
	t.Logf("failure detected %.1f–%.1f s after SIGKILL; jobs running again %.1f s after detection (at most)",
		notYet.Sub(killed).Seconds(), detected.Sub(killed).Seconds(), running.Sub(notYet).Seconds())
	if d := running.Sub(notYet); d > 10*time.Second {
		t.Errorf("jobs ran again %v after the failure was detected; want within 10s", d)
	}
	// Give the scan a moment more, then judge it.
	time.Sleep(200 * time.Millisecond)
	twice, scans := watch.finish()
	if len(twice) > 0 {
		t.Errorf("a job ran twice at once (%d scans):\n%s", scans, strings.Join(twice, "\n"))
	}
	if scans < 100 {
		t.Errorf("only %d scans of /proc: the check saw too little to mean anything", scans)
	}
	for job, runs := range liveRuns(prefix) {
		if len(runs) != 1 || strings.HasPrefix(runs[0], victim+"/") {
			t.Errorf("%s: live runs %v; want one, not on %s", job, runs, victim)
		}
	}
}
