package actuators_test

import (
	"strings"
	"testing"

	"github.com/krystalstack/gamesa/actuators"
)

func TestConfigValidate(t *testing.T) {
	ok := actuators.DefaultConfig()
	ok.JournalPath = "/var/lib/gamesa/actuators.journal"
	if err := ok.Validate(); err != nil {
		t.Fatalf("Validate(default with journal) = %v; want nil", err)
	}
	tests := []struct {
		name string
		edit func(*actuators.Config)
		want string
	}{
		{"no journal", func(c *actuators.Config) { c.JournalPath = "" }, "JournalPath is empty"},
		{"journal dir", func(c *actuators.Config) { c.JournalPath = "/var/lib/" }, "names a directory"},
		{"no proc", func(c *actuators.Config) { c.Proc = "" }, "Proc is empty"},
		{"no cgroup root", func(c *actuators.Config) { c.CgroupRoot = "" }, "CgroupRoot is empty"},
		{"cgroup path", func(c *actuators.Config) { c.CgroupName = "a/b" }, "CgroupName"},
		{"cgroup dotdot", func(c *actuators.Config) { c.CgroupName = ".." }, "CgroupName"},
		{"group twice", func(c *actuators.Config) { c.CgroupGroups = []string{"a", "a"} }, `"a" twice`},
		{"bad group", func(c *actuators.Config) { c.CgroupGroups = []string{""} }, "CgroupGroups"},
		{"self", func(c *actuators.Config) { c.SelfPID = 0 }, "SelfPID"},
		{"nice", func(c *actuators.Config) { c.MinNice = -21 }, "MinNice"},
		{"oom", func(c *actuators.Config) { c.MinOOMScoreAdj = 1001 }, "MinOOMScoreAdj"},
		{"rescan", func(c *actuators.Config) { c.TunerRescan = 0 }, "TunerRescan"},
		{"pids", func(c *actuators.Config) { c.Scope.PIDs = []int{-4} }, "Scope.PIDs"},
	}
	for _, tt := range tests {
		c := ok
		c.CgroupGroups = append([]string(nil), ok.CgroupGroups...)
		tt.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%s) = %v; want an error saying %q", tt.name, err, tt.want)
		}
	}
}

func TestStatusString(t *testing.T) {
	for s, want := range map[actuators.Status]string{
		actuators.Applied: "applied", actuators.Unchanged: "unchanged", actuators.WouldApply: "would-apply",
		actuators.Skipped: "skipped", actuators.Rejected: "rejected", actuators.Unavailable: "unavailable",
		actuators.Denied: "denied", actuators.Failed: "failed", actuators.Status(99): "unknown",
	} {
		if got := s.String(); got != want {
			t.Errorf("Status(%d).String() = %q; want %q", int(s), got, want)
		}
	}
}
