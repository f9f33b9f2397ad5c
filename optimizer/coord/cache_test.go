package coord_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/krystalstack/gamesa/optimizer/coord"
)

// mutate changes in the way processes change between ticks: renames
// (prctl, exec), new command lines, reparenting, exits, new processes,
// reused pids, duplicates, CPU use and memory.
func mutate(rng *rand.Rand, in coord.Input) coord.Input {
	ps := slices.Clone(in.Processes)
	names := []string{"eldenring.exe", "Discord", "firefox", "make", "cc1", "bash", "wineserver", "reaper", "stress-ng", "java"}
	cmds := []string{"", "SteamLaunch AppId=1", "/usr/bin/python3 /usr/bin/lutris", "C:\\game\\x.exe", "net.minecraft.client.main.Main", "go build ./..."}
	for range 1 + rng.IntN(4) {
		if len(ps) == 0 {
			break
		}
		i := rng.IntN(len(ps))
		switch rng.IntN(10) {
		case 0:
			ps[i].Name = names[rng.IntN(len(names))]
		case 1:
			ps[i].Cmdline = cmds[rng.IntN(len(cmds))]
		case 2:
			ps[i].PPID = ps[rng.IntN(len(ps))].PID
		case 3:
			ps = slices.Delete(ps, i, i+1)
		case 4:
			ps = append(ps, coord.Process{PID: 20000 + int32(rng.IntN(50)), PPID: ps[i].PID, Name: names[rng.IntN(len(names))], CPUPercent: float64(rng.IntN(150))})
		case 5:
			// A reused pid: same number, another program.
			ps[i] = coord.Process{PID: ps[i].PID, PPID: 1, Name: names[rng.IntN(len(names))], Cmdline: cmds[rng.IntN(len(cmds))]}
		case 6:
			ps = append(ps, ps[i])
			ps[len(ps)-1].Name = names[rng.IntN(len(names))]
		case 7:
			ps[i].CPUPercent = float64(rng.IntN(300))
			ps[i].Cgroup = []string{"", "/app-flatpak-com.discordapp.Discord-1.scope"}[rng.IntN(2)]
		case 8:
			// CPU use alone: the same grouping, other sums (a hog
			// may come or go, a game change its busiest process).
			ps[i].CPUPercent = float64(rng.IntN(300))
		case 9:
			ps[i].RSSBytes = uint64(rng.IntN(1 << 30))
		}
	}
	in.Processes = ps
	return in
}

// TestCacheMatchesFreshCoordinator plans sequences of changing ticks
// with one long-lived Coordinator, whose match cache and buffers carry
// over, and with a fresh one per tick: the decisions must be the same.
func TestCacheMatchesFreshCoordinator(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "scenarios", "*.json"))
	rng := rand.New(rand.NewPCG(3, 5))
	for _, path := range paths {
		long := mustNew(t, nil)
		in := loadScenario(t, path)
		for tick := range 40 {
			got := long.Plan(in)
			want := mustNew(t, nil).Plan(in)
			if render(got) != render(want) || !sameActions(got, want) {
				t.Fatalf("%s tick %d: long-lived Plan differs from a fresh one:\n%s\nvs\n%s", path, tick, render(got), render(want))
			}
			in = mutate(rng, in)
		}
	}
}

// TestDecisionSurvivesNextTick checks that a Decision shares no memory
// with the Coordinator's buffers: planning other ticks leaves it as it
// was.
func TestDecisionSurvivesNextTick(t *testing.T) {
	c := mustNew(t, nil)
	in := loadScenario(t, filepath.Join("testdata", "scenarios", "stream-game-voice-desktop.json"))
	d := c.Plan(in)
	before := render(d)
	apps := c.Classify(in.Processes, nil)
	appsBefore := fmt.Sprint(apps)
	rng := rand.New(rand.NewPCG(1, 2))
	next := in
	for range 20 {
		next = mutate(rng, next)
		c.Plan(next)
		c.Classify(next.Processes, nil)
	}
	if after := render(d); after != before {
		t.Errorf("Decision changed by later ticks:\n%s\nwas\n%s", after, before)
	}
	if after := fmt.Sprint(apps); after != appsBefore {
		t.Errorf("Classify result changed by later ticks:\n%s\nwas\n%s", after, appsBefore)
	}
}

// TestConcurrentPlans runs Plans of different inputs on one Coordinator
// from several goroutines (go test -race checks the locking): each must
// give what it gives alone.
func TestConcurrentPlans(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "scenarios", "*.json"))
	c := mustNew(t, nil)
	var wg sync.WaitGroup
	for _, path := range paths[:min(4, len(paths))] {
		in := loadScenario(t, path)
		want := render(mustNew(t, nil).Plan(in))
		wg.Go(func() {
			for range 20 {
				if got := render(c.Plan(in)); got != want {
					t.Errorf("concurrent Plan(%s) differs:\n%s\nwant\n%s", path, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}
