package coord

import (
	"fmt"
	"reflect"
	"testing"
)

// TestCacheEviction churns pids, as short-lived compiler processes do:
// the cache must stay within its bound, and keep the entries of the
// pids still listed. A parent that leaves the list long enough to be
// evicted and then returns must be found again by its child.
func TestCacheEviction(t *testing.T) {
	c, err := New(DefaultConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	for tick := range 200 {
		procs := []Process{{PID: 1, Name: "systemd"}, {PID: 500, PPID: 400, Name: "helper", CPUPercent: 30}}
		if tick < 10 || tick > 150 {
			procs = append(procs, Process{PID: 400, PPID: 1, Name: "reaper", Cmdline: "reaper SteamLaunch AppId=1"})
		}
		for k := range n {
			pid := int32(1000 + tick*n + k)
			procs = append(procs, Process{PID: pid, PPID: 1, Name: fmt.Sprintf("cc1-%d", k)})
		}
		c.Classify(procs, nil)
		if got, limit := len(c.scratch.pids), 2*len(procs)+evictSlack; got > limit {
			t.Fatalf("tick %d: cache holds %d pids; want at most %d", tick, got, limit)
		}
		for _, p := range procs {
			if c.scratch.lookup(p.PID) < 0 {
				t.Fatalf("tick %d: listed pid %d not in the cache", tick, p.PID)
			}
		}
		fresh, err := New(DefaultConfig(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := c.Classify(procs, nil), fresh.Classify(procs, nil); !reflect.DeepEqual(got, want) {
			t.Fatalf("tick %d: Classify = %+v; a fresh coordinator gives %+v", tick, got, want)
		}
	}
}
