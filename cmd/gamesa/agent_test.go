package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// TestEveryAgentFlagSetsAKey: a flag without an entry in flagKeys would be
// parsed and then ignored.
func TestEveryAgentFlagSetsAKey(t *testing.T) {
	newAgentCmd().Flags().VisitAll(func(f *pflag.Flag) {
		if _, ok := flagKeys[f.Name]; !ok && f.Name != "config" {
			t.Errorf("flag --%s sets no config key", f.Name)
		}
	})
}

// TestFlagsOverrideFile: defaults, then the file, then the flags the user
// set — and only those.
func TestFlagsOverrideFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte("tick: 2s\nnode_id: from-file\nml:\n  train_steps_per_tick: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	af := bindAgentFlags(fs)
	if err := fs.Parse([]string{"--dev", "--config", path, "--tick", "500ms"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := agentConfig(fs, af.configPath, af.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Tick != 500*time.Millisecond || cfg.NodeID != "from-file" || cfg.ML.TrainStepsPerTick != 3 || !cfg.Dev {
		t.Errorf("config = tick %v node %q steps %d dev %v; want 500ms (flag), from-file, 3 (file), true",
			cfg.Tick, cfg.NodeID, cfg.ML.TrainStepsPerTick, cfg.Dev)
	}
}

// TestFlagRescuesFileValue: the file's tick of 5s is invalid with the models
// on, but --ml=false on the command line makes the whole valid; values are
// judged after every layer, not file first.
func TestFlagRescuesFileValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte("tick: 5s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	af := bindAgentFlags(fs)
	if err := fs.Parse([]string{"--dev", "--config", path}); err != nil {
		t.Fatal(err)
	}
	if _, err := agentConfig(fs, af.configPath, af.cfg); err == nil {
		t.Fatal("tick 5s with the models on was accepted")
	}
	fs = pflag.NewFlagSet("agent", pflag.ContinueOnError)
	af = bindAgentFlags(fs)
	if err := fs.Parse([]string{"--dev", "--config", path, "--ml=false"}); err != nil {
		t.Fatal(err)
	}
	if cfg, err := agentConfig(fs, af.configPath, af.cfg); err != nil || cfg.Tick != 5*time.Second || cfg.ML.Enabled {
		t.Fatalf("tick 5s from the file with --ml=false = %+v, %v; want valid", cfg.ML, err)
	}
}
