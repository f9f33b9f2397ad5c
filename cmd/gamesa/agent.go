package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/krystalstack/gamesa/node"
)

func newAgentCmd() *cobra.Command {
	var af *agentFlags
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a GAMESA node on this machine",
		Long: `Run a GAMESA node: sample this machine every tick, keep its history, and serve
the gRPC API (default 127.0.0.1:7070) and HTTP (default 127.0.0.1:8080: /gamesa,
/metrics, /healthz). The node observes only; it changes nothing on the machine.

Settings come from the defaults, then --config (YAML; unknown keys are errors),
then flags. --dev is a single node on loopback with a temporary data directory.`,
		Example: `  gamesa agent --dev
  gamesa agent --dev --source sim --sim-scenario game
  gamesa agent --config /etc/gamesa/agent.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := agentConfig(cmd.Flags(), af.configPath, af.cfg)
			if err != nil {
				return usageError{err}
			}
			cfg.Logger = newLogger(cmd.ErrOrStderr(), cfg.Log)
			n, err := node.New(cfg, buildVersion())
			if err != nil {
				return usageError{err}
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(agentGCPercent)
			}
			if os.Getenv("GOMAXPROCS") == "" {
				runtime.GOMAXPROCS(agentMaxProcs)
			}
			go trimStartupMemory(ctx, n.Ready(), cfg.Logger)
			return n.Run(ctx)
		},
	}
	af = bindAgentFlags(cmd.Flags())
	return cmd
}

// agentGCPercent is the agent's GOGC unless the environment sets one. The
// agent allocates ~100 KB a second, so the default 100 collects about once
// a minute with the heap at twice its live size; at 50 the heap stays at
// 1.5 times (4-5 MB less resident in steady state) for a second collection
// a minute, a few hundredths of a percent of a core.
const agentGCPercent = 50

// agentMaxProcs is the agent's GOMAXPROCS unless the environment sets one.
// Its work is a tick a second plus I/O-bound serving: one core's worth
// even with 100 watchers at 10 Hz (about 12 % of a core). With a P per
// core, every goroutine woken (a timer, a packet) may wake a second
// thread to look for work: an idle agent used 0.82 % of a core with two
// Ps and 0.67-0.71 % with one on a 2-core VM (make footprint, 120 s).
const agentMaxProcs = 1

// agentFlags holds what the agent's flags parse into. cfg starts at the
// defaults so --help shows them; agentConfig copies only the flags the user
// set over the config file.
type agentFlags struct {
	configPath string
	cfg        node.Config
}

func bindAgentFlags(fs *pflag.FlagSet) *agentFlags {
	d := node.DefaultConfig()
	af := &agentFlags{cfg: d}
	f := &af.cfg
	fs.StringVar(&af.configPath, "config", "", "YAML config file")
	fs.BoolVar(&f.Dev, "dev", false, "single node on loopback, temporary data directory")
	fs.StringVar(&f.NodeID, "node-id", "", "node name (default: the host name)")
	fs.StringVar(&f.DataDir, "data-dir", "", "directory for history and state (required without --dev)")
	fs.StringVar(&f.Mode, "mode", d.Mode, "observe (change nothing) or enforce")
	fs.BoolVar(&f.Insecure, "insecure", false, "allow plaintext listeners beyond loopback")
	fs.DurationVar(&f.Tick, "tick", d.Tick, "local loop period")
	fs.StringVar(&f.GRPC.Address, "grpc-addr", d.GRPC.Address, "gRPC listen address")
	fs.StringVar(&f.HTTP.Address, "http-addr", d.HTTP.Address, "HTTP listen address (dashboard, /metrics, /healthz)")
	fs.BoolVar(&f.HTTP.Pprof, "pprof", false, "serve Go's profiler at /debug/pprof/ on the HTTP listener")
	fs.StringVar(&f.Telemetry.Source, "source", d.Telemetry.Source, "telemetry source: host or sim")
	fs.IntVar(&f.Telemetry.TopProcesses, "top-processes", d.Telemetry.TopProcesses, "busiest processes listed per sample")
	fs.BoolVar(&f.Telemetry.GPU, "gpu", d.Telemetry.GPU, "read NVIDIA GPUs through NVML")
	fs.StringVar(&f.Telemetry.ProcRoot, "proc-root", d.Telemetry.ProcRoot, "where procfs is mounted")
	fs.StringVar(&f.Telemetry.SysRoot, "sys-root", d.Telemetry.SysRoot, "where sysfs is mounted")
	fs.StringVar(&f.Telemetry.DevRoot, "dev-root", d.Telemetry.DevRoot, "where /dev is")
	fs.StringVar(&f.Telemetry.EtcRoot, "etc-root", d.Telemetry.EtcRoot, "where /etc is (user names)")
	fs.Uint64Var(&f.Sim.Seed, "sim-seed", d.Sim.Seed, "simulated machine seed")
	fs.StringVar(&f.Sim.Scenario, "sim-scenario", d.Sim.Scenario, "simulated workload: idle, game, render, compile, browser, cycle")
	fs.IntVar(&f.History.RingSize, "history-ring-size", d.History.RingSize, "samples kept in memory")
	fs.DurationVar(&f.History.RingRetention, "history-ring-retention", d.History.RingRetention, "age limit of samples kept in memory")
	fs.BoolVar(&f.History.Disk, "history-disk", d.History.Disk, "record samples on disk in the data directory")
	fs.Var(&f.History.MaxBytes, "history-max-bytes", "on-disk history size bound (e.g. 128MiB)")
	fs.DurationVar(&f.History.MaxAge, "history-max-age", d.History.MaxAge, "on-disk history age bound")
	fs.DurationVar(&f.History.MinInterval, "history-min-interval", d.History.MinInterval, "shortest spacing of recorded samples")
	fs.BoolVar(&f.ML.Enabled, "ml", d.ML.Enabled, "run the on-device models (thermal forecast, anomaly, workload)")
	fs.IntVar(&f.ML.TrainStepsPerTick, "ml-train-steps", d.ML.TrainStepsPerTick, "online training steps per model per tick (0 = inference only)")
	fs.DurationVar(&f.ML.TrainInterval, "ml-train-interval", d.ML.TrainInterval, "least time between a model's online training steps (0: every second)")
	fs.DurationVar(&f.ML.SaveInterval, "ml-save-interval", d.ML.SaveInterval, "how often models are saved to the data directory")
	fs.Uint64Var(&f.ML.Seed, "ml-seed", d.ML.Seed, "seed of a fresh model's weights")
	fs.StringVar(&f.Power.Mode, "power-mode", d.Power.Mode, "auto (follow AC and battery), max_battery, balanced, max_performance or gaming")
	fs.StringSliceVar(&f.Policy.Rules, "rules", nil, "rule file compiled after the built-in rules, reloaded when it changes (repeatable)")
	fs.BoolVar(&f.Policy.BuiltinRules, "builtin-rules", d.Policy.BuiltinRules, "include the built-in rules (gamesa rules default prints them)")
	fs.DurationVar(&f.Policy.RulesInterval, "rules-interval", d.Policy.RulesInterval, "how often the rule files are looked at")
	fs.IntVar(&f.Policy.ConfirmTicks, "confirm-ticks", d.Policy.ConfirmTicks, "ticks a new setting is asked for before it takes force")
	fs.DurationVar(&f.Policy.MinDwell, "min-dwell", d.Policy.MinDwell, "least time a setting stays before a non-urgent change")
	fs.DurationVar(&f.Policy.Linger, "linger", d.Policy.Linger, "how long a setting nobody asks for stays before it is given back")
	fs.StringVar(&f.Cluster.Role, "role", d.Cluster.Role, "server (Raft voter) or client (gossip and forwarding)")
	fs.IntVar(&f.Cluster.BootstrapExpect, "bootstrap-expect", d.Cluster.BootstrapExpect, "servers to wait for before the first election: 1, 3 or 5")
	fs.StringSliceVar(&f.Cluster.Join, "join", nil, "gossip address of a member to join (repeatable)")
	fs.StringVar(&f.Cluster.GossipAddress, "gossip-addr", d.Cluster.GossipAddress, "gossip (memberlist) listen address")
	fs.StringVar(&f.Cluster.RaftAddress, "raft-addr", d.Cluster.RaftAddress, "Raft listen address (servers)")
	fs.StringVar(&f.Cluster.AdvertiseAddress, "advertise-addr", "", "IP peers reach this node at (required with a wildcard bind)")
	fs.StringVar(&f.Cluster.EncryptKeyFile, "encrypt-key-file", "", "file with the gossip encryption key (gamesa keygen)")
	fs.DurationVar(&f.Cluster.StaleAfter, "stale-after", d.Cluster.StaleAfter, "age after which a member's digest is stale")
	fs.DurationVar(&f.Cluster.HeartbeatTimeout, "raft-heartbeat-timeout", d.Cluster.HeartbeatTimeout, "Raft heartbeat timeout")
	fs.DurationVar(&f.Cluster.ElectionTimeout, "raft-election-timeout", d.Cluster.ElectionTimeout, "Raft election timeout")
	fs.DurationVar(&f.Cluster.LeaderLeaseTimeout, "raft-leader-lease-timeout", d.Cluster.LeaderLeaseTimeout, "Raft leader lease timeout")
	fs.DurationVar(&f.Cluster.ReconcileInterval, "reconcile-interval", d.Cluster.ReconcileInterval, "how often the leader aligns Raft membership with gossip")
	fs.DurationVar(&f.Cluster.PromoteAfter, "promote-after", d.Cluster.PromoteAfter, "how long a new server stays caught up before it votes")
	fs.DurationVar(&f.Cluster.RemoveFailedAfter, "remove-failed-after", d.Cluster.RemoveFailedAfter, "how long a failed server keeps its Raft seat")
	fs.DurationVar(&f.Cluster.AllocateInterval, "allocate-interval", d.Cluster.AllocateInterval, "how often the leader recomputes power caps and job placements")
	fs.Float64Var(&f.Cluster.PowerFloorWatts, "power-floor-watts", 0, "least power cap this node takes from the cluster budget (0: a fifth of its ceiling)")
	fs.Float64Var(&f.Cluster.PowerCeilingWatts, "power-ceiling-watts", 0, "most power cap worth giving this node (0: its CPU package and GPU power limits)")
	fs.StringVar(&f.Cluster.PowerPriority, "power-priority", d.Cluster.PowerPriority, "claim on the budget: auto (from the workload), idle, background, interactive or active")
	fs.BoolVar(&f.Jobs.Enabled, "enable-jobs", false, "let the cluster run jobs on this node (real processes)")
	fs.StringToStringVar(&f.Jobs.Labels, "node-label", nil, "a label job constraints match, key=value (repeatable)")
	fs.DurationVar(&f.Jobs.Lease, "job-lease", d.Jobs.Lease, "how long jobs keep running without word from the cluster")
	fs.DurationVar(&f.Jobs.StopGrace, "job-stop-grace", d.Jobs.StopGrace, "time between SIGTERM and SIGKILL when a job is stopped")
	fs.BoolVar(&f.Federated.Enabled, "federated", d.Federated.Enabled, "take part in federated learning rounds (and run them while leading)")
	fs.DurationVar(&f.Federated.Interval, "federated-interval", d.Federated.Interval, "how long the leader waits after a round before the next (0: on request only)")
	fs.IntVar(&f.Federated.MinParticipants, "federated-min-nodes", d.Federated.MinParticipants, "federated.min_participants: fewest updates a round merges; fewer by the deadline abort it")
	fs.DurationVar(&f.Federated.Deadline, "federated-deadline", d.Federated.Deadline, "how long a round waits for updates")
	fs.StringVar(&f.Federated.Rule, "federated-rule", d.Federated.Rule, "merge rule: fedavg, median, trimmed_mean or krum")
	fs.DurationVar(&f.Federated.TrainBudget, "federated-train-budget", d.Federated.TrainBudget, "most local training per round, in wall time")
	fs.StringVar(&f.TLS.CAFile, "tls-ca", "", "cluster CA certificate (PEM); enables mutual TLS with --tls-cert and --tls-key")
	fs.StringVar(&f.TLS.CertFile, "tls-cert", "", "this node's certificate (PEM)")
	fs.StringVar(&f.TLS.KeyFile, "tls-key", "", "this node's private key (PEM)")
	fs.StringVar(&f.TLS.Domain, "tls-domain", d.TLS.Domain, "the cluster's certificate domain (servers are server.<domain>)")
	fs.StringVar(&f.Auth.TokensFile, "tokens-file", "", "bearer tokens the gRPC API accepts (with read or admin scope)")
	fs.StringVar(&f.Auth.TokenFile, "token-file", "", "token this node presents when it forwards writes to the leader")
	fs.StringVar(&f.Log.Level, "log-level", d.Log.Level, "debug, info, warn or error")
	fs.StringVar(&f.Log.Format, "log-format", d.Log.Format, "text or json")
	return af
}

// flagKeys maps each agent flag to the Config field it sets. Keeping this
// in one table makes "flags override the file" a loop, not a list of ifs.
var flagKeys = map[string]func(dst *node.Config, f node.Config){
	"dev":                       func(d *node.Config, f node.Config) { d.Dev = f.Dev },
	"node-id":                   func(d *node.Config, f node.Config) { d.NodeID = f.NodeID },
	"data-dir":                  func(d *node.Config, f node.Config) { d.DataDir = f.DataDir },
	"mode":                      func(d *node.Config, f node.Config) { d.Mode = f.Mode },
	"insecure":                  func(d *node.Config, f node.Config) { d.Insecure = f.Insecure },
	"tick":                      func(d *node.Config, f node.Config) { d.Tick = f.Tick },
	"grpc-addr":                 func(d *node.Config, f node.Config) { d.GRPC.Address = f.GRPC.Address },
	"http-addr":                 func(d *node.Config, f node.Config) { d.HTTP.Address = f.HTTP.Address },
	"pprof":                     func(d *node.Config, f node.Config) { d.HTTP.Pprof = f.HTTP.Pprof },
	"source":                    func(d *node.Config, f node.Config) { d.Telemetry.Source = f.Telemetry.Source },
	"top-processes":             func(d *node.Config, f node.Config) { d.Telemetry.TopProcesses = f.Telemetry.TopProcesses },
	"gpu":                       func(d *node.Config, f node.Config) { d.Telemetry.GPU = f.Telemetry.GPU },
	"proc-root":                 func(d *node.Config, f node.Config) { d.Telemetry.ProcRoot = f.Telemetry.ProcRoot },
	"sys-root":                  func(d *node.Config, f node.Config) { d.Telemetry.SysRoot = f.Telemetry.SysRoot },
	"dev-root":                  func(d *node.Config, f node.Config) { d.Telemetry.DevRoot = f.Telemetry.DevRoot },
	"etc-root":                  func(d *node.Config, f node.Config) { d.Telemetry.EtcRoot = f.Telemetry.EtcRoot },
	"sim-seed":                  func(d *node.Config, f node.Config) { d.Sim.Seed = f.Sim.Seed },
	"sim-scenario":              func(d *node.Config, f node.Config) { d.Sim.Scenario = f.Sim.Scenario },
	"history-ring-size":         func(d *node.Config, f node.Config) { d.History.RingSize = f.History.RingSize },
	"history-ring-retention":    func(d *node.Config, f node.Config) { d.History.RingRetention = f.History.RingRetention },
	"history-disk":              func(d *node.Config, f node.Config) { d.History.Disk = f.History.Disk },
	"history-max-bytes":         func(d *node.Config, f node.Config) { d.History.MaxBytes = f.History.MaxBytes },
	"history-max-age":           func(d *node.Config, f node.Config) { d.History.MaxAge = f.History.MaxAge },
	"history-min-interval":      func(d *node.Config, f node.Config) { d.History.MinInterval = f.History.MinInterval },
	"ml":                        func(d *node.Config, f node.Config) { d.ML.Enabled = f.ML.Enabled },
	"ml-train-steps":            func(d *node.Config, f node.Config) { d.ML.TrainStepsPerTick = f.ML.TrainStepsPerTick },
	"ml-train-interval":         func(d *node.Config, f node.Config) { d.ML.TrainInterval = f.ML.TrainInterval },
	"ml-save-interval":          func(d *node.Config, f node.Config) { d.ML.SaveInterval = f.ML.SaveInterval },
	"ml-seed":                   func(d *node.Config, f node.Config) { d.ML.Seed = f.ML.Seed },
	"power-mode":                func(d *node.Config, f node.Config) { d.Power.Mode = f.Power.Mode },
	"rules":                     func(d *node.Config, f node.Config) { d.Policy.Rules = f.Policy.Rules },
	"builtin-rules":             func(d *node.Config, f node.Config) { d.Policy.BuiltinRules = f.Policy.BuiltinRules },
	"rules-interval":            func(d *node.Config, f node.Config) { d.Policy.RulesInterval = f.Policy.RulesInterval },
	"confirm-ticks":             func(d *node.Config, f node.Config) { d.Policy.ConfirmTicks = f.Policy.ConfirmTicks },
	"min-dwell":                 func(d *node.Config, f node.Config) { d.Policy.MinDwell = f.Policy.MinDwell },
	"linger":                    func(d *node.Config, f node.Config) { d.Policy.Linger = f.Policy.Linger },
	"role":                      func(d *node.Config, f node.Config) { d.Cluster.Role = f.Cluster.Role },
	"bootstrap-expect":          func(d *node.Config, f node.Config) { d.Cluster.BootstrapExpect = f.Cluster.BootstrapExpect },
	"join":                      func(d *node.Config, f node.Config) { d.Cluster.Join = f.Cluster.Join },
	"gossip-addr":               func(d *node.Config, f node.Config) { d.Cluster.GossipAddress = f.Cluster.GossipAddress },
	"raft-addr":                 func(d *node.Config, f node.Config) { d.Cluster.RaftAddress = f.Cluster.RaftAddress },
	"advertise-addr":            func(d *node.Config, f node.Config) { d.Cluster.AdvertiseAddress = f.Cluster.AdvertiseAddress },
	"tls-domain":                func(d *node.Config, f node.Config) { d.TLS.Domain = f.TLS.Domain },
	"encrypt-key-file":          func(d *node.Config, f node.Config) { d.Cluster.EncryptKeyFile = f.Cluster.EncryptKeyFile },
	"stale-after":               func(d *node.Config, f node.Config) { d.Cluster.StaleAfter = f.Cluster.StaleAfter },
	"raft-heartbeat-timeout":    func(d *node.Config, f node.Config) { d.Cluster.HeartbeatTimeout = f.Cluster.HeartbeatTimeout },
	"raft-election-timeout":     func(d *node.Config, f node.Config) { d.Cluster.ElectionTimeout = f.Cluster.ElectionTimeout },
	"raft-leader-lease-timeout": func(d *node.Config, f node.Config) { d.Cluster.LeaderLeaseTimeout = f.Cluster.LeaderLeaseTimeout },
	"reconcile-interval":        func(d *node.Config, f node.Config) { d.Cluster.ReconcileInterval = f.Cluster.ReconcileInterval },
	"promote-after":             func(d *node.Config, f node.Config) { d.Cluster.PromoteAfter = f.Cluster.PromoteAfter },
	"remove-failed-after":       func(d *node.Config, f node.Config) { d.Cluster.RemoveFailedAfter = f.Cluster.RemoveFailedAfter },
	"allocate-interval":         func(d *node.Config, f node.Config) { d.Cluster.AllocateInterval = f.Cluster.AllocateInterval },
	"power-floor-watts":         func(d *node.Config, f node.Config) { d.Cluster.PowerFloorWatts = f.Cluster.PowerFloorWatts },
	"power-ceiling-watts":       func(d *node.Config, f node.Config) { d.Cluster.PowerCeilingWatts = f.Cluster.PowerCeilingWatts },
	"power-priority":            func(d *node.Config, f node.Config) { d.Cluster.PowerPriority = f.Cluster.PowerPriority },
	"enable-jobs":               func(d *node.Config, f node.Config) { d.Jobs.Enabled = f.Jobs.Enabled },
	"node-label":                func(d *node.Config, f node.Config) { d.Jobs.Labels = f.Jobs.Labels },
	"job-lease":                 func(d *node.Config, f node.Config) { d.Jobs.Lease = f.Jobs.Lease },
	"job-stop-grace":            func(d *node.Config, f node.Config) { d.Jobs.StopGrace = f.Jobs.StopGrace },
	"federated":                 func(d *node.Config, f node.Config) { d.Federated.Enabled = f.Federated.Enabled },
	"federated-interval":        func(d *node.Config, f node.Config) { d.Federated.Interval = f.Federated.Interval },
	"federated-min-nodes":       func(d *node.Config, f node.Config) { d.Federated.MinParticipants = f.Federated.MinParticipants },
	"federated-deadline":        func(d *node.Config, f node.Config) { d.Federated.Deadline = f.Federated.Deadline },
	"federated-rule":            func(d *node.Config, f node.Config) { d.Federated.Rule = f.Federated.Rule },
	"federated-train-budget":    func(d *node.Config, f node.Config) { d.Federated.TrainBudget = f.Federated.TrainBudget },
	"tls-ca":                    func(d *node.Config, f node.Config) { d.TLS.CAFile = f.TLS.CAFile },
	"tls-cert":                  func(d *node.Config, f node.Config) { d.TLS.CertFile = f.TLS.CertFile },
	"tls-key":                   func(d *node.Config, f node.Config) { d.TLS.KeyFile = f.TLS.KeyFile },
	"tokens-file":               func(d *node.Config, f node.Config) { d.Auth.TokensFile = f.Auth.TokensFile },
	"token-file":                func(d *node.Config, f node.Config) { d.Auth.TokenFile = f.Auth.TokenFile },
	"log-level":                 func(d *node.Config, f node.Config) { d.Log.Level = f.Log.Level },
	"log-format":                func(d *node.Config, f node.Config) { d.Log.Format = f.Log.Format },
}

// agentConfig layers defaults, the config file and the flags the user set,
// then validates the result once.
func agentConfig(fs *pflag.FlagSet, path string, f node.Config) (node.Config, error) {
	cfg := node.DefaultConfig()
	if f.Dev {
		cfg = node.DevConfig()
	}
	var flagErr error
	override := func(c *node.Config) {
		fs.Visit(func(fl *pflag.Flag) {
			if set, ok := flagKeys[fl.Name]; ok {
				set(c, f)
			} else if fl.Name != "config" && flagErr == nil {
				flagErr = errUnmappedFlag(fl.Name)
			}
		})
	}
	var err error
	if path != "" {
		cfg, err = node.LoadConfig(path, cfg, override)
	} else {
		override(&cfg)
		err = cfg.Validate()
	}
	if flagErr != nil {
		return cfg, flagErr
	}
	return cfg, err
}

type errUnmappedFlag string

func (e errUnmappedFlag) Error() string {
	return "internal: flag --" + string(e) + " sets no config key"
}

func newLogger(w io.Writer, lc node.LogConfig) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(lc.Level))) // validated already
	opts := &slog.HandlerOptions{Level: level}
	if lc.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
