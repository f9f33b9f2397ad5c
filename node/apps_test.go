package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/optimizer/coord"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// The workload classifier names a busy unknown app only when it is sure
// and the app does most of the machine's work.
func TestWorkloadFallbackNamesTheDominantUnknownApp(t *testing.T) {
	procs := []*gamesav1.Process{
		{Pid: 100, Ppid: 1, Name: "mystery", Cmdline: "./mystery --fullscreen", CpuPercent: 170, Uid: 1000},
		{Pid: 200, Ppid: 1, Name: "helper", Cmdline: "helper", CpuPercent: 20, Uid: 1000},
		{Pid: 300, Ppid: 1, Name: "cruncher", Cmdline: "cruncher", CpuPercent: 10, Uid: 1000},
	}
	fb := &workloadFallback{}
	c, err := coord.New(coord.DefaultConfig(), nil, fb)
	if err != nil {
		t.Fatal(err)
	}
	classOf := func(class string, conf float64) map[int32]coord.Class {
		s := &gamesav1.Sample{
			Processes: &gamesav1.Processes{Top: procs},
			Insights:  &gamesav1.Insights{WorkloadClass: class, WorkloadConfidence: conf},
		}
		fb.observe(s)
		out := map[int32]coord.Class{}
		for _, app := range c.Classify(coord.FromSample(procs), nil) {
			out[app.Root] = app.Class
			if app.Class != coord.ClassUnknown && app.Rule != "workload classifier" {
				t.Errorf("app %d classed %s by %q; want the workload classifier", app.Root, app.Class, app.Rule)
			}
		}
		return out
	}
	if got := classOf("game", 0.97); got[100] != coord.ClassGame || got[200] != coord.ClassUnknown || got[300] != coord.ClassUnknown {
		t.Errorf("sure of a game: %v; want pid 100 alone a game", got)
	}
	if got := classOf("game", 0.6); got[100] != coord.ClassUnknown {
		t.Errorf("unsure (0.6): pid 100 is %s; want unknown", got[100])
	}
	if got := classOf("render", 0.95); got[100] != coord.ClassRenderer {
		t.Errorf("sure of a render: pid 100 is %s; want renderer", got[100])
	}
	if got := classOf("idle", 0.99); got[100] != coord.ClassUnknown {
		t.Errorf("idle machine: pid 100 is %s; want unknown", got[100])
	}
}

// A process the last plan moved to the background that falls out of the
// sample's busiest list (starved there) is still planned for while one of
// its threads is runnable (the first thread sleeps, as in a Go program),
// and let go once they all sleep.
func TestMovedProcessStaysInView(t *testing.T) {
	root := t.TempDir()
	writeStat := func(pid int, state string) {
		t.Helper()
		dir := filepath.Join(root, strconv.Itoa(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		stat := fmt.Sprintf("%d (hog) %s 1 %d %d 0 -1 4194560 1 0 0 0 500 5 0 0 30 10 1 0 7777 1000 250 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n", pid, state, pid, pid)
		task := filepath.Join("task", strconv.Itoa(pid+1)) // a second thread does the work
		if err := os.MkdirAll(filepath.Join(dir, task), 0o755); err != nil {
			t.Fatal(err)
		}
		sleeping := strings.Replace(stat, ") "+state+" ", ") S ", 1)
		for name, body := range map[string]string{"stat": sleeping, task + "/stat": stat, "cmdline": "./hog\x00", "status": "Uid:\t1000\t1000\t1000\t1000\n"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeStat(300, "R")
	a := newApps(root, true)
	a.remember(&gamesav1.Plan{Actions: []*gamesav1.Action{
		{Knob: coord.KnobCgroupMember, Target: "pid:300", Value: coord.GroupBackground},
		{Knob: coord.KnobCgroupMember, Target: "pid:400", Value: coord.GroupForeground},
	}})
	sample := &gamesav1.Sample{Processes: &gamesav1.Processes{}}
	find := func() (coord.Process, bool) {
		for _, p := range a.processes(sample, nil, time.Now()) {
			if p.PID == 300 {
				return p, true
			}
		}
		return coord.Process{}, false
	}
	p, ok := find()
	if !ok || p.CPUPercent != coord.DefaultConfig().HogKeepCPUPercent || p.Name != "hog" || p.UID != 1000 {
		t.Fatalf("runnable moved process = %+v, %v; want it listed as busy enough to stay moved", p, ok)
	}
	writeStat(300, "S")
	if p, ok := find(); !ok || p.CPUPercent != 0 {
		t.Errorf("sleeping moved process = %+v, %v; want it listed idle", p, ok)
	}
	// Listed in the sample, starved (1%) but runnable: busy enough too.
	writeStat(300, "R")
	sample.Processes.Top = []*gamesav1.Process{{Pid: 300, Ppid: 1, Name: "hog", Uid: 1000, CpuPercent: 1, State: "S"}}
	if p, ok := find(); !ok || p.CPUPercent != coord.DefaultConfig().HogKeepCPUPercent {
		t.Errorf("starved runnable moved process in the sample = %+v, %v; want it busy enough to stay", p, ok)
	}
	writeStat(300, "S")
	if p, ok := find(); !ok || p.CPUPercent != 1 {
		t.Errorf("sleeping moved process in the sample = %+v, %v; want its own 1%%", p, ok)
	}
	sample.Processes.Top = nil
	a.remember(&gamesav1.Plan{})
	if _, ok := find(); ok {
		t.Error("a process no plan moved is still read")
	}
}
