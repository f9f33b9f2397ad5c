package node

import (
	"strings"
	"testing"
	"time"
)

// TestAllocationConfig: the jobs section and the cluster's power keys
// parse, and each bad value is named by its key and line.
func TestAllocationConfig(t *testing.T) {
	good := `cluster:
  allocate_interval: 1s
  power_floor_watts: 60
  power_ceiling_watts: 600
  power_priority: active
jobs:
  enabled: true
  labels: {gpu: rtx4090, zone: rack-2}
  lease: 5s
  stop_grace: 10s
`
	c, err := ParseConfig([]byte(good), DevConfig(), nil)
	if err != nil {
		t.Fatalf("ParseConfig(good) = %v", err)
	}
	if !c.Jobs.Enabled || c.Jobs.Labels["gpu"] != "rtx4090" || c.Jobs.Lease != 5*time.Second || c.Jobs.fence() != 6*time.Second ||
		c.Cluster.PowerCeilingWatts != 600 || c.Cluster.PowerPriority != "active" {
		t.Errorf("ParseConfig(good) = %+v, %+v", c.Jobs, c.Cluster)
	}
	if got := c.Jobs.labels(); len(got) != 2 || got[0].GetKey() != "gpu" || got[1].GetKey() != "zone" {
		t.Errorf("labels() = %v; want gpu, zone in order", got)
	}

	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"interval too short", "cluster:\n  allocate_interval: 1ms\n", []string{"cluster.allocate_interval (line 2)", "between"}},
		{"negative floor", "cluster:\n  power_floor_watts: -1\n", []string{"cluster.power_floor_watts (line 2)"}},
		{"floor above ceiling", "cluster:\n  power_floor_watts: 700\n  power_ceiling_watts: 600\n", []string{"cluster.power_floor_watts (line 2)", "power_ceiling_watts"}},
		{"bad priority", "cluster:\n  power_priority: urgent\n", []string{"cluster.power_priority (line 2)", "interactive"}},
		{"bad label key", "jobs:\n  labels: {\"a b\": x}\n", []string{"jobs.labels (line 2)", "not allowed"}},
		{"label value with newline", "jobs:\n  labels: {a: \"x\\ny\"}\n", []string{"jobs.labels", "control"}},
		{"lease too short", "jobs:\n  lease: 100ms\n", []string{"jobs.lease (line 2)", "500ms"}},
		{"grace too long", "jobs:\n  stop_grace: 2h\n", []string{"jobs.stop_grace (line 2)"}},
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
	if err := DefaultJobsConfig().Validate(); err != nil {
		t.Errorf("DefaultJobsConfig().Validate() = %v", err)
	}
	bad := DefaultJobsConfig()
	bad.Lease = 0
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "jobs.lease") {
		t.Errorf("Validate(lease 0) = %v; want jobs.lease", err)
	}
}
