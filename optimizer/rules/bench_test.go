package rules

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// benchFeature is a feature a deployment's rules test, with the range its
// thresholds are drawn from.
type benchFeature struct {
	name   string
	lo, hi float64
}

func benchFeatures() []benchFeature {
	return []benchFeature{
		{"cpu.utilization", 0, 100}, {"cpu.user", 0, 100}, {"cpu.system", 0, 50}, {"cpu.iowait", 0, 40},
		{"cpu.frequency_mhz", 800, 5000}, {"load.load1", 0, 16}, {"load.load5", 0, 16}, {"load.procs_running", 0, 32},
		{"load.procs_blocked", 0, 8}, {"memory.used_percent", 0, 100}, {"memory.available_percent", 0, 100},
		{"memory.swap_used_percent", 0, 100}, {"thermal.max_celsius", 30, 105}, {"thermal.forecast_10s", 30, 105},
		{"thermal.forecast_30s", 30, 105}, {"thermal.forecast_60s", 30, 105}, {"fan.max_rpm", 0, 5000},
		{"power.total_watts", 5, 250}, {"power.battery_percent", 0, 100}, {"gpu.utilization", 0, 100},
		{"gpu.temperature_celsius", 30, 95}, {"gpu.power_watts", 0, 350}, {"disk.busy_percent", 0, 100},
		{"net.rx_bytes_per_second", 0, 1e8}, {"processes.total", 100, 800}, {"anomaly.score", 0, 2},
		{"workload.confidence", 0, 1},
	}
}

// genDeployment writes n rules the way a large deployment would: many
// rules on the same few dozen features with varied thresholds, mostly
// conjunctions of 1-4 comparisons, some with any/not, on app classes and
// power state too, and actions on a few dozen knobs and targets.
//
// Thresholds are drawn over each feature's whole range, so that about a
// quarter of the rules fire on benchSample: a stress test. With alarms,
// a threshold sits in the tail its operator watches (> 85-100 % of the
// range, < 0-15 %) and rules have 2-4 comparisons, as rules that react
// to unusual states in some context do, and about 3 % fire.
func genDeployment(rng *rand.Rand, n int, alarms bool) string {
	feats := benchFeatures()
	classes := []string{"game", "voice", "browser", "ide", "compile", "render", "stream", "service"}
	ops := []string{">", ">=", "<", "<="}
	// atom writes a comparison; alarm (with alarms) one on a numeric
	// feature's tail.
	atom := func(alarm bool) string {
		if !alarm {
			switch rng.IntN(10) {
			case 0:
				return fmt.Sprintf("app.foreground.class == %s", classes[rng.IntN(len(classes))])
			case 1:
				return fmt.Sprintf("app.running.%s == %v", classes[rng.IntN(len(classes))], rng.IntN(3) != 0)
			case 2:
				return fmt.Sprintf("power.on_ac == %v", rng.IntN(2) == 0)
			}
		}
		f := feats[rng.IntN(len(feats))]
		at := rng.Float64()
		op := ops[rng.IntN(len(ops))]
		if alarms {
			at *= 0.15
			if op[0] == '>' {
				at = 1 - at
			}
		}
		return fmt.Sprintf("%s %s %.4g", f.name, op, f.lo+(f.hi-f.lo)*at)
	}
	var b strings.Builder
	b.Grow(n * 200)
	b.WriteString("rules:\n")
	for i := range n {
		pri := rng.IntN(200)
		fmt.Fprintf(&b, "  - name: rule-%06d\n    priority: %d\n", i, pri)
		atoms := 1 + rng.IntN(4)
		if alarms { // an alarm: a numeric tail and a context or two
			atoms = 2 + rng.IntN(3)
		}
		notAt := 0 // a not goes on the first atom, or with alarms the first context
		if alarms {
			notAt = 1
		}
		b.WriteString("    when:\n")
		switch {
		case atoms > 2 && rng.IntN(5) == 0:
			b.WriteString("      any:\n")
			for range atoms {
				fmt.Fprintf(&b, "        - %q\n", atom(alarms))
			}
		default:
			b.WriteString("      all:\n")
			for j := range atoms {
				alarm := alarms && j == 0 // the alarm first, then its context
				if j == notAt && atoms > 1 && rng.IntN(8) == 0 {
					fmt.Fprintf(&b, "        - not: %q\n", atom(alarm))
					continue
				}
				fmt.Fprintf(&b, "        - %q\n", atom(alarm))
			}
		}
		b.WriteString("    then:\n")
		// The value depends on the tie group (priority, specificity), so
		// equal-rank rules agree as a reviewed deployment's do.
		g := pri*5 + atoms
		switch rng.IntN(4) {
		case 0:
			fmt.Fprintf(&b, "      - mode: %s\n", []string{"gaming", "balanced", "max_battery", "max_performance"}[g%4])
		case 1:
			fmt.Fprintf(&b, "      - cap_power: %d\n", 20+g%100)
		case 2:
			fmt.Fprintf(&b, "      - nice: %d\n        app: %s\n", g%40-20, classes[rng.IntN(len(classes))])
		default:
			fmt.Fprintf(&b, "      - knob: cpufreq.epp\n        target: cpu%d\n        value: %s\n", rng.IntN(16),
				[]string{"performance", "balance_performance", "balance_power", "power"}[g%4])
		}
	}
	return b.String()
}

// benchSample is a busy gaming machine on AC.
func benchSample() *gamesav1.Sample {
	return &gamesav1.Sample{
		Cpu:       &gamesav1.CPU{UtilizationPercent: 72, UserPercent: 60, SystemPercent: 10, IowaitPercent: 2, Cores: []*gamesav1.CPUCore{{FrequencyMhz: 3900}, {FrequencyMhz: 4100}}},
		Load:      &gamesav1.Load{Load1: 5.2, Load5: 4.1, Load15: 3, ProcsRunning: 6, ProcsBlocked: 1},
		Memory:    &gamesav1.Memory{TotalBytes: 32 << 30, AvailableBytes: 12 << 30, UsedPercent: 62, SwapTotalBytes: 8 << 30, SwapFreeBytes: 7 << 30},
		Thermal:   []*gamesav1.ThermalSensor{{TemperatureCelsius: 81}},
		Fans:      []*gamesav1.Fan{{Rpm: 2600}},
		Power:     &gamesav1.Power{OnAc: true, TotalWatts: 140, Batteries: []*gamesav1.Battery{{CapacityPercent: 64, Status: "Charging"}}},
		Gpus:      []*gamesav1.GPU{{UtilizationPercent: 91, TemperatureCelsius: 74, PowerWatts: 220}},
		Disks:     []*gamesav1.Disk{{BusyPercent: 12}},
		Net:       []*gamesav1.NetInterface{{RxBytesPerSecond: 2e6}},
		Processes: &gamesav1.Processes{Total: 412, Threads: 2900},
		Insights: &gamesav1.Insights{
			ThermalForecast: []*gamesav1.ThermalForecast{{HorizonSeconds: 10, Celsius: 83}, {HorizonSeconds: 30, Celsius: 86}, {HorizonSeconds: 60, Celsius: 88}},
			AnomalyScore:    0.4, AnomalyThreshold: 1.1, WorkloadClass: "game", WorkloadConfidence: 0.93,
		},
	}
}

func benchSetup(b *testing.B, n int, alarms bool) (*Engine, *Features, *RuleSet) {
	b.Helper()
	schema, err := NewSchema(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	rs, err := Compile(schema, File{Name: "bench.yaml", Data: []byte(genDeployment(rand.New(rand.NewPCG(uint64(n), 1)), n, alarms))})
	if err != nil {
		b.Fatal(err)
	}
	f := schema.NewFeatures()
	schema.Extract(f, benchSample(), Apps{Foreground: "game", Running: []string{"game", "voice", "browser", "compile"}})
	return NewEngine(rs), f, rs
}

// BenchmarkEvaluate is one full evaluation of a rule set against one
// sample (every literal and rule from scratch), with the winning actions
// resolved: the engine's last Result is dropped before each, so that it
// is not handed out again as on a steady tick. About a quarter of the
// rules fire: the stress case.
func BenchmarkEvaluate(b *testing.B) { benchEvaluate(b, false) }

// BenchmarkEvaluateAlarms is BenchmarkEvaluate with rules that watch for
// unusual states, as a deployment's do: about 3 % fire.
func BenchmarkEvaluateAlarms(b *testing.B) { benchEvaluate(b, true) }

func benchEvaluate(b *testing.B, alarms bool) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			eng, f, rs := benchSetup(b, n, alarms)
			now := time.Unix(1_700_000_000, 0)
			res := eng.Evaluate(f, now)
			b.ReportMetric(float64(res.NumFired()), "fired")
			b.Logf("%v; %d fired, %d actions", rs, res.NumFired(), len(res.Actions))
			b.ResetTimer()
			for b.Loop() {
				now = now.Add(time.Second)
				eng.last = nil
				eng.Evaluate(f, now)
			}
		})
	}
}

// BenchmarkCompile is parsing, validating and indexing a rule file.
func BenchmarkCompile(b *testing.B) {
	schema, err := NewSchema(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	src := []byte(genDeployment(rand.New(rand.NewPCG(1, 1)), 10_000, false))
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := Compile(schema, File{Name: "bench.yaml", Data: src}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExtract is building the feature vector from a sample.
func BenchmarkExtract(b *testing.B) {
	schema, err := NewSchema(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	f, s := schema.NewFeatures(), benchSample()
	apps := Apps{Foreground: "game", Running: []string{"game", "voice"}}
	for b.Loop() {
		schema.Extract(f, s, apps)
	}
}
