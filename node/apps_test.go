package node

import (
	"testing"

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
