package node

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/krystalstack/gamesa/consensus"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// JobsConfig lets the cluster run jobs on this node.
type JobsConfig struct {
	// Enabled lets the leader place jobs here; the node then runs them as
	// real processes, each in its own process group, with its output in
	// the data directory.
	Enabled bool `yaml:"enabled"`
	// Labels are this node's attributes that job constraints match
	// (key=value, exact), such as gpu=rtx4090 or zone=rack-2.
	Labels map[string]string `yaml:"labels"`
	// Lease is how long the node keeps its jobs running without word from
	// the cluster (a fresh replica of its state). When it runs out the
	// node kills them at once (SIGKILL): the leader may be placing them
	// elsewhere.
	Lease time.Duration `yaml:"lease"`
	// StopGrace is how long a job that is stopped or moved gets between
	// SIGTERM and SIGKILL.
	StopGrace time.Duration `yaml:"stop_grace"`
}

// DefaultJobsConfig returns jobs disabled, a 3 s lease and a 5 s stop
// grace. The leader moves a failed node's jobs once the lease and a
// second have passed since the failure was detected (the fence), so a
// migration takes about 5 s from detection.
func DefaultJobsConfig() JobsConfig {
	return JobsConfig{Lease: 3 * time.Second, StopGrace: 5 * time.Second}
}

// Validate reports the first field out of range, naming its YAML key.
func (j JobsConfig) Validate() error {
	var err error
	j.validate(func(key, format string, args ...any) {
		if err == nil {
			err = &KeyError{Key: key, Msg: fmt.Sprintf(format, args...)}
		}
	})
	return err
}

func (j JobsConfig) validate(add func(key, format string, args ...any)) {
	if err := consensus.ValidateLabels(j.labels()); err != nil {
		add("jobs.labels", "%v", err)
	}
	if j.Lease < 500*time.Millisecond || j.Lease > MaxInterval {
		add("jobs.lease", "must be between 500ms and %v; got %v", MaxInterval, j.Lease)
	}
	if j.StopGrace < 0 || j.StopGrace > time.Minute {
		add("jobs.stop_grace", "must be between 0s and 1m; got %v", j.StopGrace)
	}
}

// fence is how long the leader waits after a node is seen failed before
// it moves the node's jobs: the node's lease, after which a node that is
// only cut off has killed them, and a second for the kill and for clocks
// that run at slightly different rates. (Detection itself comes after the
// node's last contact, so the lease has run for longer than that.)
func (j JobsConfig) fence() time.Duration { return j.Lease + time.Second }

// labels returns the node's labels sorted by key, as a registration holds
// them.
func (j JobsConfig) labels() []*gamesav1.Label {
	out := make([]*gamesav1.Label, 0, len(j.Labels))
	for _, k := range slices.Sorted(maps.Keys(j.Labels)) {
		out = append(out, &gamesav1.Label{Key: k, Value: j.Labels[k]})
	}
	return out
}

// powerPriorities are the words of cluster.power_priority, in the order of
// the registration's power_priority (0 = auto).
var powerPriorities = []string{"auto", "idle", "background", "interactive", "active"}

// validateAllocation checks cluster.allocate_interval, the power keys of
// the cluster section and the jobs section.
func (c Config) validateAllocation(add func(key, format string, args ...any)) {
	cl := c.Cluster
	if cl.AllocateInterval < MinInterval || cl.AllocateInterval > MaxInterval {
		add("cluster.allocate_interval", "must be between %v and %v; got %v", MinInterval, MaxInterval, cl.AllocateInterval)
	}
	for _, w := range []struct {
		key string
		v   float64
	}{{"cluster.power_floor_watts", cl.PowerFloorWatts}, {"cluster.power_ceiling_watts", cl.PowerCeilingWatts}} {
		if math.IsNaN(w.v) || w.v < 0 || w.v > consensus.MaxWatts {
			add(w.key, "must be between 0 and %g watts; got %v", float64(consensus.MaxWatts), w.v)
		}
	}
	if cl.PowerCeilingWatts > 0 && cl.PowerFloorWatts > cl.PowerCeilingWatts {
		add("cluster.power_floor_watts", "must not exceed cluster.power_ceiling_watts (%g); got %g", cl.PowerCeilingWatts, cl.PowerFloorWatts)
	}
	if !slices.Contains(powerPriorities, cl.PowerPriority) {
		add("cluster.power_priority", "must be one of auto, idle, background, interactive, active; got %q", cl.PowerPriority)
	}
	c.Jobs.validate(add)
}
