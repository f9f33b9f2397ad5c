package anomaly_test

import (
	"context"
	"fmt"
	"time"

	"github.com/krystalstack/gamesa/optimizer/neural/anomaly"
	"github.com/krystalstack/gamesa/telemetry/sim"
)

// A node's local loop: every tick, Observe the sample, read the verdict,
// and give training a small budget. Here a simulated laptop cycles through
// its workloads for an hour; the detector learns what normal looks like and
// raises no alarm.
func Example() {
	cfg := sim.DefaultConfig()
	machine, err := sim.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	det, err := anomaly.New(anomaly.DefaultConfig(), 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Unix(1_700_000_000, 0)
	alarms := 0
	for range 3600 {
		now = now.Add(time.Second)
		s, err := machine.Sample(context.Background(), now)
		if err != nil {
			fmt.Println(err)
			return
		}
		if err := det.Observe(s); err != nil {
			fmt.Println(err)
			return
		}
		if _, anomalous, ok := det.Score(); ok && anomalous {
			alarms++
		}
		if _, err := det.Train(4); err != nil {
			fmt.Println(err)
			return
		}
	}
	_, ready := det.Threshold()
	fmt.Printf("threshold in force: %v, alarms: %d\n", ready, alarms)
	// Output:
	// threshold in force: true, alarms: 0
}
