package anomaly

import (
	"math"
	"strings"
	"testing"

	"github.com/krystalstack/gamesa/optimizer/neural"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func temp(t *testing.T, s *gamesav1.Sample) float64 {
	t.Helper()
	v, ok := cpuTemp(s)
	if !ok {
		t.Fatal("sample has no CPU temperature")
	}
	return v
}

func TestInjectStuckSensor(t *testing.T) {
	orig := simStream(t, 20, 0, phase{idle, 60, 0}, phase{render, 60, 0})
	got, err := Inject(FaultStuckSensor, orig, 50, simThermal())
	if err != nil {
		t.Fatal(err)
	}
	frozen := temp(t, orig[49])
	for i := 50; i < len(got); i++ {
		if v := temp(t, got[i]); v != frozen {
			t.Fatalf("sample %d: CPU temperature %v; want frozen at %v", i, v, frozen)
		}
		if g, o := got[i].Gpus[0].TemperatureCelsius, orig[i].Gpus[0].TemperatureCelsius; g != o {
			t.Fatalf("sample %d: GPU temperature %v changed from %v; only CPU sensors stick", i, g, o)
		}
	}
	if d := temp(t, orig[len(orig)-1]) - frozen; d < 20 {
		t.Errorf("the real temperature moved only %.1f °C under render; the test needs it to move", d)
	}
	if got[49] != orig[49] {
		t.Error("samples before onset were copied; want them shared")
	}
}

func TestInjectFanFailure(t *testing.T) {
	orig := simStream(t, 21, 0, phase{game, 400, 0})
	th := simThermal()
	got, err := Inject(FaultFanFailure, orig, 200, th)
	if err != nil {
		t.Fatal(err)
	}
	prev := temp(t, got[199])
	for i := 200; i < len(got); i++ {
		if rpm := got[i].Fans[0].Rpm; rpm != 0 {
			t.Fatalf("sample %d: fan %v rpm; want 0", i, rpm)
		}
		v := temp(t, got[i])
		if v < temp(t, orig[i]) {
			t.Fatalf("sample %d: %.2f °C with the fan stopped, below the %.2f °C with it running", i, v, temp(t, orig[i]))
		}
		prev = v
	}
	// At constant load it heats towards the fan-stopped equilibrium.
	var p float64
	for _, s := range orig[200:] {
		p += s.Power.TotalWatts
	}
	p /= float64(len(orig) - 200)
	want := math.Min(th.AmbientC+p*th.FanStoppedResistanceCPerW, orig[0].Thermal[0].MaxCelsius)
	if math.Abs(prev-want) > 3 {
		t.Errorf("after %d s without a fan: %.1f °C; want near %.1f °C", len(got)-200, prev, want)
	}
	if rise := prev - temp(t, orig[199]); rise < 5 {
		t.Errorf("temperature rose %.1f °C after the fan stopped; want a clear climb", rise)
	}
	if orig[250].Fans[0].Rpm == 0 {
		t.Error("Inject changed its input")
	}
}

func TestInjectRunaway(t *testing.T) {
	orig := simStream(t, 22, 0, phase{idle, 400, 0})
	got, err := Inject(FaultRunaway, orig, 100, simThermal())
	if err != nil {
		t.Fatal(err)
	}
	n := float64(len(orig[0].Cpu.Cores))
	for _, i := range []int{100, 200, 399} {
		g, o := got[i], orig[i]
		if top := g.Processes.Top[0]; top.Pid != runawayPID || top.CpuPercent != 100 {
			t.Errorf("sample %d: busiest process %d at %v %%; want the runaway at 100 %%", i, top.Pid, top.CpuPercent)
		}
		if len(g.Processes.Top) != len(o.Processes.Top) {
			t.Errorf("sample %d: %d listed processes; want %d", i, len(g.Processes.Top), len(o.Processes.Top))
		}
		if d := g.Cpu.UtilizationPercent - o.Cpu.UtilizationPercent; d < 90/n || d > 100/n {
			t.Errorf("sample %d: CPU total rose %.2f points; want about one core's %.2f", i, d, 100/n)
		}
		if g.Power.TotalWatts <= o.Power.TotalWatts {
			t.Errorf("sample %d: power %v W; want above %v W", i, g.Power.TotalWatts, o.Power.TotalWatts)
		}
	}
	if d := got[399].Load.Load1 - orig[399].Load.Load1; d < 0.9 {
		t.Errorf("load1 rose %.2f after 300 s; want close to 1", d)
	}
	if temp(t, got[399]) <= temp(t, orig[399]) {
		t.Error("a runaway core did not heat the package")
	}
}

func TestInjectRejects(t *testing.T) {
	st := simStream(t, 23, 0, phase{idle, 10, 0})
	for _, tc := range []struct {
		name  string
		f     Fault
		onset int
		th    Thermal
	}{
		{"onset 0", FaultStuckSensor, 0, simThermal()},
		{"onset past the end", FaultStuckSensor, 10, simThermal()},
		{"no fault", FaultNone, 5, simThermal()},
		{"bad thermal model", FaultFanFailure, 5, Thermal{}},
	} {
		if _, err := Inject(tc.f, st, tc.onset, tc.th); err == nil {
			t.Errorf("Inject(%s) = nil error", tc.name)
		}
	}
}

func TestReportString(t *testing.T) {
	r := Report{
		Faults:       []FaultReport{{Fault: FaultFanFailure, Events: 4, Detected: 3, Flagged: 10, TruePositives: 9, DelaySum: 30}},
		CleanSamples: 1000, CleanFlagged: 5,
	}
	fr := r.Fault(FaultFanFailure)
	if fr.Recall() != 0.75 || fr.Precision() != 0.9 || fr.MeanDelay() != 10 {
		t.Errorf("recall %v precision %v delay %v; want 0.75 0.9 10", fr.Recall(), fr.Precision(), fr.MeanDelay())
	}
	if got := r.Precision(); math.Abs(got-9.0/15) > 1e-12 {
		t.Errorf("overall precision = %v; want %v (clean alarms count)", got, 9.0/15)
	}
	s := r.String()
	for _, want := range []string{"fan-failure", "0.750", "0.900", "0.0050"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() = %q; want it to contain %q", s, want)
		}
	}
}

// TestSensorMaskFollowsTheList feeds one mask sensor lists that change in
// length, in a chip and in a name, and checks each answer against judging
// every sensor afresh.
func TestSensorMaskFollowsTheList(t *testing.T) {
	sensor := func(chip, name string, c float64) *gamesav1.ThermalSensor {
		return &gamesav1.ThermalSensor{Chip: chip, Name: name, TemperatureCelsius: c}
	}
	lists := [][]*gamesav1.ThermalSensor{
		{sensor("coretemp", "Package id 0", 60), sensor("amdgpu", "edge", 90)},
		{sensor("coretemp", "Package id 0", 61), sensor("amdgpu", "edge", 91)},   // same sensors, new readings
		{sensor("coretemp", "Package id 0", 61), sensor("k10temp", "edge", 91)},  // a chip changes
		{sensor("coretemp", "Package id 0", 62), sensor("k10temp", "nvme0", 95)}, // a name changes
		{sensor("coretemp", "Package id 0", 62)},                                 // the list shrinks
		{},
		{sensor("nvidia-gpu", "GPU core", 80), sensor("coretemp", "Core 1", 70), sensor("acpitz", "temp1", 50)},
	}
	want := []float64{60, 61, 91, 62, 62, math.Inf(-1), 70}
	var m neural.ListMask
	for i, ts := range lists {
		mask := cpuSensors(&m, ts)
		for j, s := range ts {
			if mask[j] != isCPUSensor(s) {
				t.Errorf("list %d: sensor %q %q marked CPU %v; want %v", i, s.GetChip(), s.GetName(), mask[j], !mask[j])
			}
		}
		if got, ok := hottestCPU(ts, mask); got != want[i] || ok != (len(ts) > 0) {
			t.Errorf("list %d: hottest CPU sensor %v, %v; want %v", i, got, ok, want[i])
		}
	}
}
