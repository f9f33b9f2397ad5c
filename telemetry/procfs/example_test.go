package procfs_test

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
	"github.com/krystalstack/gamesa/telemetry/procfs"
)

// The collectors are built once and kept, registered under their names;
// each tick gets a fresh sample with its time set.
func Example() {
	roots := telemetry.FixtureRoots("../testdata/fixture") // telemetry.DefaultRoots() on a real machine
	procs := procfs.NewProcesses(roots, 3)
	defer procs.Close()

	var reg telemetry.Registry
	for _, c := range []struct {
		name string
		c    telemetry.Collector
	}{
		{"cpu", procfs.NewCPU(roots)},
		{"load", procfs.NewLoad(roots)},
		{"memory", procfs.NewMemory(roots)},
		{"disk", procfs.NewDisks(roots)},
		{"net", procfs.NewNet(roots)},
		{"processes", procs},
	} {
		if err := reg.Register(c.name, c.c); err != nil {
			panic(err)
		}
	}

	s := &gamesav1.Sample{Time: timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}
	reg.Collect(context.Background(), s)

	for _, st := range s.GetCollectors() {
		fmt.Println(st.GetName(), st.GetState())
	}
	fmt.Println(s.GetCpu().GetModel(), len(s.GetCpu().GetCores()), "cores,", s.GetCpu().GetCores()[0].GetGovernor())
	fmt.Println("load", s.GetLoad().GetLoad1(), "running", s.GetLoad().GetProcsRunning())
	fmt.Println(s.GetProcesses().GetTotal(), "processes, first:", s.GetProcesses().GetTop()[0].GetName())
	// Output:
	// cpu COLLECTOR_STATE_OK
	// load COLLECTOR_STATE_OK
	// memory COLLECTOR_STATE_OK
	// disk COLLECTOR_STATE_OK
	// net COLLECTOR_STATE_OK
	// processes COLLECTOR_STATE_OK
	// Intel(R) Core(TM) i5-7200U CPU @ 2.50GHz 4 cores, powersave
	// load 1.25 running 3
	// 11 processes, first: systemd
}
