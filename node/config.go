package node

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/krystalstack/gamesa/optimizer/power"
	"github.com/krystalstack/gamesa/telemetry"
	"github.com/krystalstack/gamesa/telemetry/sim"
)

// Limits that keep the local loop cheap and the API honest.
const (
	// MinInterval is the shortest tick or watch interval a node accepts.
	MinInterval = 100 * time.Millisecond
	// MaxInterval is the longest tick or watch interval a node accepts.
	MaxInterval = time.Hour
)

// Config is a node's configuration. The YAML keys are the `yaml` tags; error
// messages name those keys, and the agent's flags carry the same names.
type Config struct {
	// NodeID names the node in the cluster; empty means the host name.
	NodeID string `yaml:"node_id"`
	// DataDir holds the recorder and, later, Raft state and models. Empty
	// with Dev set means a fresh temporary directory removed on exit.
	DataDir string `yaml:"data_dir"`
	// Mode is "observe" (compute and show, change nothing) or "enforce".
	Mode string `yaml:"mode"`
	// Dev runs a single-node cluster on loopback with a temporary data dir.
	Dev bool `yaml:"dev"`
	// Insecure allows listening beyond loopback without TLS.
	Insecure bool `yaml:"insecure"`
	// Tick is the local loop's period.
	Tick time.Duration `yaml:"tick"`

	GRPC      ListenConfig    `yaml:"grpc"`
	HTTP      ListenConfig    `yaml:"http"`
	Telemetry TelemetryConfig `yaml:"telemetry"`
	Sim       SimConfig       `yaml:"sim"`
	History   HistoryConfig   `yaml:"history"`
	ML        MLConfig        `yaml:"ml"`
	Power     PowerConfig     `yaml:"power"`
	Policy    PolicyConfig    `yaml:"policy"`
	Cluster   ClusterConfig   `yaml:"cluster"`
	Jobs      JobsConfig      `yaml:"jobs"`
	Federated FederatedConfig `yaml:"federated"`
	TLS       TLSConfig       `yaml:"tls"`
	Auth      AuthConfig      `yaml:"auth"`
	Log       LogConfig       `yaml:"log"`

	// Logger receives the node's logs; nil means slog.Default(). Not part of
	// the file format.
	Logger *slog.Logger `yaml:"-"`

	// modelPeriod overrides how often the models are fed (tests only, so
	// a model's window fills in seconds; 0 means once a second).
	modelPeriod time.Duration
}

// ListenConfig is one listening socket.
type ListenConfig struct {
	Address string `yaml:"address"`
	// Pprof serves Go's profiler at /debug/pprof/ (HTTP listener only).
	Pprof bool `yaml:"pprof,omitempty"`
}

// TelemetryConfig chooses what the node measures.
type TelemetryConfig struct {
	// Source is "host" (this machine) or "sim" (the simulated machine).
	Source string `yaml:"source"`
	// TopProcesses is how many of the busiest processes each sample lists.
	TopProcesses int `yaml:"top_processes"`
	// GPU enables the NVIDIA collector (absent driver = no GPU, not an error).
	GPU      bool   `yaml:"gpu"`
	ProcRoot string `yaml:"proc_root"`
	SysRoot  string `yaml:"sys_root"`
	DevRoot  string `yaml:"dev_root"`
	EtcRoot  string `yaml:"etc_root"`
}

// Roots returns the host paths the collectors read.
func (t TelemetryConfig) Roots() telemetry.Roots {
	return telemetry.Roots{Proc: t.ProcRoot, Sys: t.SysRoot, Dev: t.DevRoot, Etc: t.EtcRoot}
}

// SimConfig parameterises the simulated machine.
type SimConfig struct {
	Seed uint64 `yaml:"seed"`
	// Scenario is idle, game, render, compile, browser or cycle.
	Scenario string `yaml:"scenario"`
}

// HistoryConfig bounds what the node remembers.
type HistoryConfig struct {
	// RingSize is how many samples the in-memory ring holds.
	RingSize int `yaml:"ring_size"`
	// RingRetention drops in-memory samples older than this.
	RingRetention time.Duration `yaml:"ring_retention"`
	// Disk enables the on-disk recorder in the data directory.
	Disk bool `yaml:"disk"`
	// MaxBytes bounds the recorder's stored samples ("128MiB" or bytes).
	MaxBytes ByteSize `yaml:"max_bytes"`
	// MaxAge drops recorded samples older than this.
	MaxAge time.Duration `yaml:"max_age"`
	// MinInterval is the shortest spacing of recorded samples: faster ticks
	// (a 10 Hz watcher) are kept in memory, not multiplied on disk.
	MinInterval time.Duration `yaml:"min_interval"`
}

// MLConfig runs the on-device models: thermal forecast, anomaly detector,
// workload classifier and action policy.
type MLConfig struct {
	// Enabled runs the models in the local loop.
	Enabled bool `yaml:"enabled"`
	// TrainStepsPerTick bounds online learning: optimizer steps per model
	// per tick (0 = inference only).
	TrainStepsPerTick int `yaml:"train_steps_per_tick"`
	// TrainInterval spaces each model's training: its steps run at most
	// this often (0: with every sample the models read, once a second).
	// One thermal step is ~4 ms of CPU, so every second it alone would be
	// 0.4 % of a core.
	TrainInterval time.Duration `yaml:"train_interval"`
	// SaveInterval is how often the models are written to the data dir
	// (they are also written at shutdown).
	SaveInterval time.Duration `yaml:"save_interval"`
	// Seed makes a fresh model's initial weights reproducible.
	Seed uint64 `yaml:"seed"`
}

// PowerConfig chooses the power mode the node's plan follows.
type PowerConfig struct {
	// Mode is auto (follow AC and battery), max_battery, balanced,
	// max_performance or gaming.
	Mode string `yaml:"mode"`
}

// PolicyConfig shapes the decision the node makes each tick: which rules
// it follows and how steady its plan is.
type PolicyConfig struct {
	// Rules are rule files (optimizer/rules' YAML), compiled after the
	// built-in rules and re-read within RulesInterval of a change; a file
	// with a mistake is reported and the rules in force stay.
	Rules []string `yaml:"rules"`
	// BuiltinRules includes the built-in rule set (`gamesa rules default`
	// prints it); off, the Rules files are the whole rule set.
	BuiltinRules bool `yaml:"builtin_rules"`
	// RulesInterval is how often the rule files are looked at.
	RulesInterval time.Duration `yaml:"rules_interval"`
	// ConfirmTicks, MinDwell and Linger are the plan's hysteresis: a new
	// value is asked for ConfirmTicks ticks in a row before it takes force,
	// and stays at least MinDwell; a setting nobody asks for any more is
	// given back (its original value restored) after Linger. Registered
	// apps, the user's power mode, safety rules and power caps act at once.
	ConfirmTicks int           `yaml:"confirm_ticks"`
	MinDwell     time.Duration `yaml:"min_dwell"`
	Linger       time.Duration `yaml:"linger"`
}

// ClusterConfig places the node in a cluster: gossip with every member,
// Raft among the servers.
type ClusterConfig struct {
	// Role is "server" (a Raft voter) or "client" (gossip and forwarding only).
	Role string `yaml:"role"`
	// BootstrapExpect is how many servers the cluster starts with (1, 3 or
	// 5): servers wait until gossip shows that many, then bootstrap Raft once.
	BootstrapExpect int `yaml:"bootstrap_expect"`
	// Join lists gossip addresses (host:port) of members to join at start.
	Join []string `yaml:"join"`
	// GossipAddress is where memberlist listens (TCP and UDP).
	GossipAddress string `yaml:"gossip_address"`
	// RaftAddress is where a server's Raft transport listens.
	RaftAddress string `yaml:"raft_address"`
	// AdvertiseAddress is the IP peers use to reach this node's gRPC,
	// gossip and Raft ports; required when a listener binds a wildcard
	// address (0.0.0.0, ::), which peers cannot dial.
	AdvertiseAddress string `yaml:"advertise_address"`
	// EncryptKeyFile holds the gossip AES key (base64, from gamesa keygen).
	EncryptKeyFile string `yaml:"encrypt_key_file"`
	// StaleAfter marks a member's digest stale when it is this old.
	StaleAfter time.Duration `yaml:"stale_after"`
	// Raft timings: LAN defaults (heartbeat = election = lease = 500ms).
	// The lease is how long a leader cut off from its quorum keeps acting
	// as one; reads are confirmed by a Barrier, so it is no safety bound.
	// Raft checks it every lease: 250ms cost an idle node 4 wake-ups a
	// second for a step-down a quarter second sooner.
	HeartbeatTimeout   time.Duration `yaml:"heartbeat_timeout"`
	ElectionTimeout    time.Duration `yaml:"election_timeout"`
	LeaderLeaseTimeout time.Duration `yaml:"leader_lease_timeout"`
	// ReconcileInterval is how often the leader aligns the Raft
	// configuration with gossip membership (it also reacts to events).
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
	// PromoteAfter is how long a new server must stay alive and caught up
	// before it becomes a voter.
	PromoteAfter time.Duration `yaml:"promote_after"`
	// RemoveFailedAfter is how long a failed server stays in the Raft
	// configuration before the leader removes it (never below quorum).
	RemoveFailedAfter time.Duration `yaml:"remove_failed_after"`
	// AllocateInterval is how often the leader recomputes the power caps
	// and job placements (it also reacts to membership, job and budget
	// changes within a fraction of a second).
	AllocateInterval time.Duration `yaml:"allocate_interval"`
	// PowerFloorWatts and PowerCeilingWatts are the least and the most
	// power cap worth giving this node from the cluster budget, which
	// covers its CPU packages and GPUs; 0 takes them from the machine (the
	// ceiling from its package and GPU power limits, the floor a fifth of
	// it). A node without either takes no part in the split.
	PowerFloorWatts   float64 `yaml:"power_floor_watts"`
	PowerCeilingWatts float64 `yaml:"power_ceiling_watts"`
	// PowerPriority is this node's claim on the budget: auto (judged from
	// its workload: a game outweighs a render, which outweighs idling),
	// or fixed at idle, background, interactive or active.
	PowerPriority string `yaml:"power_priority"`
}

// TLSConfig is the node's certificate from the cluster CA (gamesa tls).
// When set, gRPC and the Raft transport use mutual TLS.
type TLSConfig struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Domain is the cluster's certificate domain: servers present
	// server.<domain> (gamesa tls cert create --domain).
	Domain string `yaml:"domain"`
}

// Enabled reports whether TLS is configured.
func (t TLSConfig) Enabled() bool { return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" }

// AuthConfig guards the gRPC API with bearer tokens.
type AuthConfig struct {
	// TokensFile lists the tokens this node accepts, each with a scope
	// (read or admin); empty means no tokens are required.
	TokensFile string `yaml:"tokens_file"`
	// TokenFile holds the token this node presents when it forwards a write
	// to the leader (an admin token); empty forwards the caller's own.
	TokenFile string `yaml:"token_file"`
}

// LogConfig shapes the agent's log.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// DefaultConfig returns the configuration a plain `gamesa agent` uses.
func DefaultConfig() Config {
	roots := telemetry.DefaultRoots()
	return Config{
		Mode: "observe",
		Tick: time.Second,
		GRPC: ListenConfig{Address: "127.0.0.1:7070"},
		HTTP: ListenConfig{Address: "127.0.0.1:8080"},
		Telemetry: TelemetryConfig{
			Source:       "host",
			TopProcesses: 20,
			GPU:          true,
			ProcRoot:     roots.Proc,
			SysRoot:      roots.Sys,
			DevRoot:      roots.Dev,
			EtcRoot:      roots.Etc,
		},
		Sim: SimConfig{Seed: 1, Scenario: "cycle"},
		History: HistoryConfig{
			RingSize:      900,
			RingRetention: 15 * time.Minute,
			Disk:          true,
			MaxBytes:      128 << 20,
			MaxAge:        7 * 24 * time.Hour,
			MinInterval:   time.Second,
		},
		ML:    MLConfig{Enabled: true, TrainStepsPerTick: 1, TrainInterval: 5 * time.Second, SaveInterval: 5 * time.Minute, Seed: 1},
		TLS:   TLSConfig{Domain: "gamesa"},
		Power: PowerConfig{Mode: "auto"},
		Policy: PolicyConfig{
			BuiltinRules:  true,
			RulesInterval: 2 * time.Second,
			ConfirmTicks:  3,
			MinDwell:      10 * time.Second,
			Linger:        15 * time.Second,
		},
		Cluster: ClusterConfig{
			Role:               "server",
			BootstrapExpect:    1,
			GossipAddress:      "127.0.0.1:7946",
			RaftAddress:        "127.0.0.1:7947",
			StaleAfter:         10 * time.Second,
			HeartbeatTimeout:   500 * time.Millisecond,
			ElectionTimeout:    500 * time.Millisecond,
			LeaderLeaseTimeout: 500 * time.Millisecond,
			ReconcileInterval:  5 * time.Second,
			PromoteAfter:       10 * time.Second,
			RemoveFailedAfter:  10 * time.Minute,
			AllocateInterval:   2 * time.Second,
			PowerPriority:      "auto",
		},
		Jobs:      DefaultJobsConfig(),
		Federated: DefaultFederatedConfig(),
		Log:       LogConfig{Level: "info", Format: "text"},
	}
}

// DevConfig is DefaultConfig for `gamesa agent --dev`: a single node on
// loopback whose data lives in a temporary directory.
func DevConfig() Config {
	c := DefaultConfig()
	c.Dev = true
	return c
}

var logLevels = []string{"debug", "info", "warn", "error"}

// Validate reports the first problem in c, naming its YAML key.
func (c Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, &KeyError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	oneOf := func(key, v string, allowed ...string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		add(key, "must be one of %s; got %q", strings.Join(allowed, ", "), v)
	}

	if c.NodeID != "" && !validNodeID(c.NodeID) {
		add("node_id", "must be 1-64 letters, digits, '.', '_' or '-'; got %q", c.NodeID)
	}
	if c.DataDir == "" && !c.Dev {
		add("data_dir", "must be set unless dev is true")
	}
	oneOf("mode", c.Mode, "observe", "enforce")
	if m := c.Power.Mode; !strings.EqualFold(m, "auto") {
		if _, err := power.ParseMode(m); err != nil {
			add("power.mode", "must be auto, max_battery, balanced, max_performance or gaming; got %q", m)
		}
	}
	if !c.Policy.BuiltinRules && len(c.Policy.Rules) == 0 {
		add("policy.rules", "must name a rule file when policy.builtin_rules is false")
	}
	if c.Policy.RulesInterval < 100*time.Millisecond {
		add("policy.rules_interval", "must be at least 100ms; got %v", c.Policy.RulesInterval)
	}
	if c.Policy.ConfirmTicks < 1 || c.Policy.ConfirmTicks > 60 {
		add("policy.confirm_ticks", "must be between 1 and 60; got %d", c.Policy.ConfirmTicks)
	}
	if c.Policy.MinDwell < 0 || c.Policy.MinDwell > time.Hour {
		add("policy.min_dwell", "must be between 0 and 1h; got %v", c.Policy.MinDwell)
	}
	if c.Policy.Linger < 0 || c.Policy.Linger > time.Hour {
		add("policy.linger", "must be between 0 and 1h; got %v", c.Policy.Linger)
	}
	if c.Tick < MinInterval || c.Tick > MaxInterval {
		add("tick", "must be between %v and %v; got %v", MinInterval, MaxInterval, c.Tick)
	}
	secure := c.TLS.Enabled()
	for _, l := range []struct {
		key, addr string
		protected bool // what makes a listener beyond loopback acceptable
	}{
		{"grpc.address", c.GRPC.Address, secure},
		// HTTP (dashboard, /metrics) has no TLS of its own yet: exposing
		// it stays an explicit choice.
		{"http.address", c.HTTP.Address, false},
		{"cluster.gossip_address", c.Cluster.GossipAddress, c.Cluster.EncryptKeyFile != ""},
		{"cluster.raft_address", c.Cluster.RaftAddress, secure},
	} {
		if err := checkListen(l.addr, c.Insecure || l.protected); err != nil {
			add(l.key, "%v", err)
		}
	}
	c.validateCluster(add)
	c.validateAllocation(add)
	c.Federated.validate(add)
	seen := map[string]string{}
	for _, l := range []struct{ key, addr string }{
		{"grpc.address", c.GRPC.Address}, {"http.address", c.HTTP.Address},
		{"cluster.gossip_address", c.Cluster.GossipAddress}, {"cluster.raft_address", c.Cluster.RaftAddress},
	} {
		if strings.HasSuffix(l.addr, ":0") {
			continue
		}
		if other, dup := seen[l.addr]; dup {
			add(l.key, "must differ from %s (both are %s)", other, l.addr)
		}
		seen[l.addr] = l.key
	}
	oneOf("telemetry.source", c.Telemetry.Source, "host", "sim")
	if c.Telemetry.TopProcesses < 0 || c.Telemetry.TopProcesses > 1000 {
		add("telemetry.top_processes", "must be between 0 and 1000; got %d", c.Telemetry.TopProcesses)
	}
	for _, r := range []struct{ key, v string }{
		{"telemetry.proc_root", c.Telemetry.ProcRoot}, {"telemetry.sys_root", c.Telemetry.SysRoot},
		{"telemetry.dev_root", c.Telemetry.DevRoot}, {"telemetry.etc_root", c.Telemetry.EtcRoot},
	} {
		if r.v == "" {
			add(r.key, "must not be empty")
		}
	}
	oneOf("sim.scenario", c.Sim.Scenario, sim.Scenarios()...)
	if c.History.RingSize < 1 || c.History.RingSize > 1_000_000 {
		add("history.ring_size", "must be between 1 and 1000000; got %d", c.History.RingSize)
	}
	if c.History.RingRetention < 0 {
		add("history.ring_retention", "must not be negative; got %v", c.History.RingRetention)
	}
	if c.History.Disk {
		if c.History.MaxBytes < 1<<20 {
			add("history.max_bytes", "must be at least 1MiB; got %v", c.History.MaxBytes)
		}
		if c.History.MaxAge < time.Minute {
			add("history.max_age", "must be at least 1m; got %v", c.History.MaxAge)
		}
		if c.History.MinInterval < 0 {
			add("history.min_interval", "must not be negative; got %v", c.History.MinInterval)
		}
	}
	if c.ML.Enabled && c.Tick > modelPeriod {
		add("ml.enabled", "the models read one sample a second, so tick must be at most %v (got %v); or set ml.enabled: false", modelPeriod, c.Tick)
	}
	if c.ML.TrainStepsPerTick < 0 || c.ML.TrainStepsPerTick > 100 {
		add("ml.train_steps_per_tick", "must be between 0 and 100; got %d", c.ML.TrainStepsPerTick)
	}
	if c.ML.TrainInterval < 0 || c.ML.TrainInterval > time.Hour {
		add("ml.train_interval", "must be between 0 and 1h; got %v", c.ML.TrainInterval)
	}
	if c.ML.SaveInterval < 0 {
		add("ml.save_interval", "must not be negative; got %v", c.ML.SaveInterval)
	}
	oneOf("log.level", c.Log.Level, logLevels...)
	oneOf("log.format", c.Log.Format, "text", "json")
	return errors.Join(errs...)
}

// validateCluster checks the cluster, tls and auth sections.
func (c Config) validateCluster(add func(key, format string, args ...any)) {
	cl := c.Cluster
	switch cl.Role {
	case "server":
		if cl.BootstrapExpect != 1 && cl.BootstrapExpect != 3 && cl.BootstrapExpect != 5 {
			add("cluster.bootstrap_expect", "must be 1, 3 or 5 (an odd number of voters keeps a majority after a failure); got %d", cl.BootstrapExpect)
		}
	case "client":
		if len(cl.Join) == 0 && !c.Dev {
			add("cluster.join", "a client must join at least one member")
		}
	default:
		add("cluster.role", "must be server or client; got %q", cl.Role)
	}
	if a := cl.AdvertiseAddress; a != "" {
		if ip, err := netip.ParseAddr(a); err != nil || ip.IsUnspecified() {
			add("cluster.advertise_address", "must be an IP address peers can reach; got %q", a)
		}
	} else {
		for _, l := range []struct{ key, addr string }{
			{"grpc.address", c.GRPC.Address}, {"cluster.gossip_address", cl.GossipAddress}, {"cluster.raft_address", cl.RaftAddress},
		} {
			if host, _, err := net.SplitHostPort(l.addr); err == nil {
				if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
					add("cluster.advertise_address", "must be set: %s binds %s, which peers cannot dial", l.key, l.addr)
				}
			}
		}
	}
	for i, j := range cl.Join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			add(fmt.Sprintf("cluster.join[%d]", i), "must be host:port; %v", err)
		}
	}
	if cl.StaleAfter < MinInterval {
		add("cluster.stale_after", "must be at least %v; got %v", MinInterval, cl.StaleAfter)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
		min time.Duration
	}{
		{"cluster.heartbeat_timeout", cl.HeartbeatTimeout, 5 * time.Millisecond},
		{"cluster.election_timeout", cl.ElectionTimeout, 5 * time.Millisecond},
		{"cluster.leader_lease_timeout", cl.LeaderLeaseTimeout, 5 * time.Millisecond},
		{"cluster.reconcile_interval", cl.ReconcileInterval, 100 * time.Millisecond},
		{"cluster.promote_after", cl.PromoteAfter, 0},
		{"cluster.remove_failed_after", cl.RemoveFailedAfter, time.Second},
	} {
		if d.v < d.min || d.v > MaxInterval*24 {
			add(d.key, "must be between %v and %v; got %v", d.min, MaxInterval*24, d.v)
		}
	}
	if cl.LeaderLeaseTimeout > cl.HeartbeatTimeout {
		add("cluster.leader_lease_timeout", "must not exceed heartbeat_timeout (%v); got %v", cl.HeartbeatTimeout, cl.LeaderLeaseTimeout)
	}
	if t := c.TLS; t.Enabled() {
		for _, f := range []struct{ key, v string }{
			{"tls.ca_file", t.CAFile}, {"tls.cert_file", t.CertFile}, {"tls.key_file", t.KeyFile},
		} {
			if f.v == "" {
				add(f.key, "must be set: TLS needs the CA, the certificate and its key")
			}
		}
		if t.Domain == "" {
			add("tls.domain", "must be set (servers present server.<domain>)")
		}
	}
}

// KeyError is a configuration error about one key.
type KeyError struct {
	Key string
	// Line is the line in the config file, 0 when unknown.
	Line int
	Msg  string
}

func (e *KeyError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s (line %d): %s", e.Key, e.Line, e.Msg)
	}
	return e.Key + ": " + e.Msg
}

var nodeIDRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func validNodeID(id string) bool { return nodeIDRe.MatchString(id) }

// checkListen accepts host:port where the host is an IP address or
// "localhost"; anything beyond loopback must be protected (TLS, or the
// gossip key) unless the user said insecure.
func checkListen(addr string, protected bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("must be host:port; %v", err)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q must be a number from 0 to 65535", port)
	} else if p == 0 && host == "" {
		return errors.New("an OS-chosen port needs an explicit host")
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if host == "" || err != nil {
		return fmt.Errorf("host %q must be an IP address or localhost", host)
	}
	if !ip.IsLoopback() && !protected {
		return fmt.Errorf("%s is beyond loopback: that needs TLS (tls.*; gossip: cluster.encrypt_key_file), or insecure: true (--insecure) to allow plaintext", addr)
	}
	return nil
}

// LoadConfig reads a YAML file over base (normally DefaultConfig or
// DevConfig), applies override (the command line's flags; may be nil), and
// validates the result: a file value a flag replaces is never judged on its
// own. Unknown keys are errors.
func LoadConfig(path string, base Config, override func(*Config)) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return base, fmt.Errorf("config: %w", err)
	}
	c, err := ParseConfig(data, base, override)
	if err != nil {
		return base, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig decodes YAML over base, applies override (may be nil) and
// validates the result, naming the file's line for keys the file sets. It
// does not touch the file system.
func ParseConfig(data []byte, base Config, override func(*Config)) (Config, error) {
	c := base
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		var doc yaml.Node
		_ = yaml.Unmarshal(data, &doc) // best effort: only used to name keys
		return base, yamlError(err, &doc)
	}
	// A second document in one file is almost certainly a mistake.
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return base, errors.New("more than one YAML document; a config file holds one")
	}
	if override != nil {
		override(&c)
	}
	if err := c.Validate(); err != nil {
		var doc yaml.Node
		if yaml.Unmarshal(data, &doc) == nil {
			addLines(err, &doc)
		}
		return base, err
	}
	return c, nil
}

// addLines fills in the file line of every KeyError in err whose key the
// document sets, so a user can go straight to it.
func addLines(err error, doc *yaml.Node) {
	var ke *KeyError
	if errors.As(err, &ke) {
		ke.Line = lineOf(doc, ke.Key)
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			addLines(e, doc)
		}
	}
}

func lineOf(n *yaml.Node, dotted string) int {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, part := range strings.Split(dotted, ".") {
		if n.Kind != yaml.MappingNode {
			return 0
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				line, n, found = n.Content[i].Line, n.Content[i+1], true
				break
			}
		}
		if !found {
			return 0
		}
	}
	return line
}

var (
	unknownKeyRe   = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)
	typeMismatchRe = regexp.MustCompile(`line (\d+): cannot unmarshal !!(\w+) ` + "`" + `([^` + "`" + `]*)` + "`" + ` into (\S+)`)
)

// yamlError turns yaml.v3's messages, which name Go types, into ones that
// name the user's keys and lines.
func yamlError(err error, doc *yaml.Node) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("invalid YAML: %w", err)
	}
	msgs := make([]string, 0, len(te.Errors))
	for _, m := range te.Errors {
		if sm := unknownKeyRe.FindStringSubmatch(m); sm != nil {
			msgs = append(msgs, fmt.Sprintf("line %s: unknown key %q", sm[1], sm[2]))
			continue
		}
		if sm := typeMismatchRe.FindStringSubmatch(m); sm != nil {
			line, _ := strconv.Atoi(sm[1])
			key := keyAtLine(doc, line)
			msgs = append(msgs, fmt.Sprintf("%s (line %s): %q is not a valid %s", key, sm[1], sm[3], goTypeWord(sm[4])))
			continue
		}
		msgs = append(msgs, m)
	}
	return errors.New(strings.Join(msgs, "; "))
}

// keyAtLine returns the dotted key whose key or value starts on line, or
// "value" when none does.
func keyAtLine(n *yaml.Node, line int) string {
	var walk func(n *yaml.Node, prefix string) string
	walk = func(n *yaml.Node, prefix string) string {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				if k := walk(c, prefix); k != "" {
					return k
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				key := n.Content[i].Value
				if prefix != "" {
					key = prefix + "." + key
				}
				if k := walk(n.Content[i+1], key); k != "" {
					return k
				}
				if n.Content[i].Line == line || n.Content[i+1].Line == line {
					return key
				}
			}
		}
		return ""
	}
	if k := walk(n, ""); k != "" {
		return k
	}
	return "value"
}

func goTypeWord(t string) string {
	switch {
	case t == "time.Duration":
		return "duration (e.g. 1s, 500ms, 15m)"
	case t == "bool":
		return "boolean (true or false)"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "integer"
	case strings.HasSuffix(t, "ByteSize"):
		return "size (e.g. 128MiB)"
	case strings.HasPrefix(t, "node."):
		return "section (a mapping of keys)"
	default:
		return t
	}
}
