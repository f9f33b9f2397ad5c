package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clusterFiles are what an operator makes before starting a secure
// cluster, made here with the CLI itself: a CA, a certificate per server,
// one for the CLI, a gossip key and an admin token.
type clusterFiles struct {
	dir, ca, key, adminTokenFile, tokensFile string
	cliCert, cliKey                          string
}

func makeClusterFiles(t *testing.T, bin string, servers int) *clusterFiles {
	t.Helper()
	dir := t.TempDir()
	cf := &clusterFiles{dir: dir, ca: filepath.Join(dir, "gamesa-agent-ca.pem"), key: filepath.Join(dir, "gossip.key")}
	mustCLI(t, bin, "tls", "ca", "create", "--dir", dir)
	for range servers {
		mustCLI(t, bin, "tls", "cert", "create", "--server", "--dir", dir)
	}
	mustCLI(t, bin, "tls", "cert", "create", "--cli", "--dir", dir)
	cf.cliCert, cf.cliKey = filepath.Join(dir, "gamesa-cli-gamesa-0.pem"), filepath.Join(dir, "gamesa-cli-gamesa-0-key.pem")
	mustCLI(t, bin, "keygen", "--out", cf.key)
	line := strings.TrimSpace(mustCLI(t, bin, "acl", "token", "create", "--scope", "admin", "--name", "ops"))
	cf.tokensFile = filepath.Join(dir, "tokens")
	if err := os.WriteFile(cf.tokensFile, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cf.adminTokenFile = filepath.Join(dir, "admin.token")
	if err := os.WriteFile(cf.adminTokenFile, []byte(strings.Fields(line)[1]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return cf
}

func mustCLI(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, code := runCLI(t, bin, args...)
	if code != 0 {
		t.Fatalf("gamesa %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// serverArgs are the flags of server i (certificate index i).
func (cf *clusterFiles) serverArgs(i int, dataDir string) []string {
	return []string{
		"--node-id", fmt.Sprintf("s%d", i+1), "--data-dir", dataDir, "--source", "sim", "--tick", "200ms", "--ml=false",
		"--role", "server", "--bootstrap-expect", "3", "--promote-after", "0s",
		"--encrypt-key-file", cf.key, "--tokens-file", cf.tokensFile,
		"--tls-ca", cf.ca,
		"--tls-cert", filepath.Join(cf.dir, fmt.Sprintf("gamesa-server-gamesa-%d.pem", i)),
		"--tls-key", filepath.Join(cf.dir, fmt.Sprintf("gamesa-server-gamesa-%d-key.pem", i)),
	}
}

// cli runs a client command against addr with the CLI's certificate and
// the admin token.
func (cf *clusterFiles) cli(t *testing.T, bin, addr string, args ...string) (string, int) {
	t.Helper()
	args = append(args, "--addr", addr, "--tls-ca", cf.ca, "--tls-cert", cf.cliCert, "--tls-key", cf.cliKey,
		"--token-file", cf.adminTokenFile, "--timeout", "10s")
	return runCLI(t, bin, args...)
}

// clusterJSON reads `gamesa cluster -o json` from addr.
func (cf *clusterFiles) state(t *testing.T, bin, addr string, stale bool) (map[string]any, error) {
	t.Helper()
	args := []string{"cluster", "-o", "json"}
	if stale {
		args = append(args, "--stale")
	}
	out, code := cf.cli(t, bin, addr, args...)
	if code != 0 {
		return nil, fmt.Errorf("exit %d: %s", code, out)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	return st, nil
}

// TestClusterProcesses runs a secure three-server cluster of real agent
// processes made with the CLI's own tls, keygen and acl commands: the
// servers bootstrap from gossip, a write through one is read from
// another, SIGKILL of the leader process elects a new leader that still
// has the write, the killed server restarts from its data directory and
// catches up, and a node with the wrong gossip key is refused.
func TestClusterProcesses(t *testing.T) {
	bin := buildBinary(t)
	cf := makeClusterFiles(t, bin, 3)
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	agents := []*agent{launchAgent(t, bin, cf.serverArgs(0, dirs[0])...)}
	for i := 1; i < 3; i++ {
		agents = append(agents, launchAgent(t, bin, append(cf.serverArgs(i, dirs[i]), "--join", agents[0].gossip)...))
	}

	var leader string
	poll(t, "a leader with three voters", 30*time.Second, func() (bool, string) {
		st, err := cf.state(t, bin, agents[1].grpcAddr, false)
		if err != nil {
			return false, err.Error()
		}
		leader, _ = st["leader_id"].(string)
		servers, _ := st["raft_servers"].([]any)
		voters := 0
		for _, s := range servers {
			if v, _ := s.(map[string]any)["voter"].(bool); v {
				voters++
			}
		}
		return leader != "" && voters == 3, fmt.Sprintf("leader %q voters %d", leader, voters)
	})

	if out, code := cf.cli(t, bin, agents[2].grpcAddr, "cluster", "set", "power/budget_watts", "3500"); code != 0 {
		t.Fatalf("cluster set: exit %d\n%s", code, out)
	}
	out, code := cf.cli(t, bin, agents[0].grpcAddr, "members")
	if code != 0 || strings.Count(out, "alive") != 3 {
		t.Errorf("members: exit %d; want three alive members\n%s", code, out)
	}

	// SIGKILL the leader's process: no graceful leave, no transfer.
	li := int(leader[1] - '1')
	if err := agents[li].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-agents[li].exited
	other := agents[(li+1)%3]
	var newLeader string
	poll(t, "a new leader after SIGKILL", 20*time.Second, func() (bool, string) {
		st, err := cf.state(t, bin, other.grpcAddr, false)
		if err != nil {
			return false, err.Error()
		}
		newLeader, _ = st["leader_id"].(string)
		return newLeader != "" && newLeader != leader && strings.Contains(fmt.Sprint(st["settings"]), "3500"),
			fmt.Sprintf("leader %q settings %v", newLeader, st["settings"])
	})
	if out, code := cf.cli(t, bin, other.grpcAddr, "cluster", "set", "after", "kill"); code != 0 {
		t.Fatalf("write after the leader's death: exit %d\n%s", code, out)
	}

	// The killed server restarts from its data directory (Raft state in
	// boltdb) on its old addresses, as a real server with fixed ports
	// does, and catches up with the write made while it was gone.
	restarted := launchAgent(t, bin, append(cf.serverArgs(li, dirs[li]), "--join", other.gossip,
		"--gossip-addr", agents[li].gossip, "--raft-addr", agents[li].raft)...)
	poll(t, "the restarted server catches up", 30*time.Second, func() (bool, string) {
		st, err := cf.state(t, bin, restarted.grpcAddr, true)
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(fmt.Sprint(st["settings"]), "kill"), fmt.Sprintf("settings %v\nrestarted's log:\n%s\nsurvivor's log:\n%s", st["settings"], restarted.stderr, other.stderr)
	})

	// A node with another gossip key cannot join, and says so.
	wrongKey := filepath.Join(t.TempDir(), "wrong.key")
	mustCLI(t, bin, "keygen", "--out", wrongKey)
	intruder := launchAgent(t, bin, "--node-id", "intruder", "--data-dir", t.TempDir(), "--source", "sim", "--ml=false",
		"--role", "client", "--join", other.gossip, "--encrypt-key-file", wrongKey)
	poll(t, "the intruder logs a refused join", 20*time.Second, func() (bool, string) {
		log := intruder.stderr.String()
		return strings.Contains(log, "key"), "no key complaint yet"
	})
	out, _ = cf.cli(t, bin, other.grpcAddr, "members", "--stale")
	if strings.Contains(out, "intruder") {
		t.Errorf("a node with the wrong key is a member:\n%s", out)
	}
}

func poll(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v; last: %s", what, timeout, last)
}
