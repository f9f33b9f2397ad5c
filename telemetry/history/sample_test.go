package history

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// base is the time of the first sample in tests: fixed, so failures repeat.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// at returns base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

// tiny returns a minimal sample at t; seq tells samples with equal times
// apart.
func tiny(t time.Time, seq uint64) *gamesav1.Sample {
	return &gamesav1.Sample{Time: timestamppb.New(t), NodeId: "n1", Seq: seq, Source: "sim"}
}

// realistic returns a sample shaped like one from a small desktop: 4 cores,
// 8 thermal sensors, 20 processes, a few disks and interfaces, ~3 KB
// encoded.
func realistic(t time.Time, seq uint64) *gamesav1.Sample {
	s := &gamesav1.Sample{
		Time: timestamppb.New(t), NodeId: "node-7f3a9c", Seq: seq, Source: "host",
		Cpu: &gamesav1.CPU{
			UtilizationPercent: 37.5, UserPercent: 25.1, SystemPercent: 9.3, IowaitPercent: 1.2,
			Model: "Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz",
		},
		Load: &gamesav1.Load{Load1: 1.23, Load5: 0.98, Load15: 0.77, ProcsRunning: 3, ProcsBlocked: 0,
			ContextSwitchesPerSecond: 12345, InterruptsPerSecond: 6789},
		Memory: &gamesav1.Memory{TotalBytes: 16 << 30, AvailableBytes: 9 << 30, UsedBytes: 7 << 30,
			FreeBytes: 2 << 30, BuffersBytes: 300 << 20, CachedBytes: 5 << 30, DirtyBytes: 12 << 20,
			SwapTotalBytes: 8 << 30, SwapFreeBytes: 8 << 30, UsedPercent: 43.75},
		Power: &gamesav1.Power{OnAc: true, TotalWatts: 14.2, Rapl: []*gamesav1.RAPLDomain{
			{Zone: "intel-rapl:0", Name: "package-0", Watts: 12.1, EnergyUj: 123456789012, LongTermLimitWatts: 15, ShortTermLimitWatts: 44},
			{Zone: "intel-rapl:0:0", Name: "core", Watts: 8.4, EnergyUj: 98765432109},
		}},
		Processes: &gamesav1.Processes{Total: 312, Threads: 1480},
	}
	for i := range 4 {
		s.Cpu.Cores = append(s.Cpu.Cores, &gamesav1.CPUCore{
			Id: uint32(i), UtilizationPercent: 30 + float64(i), UserPercent: 20, SystemPercent: 8, IowaitPercent: 1,
			FrequencyMhz: 2400 + 100*float64(i), MinFrequencyMhz: 400, MaxFrequencyMhz: 4000,
			Governor: "powersave", EnergyPerformancePreference: "balance_performance",
		})
	}
	for i := range 8 {
		s.Thermal = append(s.Thermal, &gamesav1.ThermalSensor{
			Name: fmt.Sprintf("coretemp/Core %d", i), Kind: "hwmon", Chip: "coretemp",
			Label: fmt.Sprintf("Core %d", i), TemperatureCelsius: 48 + float64(i), MaxCelsius: 100, CriticalCelsius: 100,
		})
	}
	s.Fans = []*gamesav1.Fan{{Name: "thinkpad/fan1", Chip: "thinkpad", Label: "fan1", Rpm: 2400}}
	for _, d := range []string{"nvme0n1", "sda"} {
		s.Disks = append(s.Disks, &gamesav1.Disk{Name: d, ReadBytesPerSecond: 40960, WriteBytesPerSecond: 81920,
			ReadsPerSecond: 10, WritesPerSecond: 20, BusyPercent: 1.5, ReadBytesTotal: 1 << 36, WriteBytesTotal: 1 << 35})
	}
	for _, n := range []string{"lo", "wlp2s0", "docker0"} {
		s.Net = append(s.Net, &gamesav1.NetInterface{Name: n, RxBytesPerSecond: 1200, TxBytesPerSecond: 800,
			RxPacketsPerSecond: 12, TxPacketsPerSecond: 9, RxBytesTotal: 1 << 32, TxBytesTotal: 1 << 31})
	}
	for i := range 20 {
		s.Processes.Top = append(s.Processes.Top, &gamesav1.Process{
			Pid: int32(1000 + i), Ppid: 1, Name: fmt.Sprintf("proc-%02d", i),
			Cmdline: fmt.Sprintf("/usr/bin/proc-%02d --flag=value", i),
			User:    "gamer", Uid: 1000, CpuPercent: 20 - float64(i), RssBytes: uint64(i+1) << 24,
			State: "S", Nice: 0, Threads: 4,
		})
	}
	for _, c := range []string{"cpu", "load", "memory", "thermal", "fans", "power", "gpu", "disks", "net", "processes"} {
		s.Collectors = append(s.Collectors, &gamesav1.CollectorStatus{
			Name: c, State: gamesav1.CollectorState_COLLECTOR_STATE_OK, Duration: durationpb.New(150 * time.Microsecond),
		})
	}
	return s
}

func TestRealisticSize(t *testing.T) {
	rec, err := appendRecord(nil, realistic(base, 1))
	if err != nil {
		t.Fatal(err)
	}
	// The benchmarks claim a ~3 KB sample; keep the builder honest.
	if n := len(rec); n < 2500 || n > 3500 {
		t.Errorf("realistic sample record = %d bytes; want 2500..3500", n)
	}
	t.Logf("realistic record: %d bytes", len(rec))
}

// stamped returns a new sample at t that shares tmpl's parts: the loop
// builds a new Sample each tick, and parts are never modified once appended.
func stamped(tmpl *gamesav1.Sample, t time.Time, seq uint64) *gamesav1.Sample {
	return &gamesav1.Sample{
		Time: timestamppb.New(t), NodeId: tmpl.NodeId, Seq: seq, Source: tmpl.Source,
		Cpu: tmpl.Cpu, Load: tmpl.Load, Memory: tmpl.Memory, Thermal: tmpl.Thermal, Fans: tmpl.Fans,
		Power: tmpl.Power, Gpus: tmpl.Gpus, Disks: tmpl.Disks, Net: tmpl.Net, Processes: tmpl.Processes,
		Collectors: tmpl.Collectors,
	}
}
