package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/optimizer/neural"
	"github.com/krystalstack/gamesa/telemetry/history"
	"github.com/krystalstack/gamesa/telemetry/sim"
)

// modelRounds is `gamesa model rounds -o json`, the fields the test reads.
type modelRounds struct {
	Rounds []struct {
		Round  string `json:"round"`
		State  string `json:"state"`
		Reason string `json:"reason"`
	} `json:"rounds"`
}

// preloadHistory records n one-second samples of a simulated machine,
// ending now, into the history file of data directory dir: the days of
// history a real node has, so a round can train at once.
func preloadHistory(t *testing.T, dir string, n int) {
	t.Helper()
	rec, err := history.Open(filepath.Join(dir, "history.db"), history.DefaultRecorderOptions())
	if err != nil {
		t.Fatal(err)
	}
	cfg := sim.DefaultConfig()
	cfg.Scenario = sim.ScenarioCycle
	m, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Duration(n) * time.Second)
	for i := range n {
		s, err := m.Sample(context.Background(), start.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		s.NodeId, s.Seq = "e2e", uint64(i+1)
		if err := rec.Append(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestModelCommands runs federated rounds on a one-node cluster (the
// whole federation) through the CLI: start, follow, list, download with
// the hash checked, and the errors a person meets.
func TestModelCommands(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	preloadHistory(t, dir, 300)
	a := launchAgent(t, bin, "--data-dir", dir, "--node-id", "e2e", "--source", "sim", "--ml=false",
		"--federated-interval", "0", "--federated-deadline", "5s", "--federated-train-budget", "200ms")
	cli := func(args ...string) (string, int) {
		return runCLI(t, bin, append(args, "--addr", a.grpcAddr)...)
	}
	if out, code := cli("model", "ls"); code != 0 || !strings.Contains(out, "no global model yet") {
		t.Fatalf("gamesa model ls before any round exited %d:\n%s", code, out)
	}
	if out, code := cli("model", "round", "start", "--rule", "mean"); code != 1 || !strings.Contains(out, "InvalidArgument") {
		t.Errorf("gamesa model round start --rule mean exited %d; want 1 and InvalidArgument:\n%s", code, out)
	}
	// A round that fails (a loaded machine missing the deadline) is
	// aborted, and the test starts another.
	poll(t, "a round closed", 60*time.Second, func() (bool, string) {
		out, code := cli("model", "rounds", "-o", "json")
		var rs modelRounds
		if code != 0 || json.Unmarshal([]byte(out), &rs) != nil {
			return false, out
		}
		if n := len(rs.Rounds); n > 0 {
			last := rs.Rounds[n-1]
			switch last.State {
			case "ROUND_STATE_CLOSED":
				return true, ""
			case "ROUND_STATE_OPEN":
				return false, "round " + last.Round + " open"
			}
		}
		if out, code := cli("model", "round", "start"); code != 0 {
			return false, out
		}
		return false, "round started"
	})
	out, code := cli("model", "ls", "-o", "json")
	var ls struct {
		Models []struct {
			Kind    string `json:"kind"`
			Version string `json:"version"`
			Hash    []byte `json:"hash"` // protojson writes bytes as base64, which encoding/json reads
		} `json:"models"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &ls) != nil || len(ls.Models) != 1 || ls.Models[0].Version != "1" || ls.Models[0].Kind != "thermal" {
		t.Fatalf("gamesa model ls -o json exited %d; want thermal version 1:\n%s", code, out)
	}
	if out, code := cli("model", "rounds"); code != 0 || !strings.Contains(out, "closed") || !strings.Contains(out, "0→1") {
		t.Errorf("gamesa model rounds exited %d; want a closed round 0→1:\n%s", code, out)
	}
	file := filepath.Join(t.TempDir(), "thermal.model")
	if out, code := cli("model", "get", "latest", "--out", file); code != 0 || !strings.Contains(out, "hash checks out") {
		t.Fatalf("gamesa model get latest exited %d:\n%s", code, out)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m, err := neural.Decode(data, "thermal")
	if err != nil || !bytes.Equal(m.GetContentHash(), ls.Models[0].Hash) || m.GetVersion() != 1 {
		t.Errorf("the downloaded file: %v (version %d, hash %x); want version 1 with hash %x", err, m.GetVersion(), m.GetContentHash(), ls.Models[0].Hash)
	}
	if out, code := cli("model", "get", "7", "--out", file+".7"); code != 1 || !strings.Contains(out, "NotFound") {
		t.Errorf("gamesa model get 7 exited %d; want 1 and NotFound:\n%s", code, out)
	}
	if _, err := os.Stat(file + ".7"); !os.IsNotExist(err) {
		t.Errorf("a failed download left %s.7 behind (%v)", file, err)
	}
	if out, code := cli("model", "get", "seven", "--out", file); code != 2 {
		t.Errorf("gamesa model get seven exited %d; want 2 (usage):\n%s", code, out)
	}
	a.stop(t)
}
