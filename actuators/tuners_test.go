package actuators_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/krystalstack/gamesa/actuators"
	"github.com/krystalstack/gamesa/telemetry/telemetrytest"
)

func TestDetectTuners(t *testing.T) {
	dir := t.TempDir()
	if err := telemetrytest.CopyTree("testdata/tuners", dir); err != nil {
		t.Fatal(err)
	}
	got, err := actuators.DetectTuners(filepath.Join(dir, "proc"), filepath.Join(dir, "run"))
	if err != nil {
		t.Fatal(err)
	}
	type tp struct {
		name string
		pid  int
	}
	var names []tp
	for _, tu := range got {
		names = append(names, tp{tu.Name, tu.PID})
	}
	// tunedx, vim editing tuned.conf, bash and kthreadd are not tuners;
	// power-profiles-daemon runs twice and is listed once, lowest pid.
	want := []tp{{"gamemoded", 1500}, {"power-profiles-daemon", 530}, {"tuned", 412}, {"auto-cpufreq", 880},
		{"ananicy-cpp", 1200}, {"system76-scheduler", 1201}, {"tlp", 0}}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("DetectTuners() = %v; want %v", names, want)
	}

	got, err = actuators.DetectTuners(filepath.Join(dir, "proc"), filepath.Join(dir, "empty-run"))
	if err != nil || len(got) != 6 {
		t.Errorf("DetectTuners(no /run/tlp) = %d tuners, %v; want 6", len(got), err)
	}
	if _, err := actuators.DetectTuners(filepath.Join(dir, "nowhere"), dir); err == nil {
		t.Error("DetectTuners(missing proc) = nil error")
	}
}

func TestTunerManages(t *testing.T) {
	tu := actuators.Tuner{Name: "x", Knobs: []string{"cpufreq.", actuators.KnobNice}}
	for knob, want := range map[string]bool{
		actuators.KnobGovernor: true, actuators.KnobEPP: true, actuators.KnobNice: true,
		actuators.KnobIOPrio: false, actuators.KnobPlatformProfile: false,
	} {
		if got := tu.Manages(knob); got != want {
			t.Errorf("Tuner{cpufreq., nice}.Manages(%q) = %v; want %v", knob, got, want)
		}
	}
}

// TestRespectTuners: with tuned running, its knobs are left alone and
// named as its in Inventory; turning RespectTuners off lifts that.
func TestRespectTuners(t *testing.T) {
	cfg, dir := fixture(t)
	tuners := t.TempDir()
	if err := telemetrytest.CopyTree("testdata/tuners", tuners); err != nil {
		t.Fatal(err)
	}
	cfg.Proc = filepath.Join(tuners, "proc")
	cfg.Run = filepath.Join(tuners, "empty-run")
	s := open(t, cfg)
	if n := len(s.Tuners()); n != 6 {
		t.Errorf("Tuners() = %d; want 6", n)
	}
	res := s.Apply(context.Background(), plan(
		actuators.KnobGovernor, "cpu0", "performance",
		actuators.KnobPlatformProfile, "", "performance",
		actuators.KnobBacklight, "intel_backlight", "30000"))
	if res[0].Status != actuators.Rejected || !errors.Is(res[0].Err, actuators.ErrOwned) {
		t.Errorf("Apply(governor, tuned running) = %v, %v; want rejected, ErrOwned", res[0].Status, res[0].Err)
	}
	if res[1].Status != actuators.Rejected || !errors.Is(res[1].Err, actuators.ErrOwned) {
		t.Errorf("Apply(platform.profile, power-profiles-daemon running) = %v, %v; want rejected, ErrOwned", res[1].Status, res[1].Err)
	}
	if res[2].Status != actuators.Applied {
		t.Errorf("Apply(backlight) = %v, %v; want applied (no tuner owns it)", res[2].Status, res[2].Err)
	}
	if got := readFile(t, filepath.Join(dir, "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")); got != "powersave" {
		t.Errorf("governor = %s; want it left to tuned", got)
	}
	inv, err := s.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]string{}
	for _, k := range inv {
		owners[k.Name+" "+k.Target] = k.Owner
	}
	for key, want := range map[string]string{
		"cpufreq.governor cpu0":                "gamemoded",
		"cpufreq.epp cpu0":                     "power-profiles-daemon",
		"pmqos.cpu_dma_latency_us ":            "tuned",
		"backlight.brightness intel_backlight": "",
		"cgroup.weight foreground":             "ananicy-cpp",
	} {
		if owners[key] != want {
			t.Errorf("Inventory()[%s].Owner = %q; want %q", key, owners[key], want)
		}
	}
	revert(t, s)
	s.Close()

	cfg.RespectTuners = false
	s = open(t, cfg)
	apply(t, s, actuators.Applied, plan(actuators.KnobGovernor, "cpu0", "performance"))
}
