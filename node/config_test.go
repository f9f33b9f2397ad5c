package node

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigsValidate(t *testing.T) {
	if err := DevConfig().Validate(); err != nil {
		t.Fatalf("DevConfig().Validate() = %v; want nil", err)
	}
	// A plain default needs a data dir: it is not a throwaway node.
	err := DefaultConfig().Validate()
	if err == nil || !strings.Contains(err.Error(), "data_dir") {
		t.Fatalf("DefaultConfig().Validate() = %v; want an error naming data_dir", err)
	}
}

func TestParseConfig(t *testing.T) {
	good := `
node_id: desk-1
tick: 500ms
grpc:
  address: 127.0.0.1:9000
telemetry:
  source: sim
  top_processes: 5
sim:
  scenario: game
  seed: 7
history:
  max_bytes: 64MiB
  max_age: 24h
`
	c, err := ParseConfig([]byte(good), DevConfig(), nil)
	if err != nil {
		t.Fatalf("ParseConfig(good) = %v", err)
	}
	if c.NodeID != "desk-1" || c.Tick != 500*time.Millisecond || c.GRPC.Address != "127.0.0.1:9000" ||
		c.Telemetry.Source != "sim" || c.Telemetry.TopProcesses != 5 || c.Sim.Scenario != "game" || c.Sim.Seed != 7 ||
		c.History.MaxBytes != 64<<20 || c.History.MaxAge != 24*time.Hour {
		t.Fatalf("ParseConfig(good) = %+v; fields not applied", c)
	}
	// Keys the file does not set keep the base's values.
	if c.HTTP.Address != DevConfig().HTTP.Address || c.History.RingSize != DevConfig().History.RingSize {
		t.Fatalf("ParseConfig(good) lost defaults: http %q ring %d", c.HTTP.Address, c.History.RingSize)
	}
}

func TestParseConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string // all must appear in the error
	}{
		{"unknown top-level key", "tik: 1s\n", []string{`unknown key "tik"`, "line 1"}},
		{"unknown nested key", "grpc:\n  adress: 127.0.0.1:1\n", []string{`unknown key "adress"`, "line 2"}},
		{"bad duration", "tick: soon\n", []string{"tick", "duration"}},
		{"tick too short", "tick: 10ms\n", []string{"tick (line 1)", "between"}},
		{"bad source", "telemetry:\n  source: magic\n", []string{"telemetry.source (line 2)", "host, sim"}},
		{"bad scenario", "sim:\n  scenario: chess\n", []string{"sim.scenario", "chess"}},
		{"bad size", "history:\n  max_bytes: lots\n", []string{"line 2", "not a valid size"}},
		{"size too small", "history:\n  max_bytes: 1KiB\n", []string{"history.max_bytes (line 2)", "at least 1MiB"}},
		{"beyond loopback without TLS", "grpc:\n  address: 0.0.0.0:7070\n", []string{"grpc.address (line 2)", "beyond loopback", "insecure"}},
		{"not host:port", "http:\n  address: nonsense\n", []string{"http.address", "host:port"}},
		{"bad mode", "mode: fix-everything\n", []string{"mode (line 1)", "observe, enforce"}},
		{"bad power mode", "power:\n  mode: turbo\n", []string{"power.mode (line 2)", "gaming"}},
		{"bad node id", "node_id: \"a b\"\n", []string{"node_id", `"a b"`}},
		{"section as scalar", "grpc: 7070\n", []string{"line 1", "section"}},
		{"two documents", "tick: 1s\n---\ntick: 2s\n", []string{"more than one YAML document"}},
		{"not yaml", "tick: [1s\n", []string{"invalid YAML"}},
		{"negative retention", "history:\n  ring_retention: -1s\n", []string{"history.ring_retention"}},
		{"models need 1 Hz", "tick: 5s\n", []string{"ml.enabled", "at most 1s"}},
		{"one port for two servers", "grpc:\n  address: 127.0.0.1:7070\nhttp:\n  address: 127.0.0.1:7070\n", []string{"http.address (line 4)", "differ"}},
		{"bad role", "cluster:\n  role: leader\n", []string{"cluster.role (line 2)", "server or client"}},
		{"even bootstrap", "cluster:\n  bootstrap_expect: 2\n", []string{"cluster.bootstrap_expect (line 2)", "1, 3 or 5"}},
		{"bad join", "cluster:\n  join: [nowhere]\n", []string{"cluster.join[0]", "host:port"}},
		{"gossip beyond loopback without key", "cluster:\n  gossip_address: 0.0.0.0:7946\n", []string{"cluster.gossip_address (line 2)", "encrypt_key_file"}},
		{"raft beyond loopback without TLS", "cluster:\n  raft_address: 10.0.0.1:7947\n", []string{"cluster.raft_address (line 2)", "TLS"}},
		{"half a TLS config", "tls:\n  ca_file: ca.pem\n", []string{"tls.cert_file", "tls.key_file"}},
		{"lease beyond heartbeat", "cluster:\n  leader_lease_timeout: 2s\n", []string{"cluster.leader_lease_timeout (line 2)", "heartbeat_timeout"}},
		{"wildcard without advertise", "insecure: true\ncluster:\n  gossip_address: 0.0.0.0:7946\n", []string{"cluster.advertise_address", "0.0.0.0:7946"}},
		{"raft on the gossip port", "cluster:\n  gossip_address: 127.0.0.1:9000\n  raft_address: 127.0.0.1:9000\n", []string{"cluster.raft_address (line 3)", "cluster.gossip_address"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml), DevConfig(), nil)
			if err == nil {
				t.Fatalf("ParseConfig(%q) = nil; want an error", tc.yaml)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ParseConfig(%q) = %q; want it to contain %q", tc.yaml, err, w)
				}
			}
		})
	}
}

// TestInsecureAllowsWildcard: insecure opens any address; peers still need
// an address they can dial.
func TestInsecureAllowsWildcard(t *testing.T) {
	if _, err := ParseConfig([]byte("insecure: true\ngrpc:\n  address: 0.0.0.0:7070\ncluster:\n  advertise_address: 127.0.0.1\n"), DevConfig(), nil); err != nil {
		t.Fatalf("insecure wildcard listener = %v; want nil", err)
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	_, err := LoadConfig(filepath.Join(t.TempDir(), "nope.yaml"), DevConfig(), nil)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LoadConfig(missing) = %v; want os.ErrNotExist", err)
	}
}

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ByteSize
	}{
		{"4096", 4096}, {"1KiB", 1024}, {"128MiB", 128 << 20}, {"1.5GiB", 3 << 29}, {"10MB", 10e6}, {"2G", 2 << 30}, {" 7 B ", 7},
	} {
		got, err := ParseByteSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "MiB", "-1", "1XB", "1e30GiB", "NaN"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) = nil error; want one", bad)
		}
	}
	if s := ByteSize(128 << 20).String(); s != "128MiB" {
		t.Errorf("ByteSize(128MiB).String() = %q", s)
	}
}

// FuzzParseConfig: any bytes give a config or an error, never a panic, and
// whatever parses also validates.
func FuzzParseConfig(f *testing.F) {
	for _, seed := range []string{
		"", "tick: 1s\n", "grpc:\n  address: 127.0.0.1:1\n", "history:\n  max_bytes: 64MiB\n",
		"telemetry:\n  source: sim\n", "a: [", "tick: !!binary AAAA\n", "sim: {seed: 3, scenario: game}\n",
		"&a [*a]", "---\n---\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data, DevConfig(), nil)
		if err != nil {
			return
		}
		if verr := c.Validate(); verr != nil {
			t.Fatalf("ParseConfig accepted %q but Validate says %v", data, verr)
		}
	})
}

// TestProtectedListenersBeyondLoopback: TLS opens gRPC and Raft to the
// network, the gossip key opens gossip; HTTP still needs insecure.
func TestProtectedListenersBeyondLoopback(t *testing.T) {
	secured := `
grpc:
  address: 0.0.0.0:7070
cluster:
  gossip_address: 0.0.0.0:7946
  raft_address: 0.0.0.0:7947
  encrypt_key_file: /etc/gamesa/gossip.key
  advertise_address: 192.0.2.10
tls:
  ca_file: ca.pem
  cert_file: server.pem
  key_file: server-key.pem
`
	if _, err := ParseConfig([]byte(secured), DevConfig(), nil); err != nil {
		t.Fatalf("ParseConfig(secured) = %v; want nil", err)
	}
	_, err := ParseConfig([]byte(secured+"http:\n  address: 0.0.0.0:8080\n"), DevConfig(), nil)
	if err == nil || !strings.Contains(err.Error(), "http.address") {
		t.Fatalf("ParseConfig(secured + public http) = %v; want an error naming http.address", err)
	}
}
