package coord_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/krystalstack/gamesa/optimizer/coord"
)

// The node's loop, once per tick: prune the registry, plan, and hand the
// actions on. Here on a 2-core machine with a game and two CPU hogs.
func Example() {
	c, err := coord.New(coord.DefaultConfig(), nil, nil)
	if err != nil {
		panic(err)
	}
	// On a host: os.DirFS(sysRoot + "/devices/system/cpu").
	topo, err := coord.ParseTopology(os.DirFS(filepath.Join("testdata", "topology", "vm-2cpu")))
	if err != nil {
		panic(err)
	}
	reg := coord.NewRegistry()
	// What `gamesa run -- ./frameloop` would do for its child, pid 4242.
	if err := reg.Register(coord.Registration{PID: 4242, Class: coord.ClassGame, Priority: 1, At: time.Unix(1700000000, 0)}); err != nil {
		panic(err)
	}
	reg.Prune(func(pid int32, start uint64) bool { return true }) // a /proc check on a host

	d := c.Plan(coord.Input{
		Processes: []coord.Process{
			{PID: 4242, PPID: 900, Name: "frameloop", CPUPercent: 60},
			{PID: 5000, PPID: 900, Name: "hog", CPUPercent: 70},
			{PID: 5001, PPID: 900, Name: "hog", CPUPercent: 70},
		},
		Topology:      topo,
		Registrations: reg.Snapshot(),
	})
	fmt.Println(d.Scenario, "|", d.ForegroundApp().Name, "by", d.ForegroundBy)
	for _, a := range d.Actions {
		if a.GetTarget() == "pid:4242" || a.GetTarget() == "pid:5000" {
			fmt.Println(a.GetKnob(), a.GetTarget(), a.GetValue())
		}
	}
	fmt.Println(d.Actions[0].GetReasons()[0])
	// Output:
	// game | frameloop by registered, priority 1
	// cgroup.member pid:4242 foreground
	// process.affinity pid:4242 1
	// process.nice pid:4242 -10
	// process.ioprio pid:4242 be/0
	// cgroup.member pid:5000 background
	// process.affinity pid:5000 0
	// process.nice pid:5000 10
	// process.ioprio pid:5000 be/6
	// game: frameloop gets CPUs 1 (1 whole core), the rest run on CPUs 0
}
