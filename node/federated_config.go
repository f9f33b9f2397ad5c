package node

import (
	"fmt"
	"slices"
	"time"

	"github.com/krystalstack/gamesa/consensus"
)

// FederatedConfig is the node's part in federated learning (DESIGN.md,
// flow 4): on the leader, the rounds it runs; on every node, whether it
// trains and uploads when invited, and how long it may train.
type FederatedConfig struct {
	// Enabled lets the node take part in rounds (train on its own data,
	// upload, adopt the new global model) and, while it leads, run them.
	// Every node should agree: a node with it off that is invited counts
	// as a dropout, and a leader with it off opens no round.
	Enabled bool `yaml:"enabled"`
	// Interval is how long the leader waits after a round ended before it
	// opens the next on its own; 0: only on request (gamesa model round
	// start).
	Interval time.Duration `yaml:"interval"`
	// MinParticipants is the fewest updates a round merges: with fewer at
	// the deadline it is aborted. A round closes before its deadline once
	// every participant answered.
	MinParticipants int `yaml:"min_participants"`
	// Deadline is how long a round waits for updates.
	Deadline time.Duration `yaml:"deadline"`
	// Rule merges the updates: fedavg (weighted by samples), median,
	// trimmed_mean or krum (the last three resist nodes that send garbage).
	Rule string `yaml:"rule"`
	// TrainBudget bounds a node's local training per round (and per
	// personalisation of a new global model), in wall time.
	TrainBudget time.Duration `yaml:"train_budget"`
}

// fedRules are the merge rules a round may name.
var fedRules = []string{"fedavg", "median", "trimmed_mean", "krum"}

// DefaultFederatedConfig takes part, opens a round an hour after the last
// ended, merges with FedAvg whatever arrived within 2 minutes (at least
// one update), and trains at most 10 s per round.
func DefaultFederatedConfig() FederatedConfig {
	return FederatedConfig{
		Enabled: true, Interval: time.Hour, MinParticipants: 1,
		Deadline: 2 * time.Minute, Rule: "fedavg", TrainBudget: 10 * time.Second,
	}
}

// validate reports every field out of range, naming its YAML key.
func (f FederatedConfig) validate(add func(key, format string, args ...any)) {
	if f.Interval != 0 && (f.Interval < time.Second || f.Interval > 30*24*time.Hour) {
		add("federated.interval", "must be 0 (rounds on request only) or between 1s and 720h; got %v", f.Interval)
	}
	if f.MinParticipants < 1 || f.MinParticipants > consensus.MaxParticipants {
		add("federated.min_participants", "must be between 1 and %d; got %d", consensus.MaxParticipants, f.MinParticipants)
	}
	if f.Deadline < time.Second || f.Deadline > 24*time.Hour {
		add("federated.deadline", "must be between 1s and 24h; got %v", f.Deadline)
	}
	if !slices.Contains(fedRules, f.Rule) {
		add("federated.rule", "must be one of fedavg, median, trimmed_mean, krum; got %q", f.Rule)
	}
	if f.TrainBudget < 10*time.Millisecond || f.TrainBudget >= f.Deadline {
		add("federated.train_budget", "must be at least 10ms and less than federated.deadline (%v); got %v", f.Deadline, f.TrainBudget)
	}
}

// Validate reports the first field out of range, naming its YAML key.
func (f FederatedConfig) Validate() error {
	var err error
	f.validate(func(key, format string, args ...any) {
		if err == nil {
			err = &KeyError{Key: key, Msg: fmt.Sprintf(format, args...)}
		}
	})
	return err
}
