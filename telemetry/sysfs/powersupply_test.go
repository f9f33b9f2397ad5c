package sysfs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

// battery files for a discharging laptop battery reporting energy.
func energyBattery(name, status string) map[string]string {
	p := "class/power_supply/" + name + "/"
	return map[string]string{
		p + "type":        "Battery\n",
		p + "status":      status + "\n",
		p + "capacity":    "50\n",
		p + "energy_now":  "25000000\n",
		p + "energy_full": "50000000\n",
		p + "power_now":   "10000000\n",
		p + "voltage_now": "12000000\n",
	}
}

func adapter(name, typ, online string) map[string]string {
	p := "class/power_supply/" + name + "/"
	return map[string]string{p + "type": typ + "\n", p + "online": online + "\n"}
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func batteryNames(s *gamesav1.Sample) []string {
	var names []string
	for _, b := range s.GetPower().GetBatteries() {
		names = append(names, b.Name)
	}
	return names
}

func TestPowerSupplyOnAC(t *testing.T) {
	mouse := map[string]string{
		"class/power_supply/hidpp_battery_0/type":     "Battery\n",
		"class/power_supply/hidpp_battery_0/scope":    "Device\n",
		"class/power_supply/hidpp_battery_0/status":   "Discharging\n",
		"class/power_supply/hidpp_battery_0/capacity": "20\n",
	}
	tests := []struct {
		name      string
		files     map[string]string // nil: an empty power_supply dir
		wantAC    bool
		wantNames []string
	}{
		{"desktop: empty dir", nil, true, nil},
		{"desktop with a wireless mouse", mouse, true, nil},
		{"adapter online", merge(energyBattery("BAT0", "Charging"), adapter("AC", "Mains", "1")), true, []string{"BAT0"}},
		{"adapter offline", merge(energyBattery("BAT0", "Discharging"), adapter("AC", "Mains", "0")), false, []string{"BAT0"}},
		{"USB-C online, Mains offline", merge(energyBattery("BAT0", "Charging"), adapter("AC", "Mains", "0"), adapter("ucsi0", "USB", "1")), true, []string{"BAT0"}},
		{"legacy USB_PD type online", merge(energyBattery("BAT0", "Charging"), adapter("pd0", "USB_PD", "1")), true, []string{"BAT0"}},
		{"no adapter, discharging", energyBattery("BAT0", "Discharging"), false, []string{"BAT0"}},
		{"no adapter, full", energyBattery("BAT0", "Full"), true, []string{"BAT0"}},
		{"two batteries, mouse ignored", merge(energyBattery("BAT1", "Discharging"), energyBattery("BAT0", "Unknown"), mouse, adapter("AC", "Mains", "0")), false, []string{"BAT0", "BAT1"}},
		{"empty battery slot", merge(map[string]string{
			"class/power_supply/BAT1/type": "Battery\n", "class/power_supply/BAT1/present": "0\n",
		}, adapter("AC", "Mains", "0")), true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "sys/class/power_supply"), 0o755); err != nil {
				t.Fatal(err)
			}
			writeTree(t, filepath.Join(dir, "sys"), tt.files)
			s := sampleAt(t0)
			if err := NewPowerSupply(telemetry.FixtureRoots(dir)).Collect(context.Background(), s); err != nil {
				t.Fatalf("Collect = %v; want nil", err)
			}
			if s.Power == nil || s.Power.OnAc != tt.wantAC {
				t.Errorf("on_ac = %v; want %v", s.GetPower().GetOnAc(), tt.wantAC)
			}
			if got := batteryNames(s); !slices.Equal(got, tt.wantNames) {
				t.Errorf("batteries = %q; want %q", got, tt.wantNames)
			}
		})
	}
}

func TestPowerSupplyBatteryFields(t *testing.T) {
	const p = "class/power_supply/BAT0/"
	tests := []struct {
		name  string
		files map[string]string
		fail  map[string]error
		want  *gamesav1.Battery
	}{
		{
			name:  "energy and power",
			files: energyBattery("BAT0", "Discharging"),
			want:  &gamesav1.Battery{Name: "BAT0", Status: "Discharging", CapacityPercent: 50, PowerWatts: 10, EnergyWh: 25, EnergyFullWh: 50, VoltageVolts: 12},
		},
		{
			name: "charge and negative current",
			files: map[string]string{
				p + "type": "Battery", p + "status": "Discharging", p + "capacity": "41",
				p + "charge_now": "2000000", p + "charge_full": "4000000", p + "charge_full_design": "5000000",
				p + "current_now": "-1500000", p + "voltage_now": "8000000", p + "cycle_count": "7",
			},
			want: &gamesav1.Battery{Name: "BAT0", Status: "Discharging", CapacityPercent: 41, PowerWatts: 12, EnergyWh: 16, EnergyFullWh: 32, EnergyFullDesignWh: 40, VoltageVolts: 8, CycleCount: 7},
		},
		{
			name: "capacity from energy when the file is missing",
			files: map[string]string{
				p + "type": "Battery", p + "status": "Charging",
				p + "energy_now": "30000000", p + "energy_full": "40000000",
			},
			want: &gamesav1.Battery{Name: "BAT0", Status: "Charging", CapacityPercent: 75, EnergyWh: 30, EnergyFullWh: 40},
		},
		{
			name: "unknown cycle count and an odd status",
			files: map[string]string{
				p + "type": "Battery", p + "status": "Weird", p + "capacity": "120", p + "cycle_count": "-1",
			},
			want: &gamesav1.Battery{Name: "BAT0", Status: "Weird", CapacityPercent: 100},
		},
		{
			name:  "fields the driver cannot report now",
			files: energyBattery("BAT0", "Discharging"),
			fail:  map[string]error{"/power_now": syscall.ENODATA, "/energy_full": syscall.ENODEV},
			want:  &gamesav1.Battery{Name: "BAT0", Status: "Discharging", CapacityPercent: 50, EnergyWh: 25, VoltageVolts: 12},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, filepath.Join(dir, "sys"), tt.files)
			c := NewPowerSupply(telemetry.FixtureRoots(dir))
			if tt.fail != nil {
				c.r.read = failReads(tt.fail)
			}
			s := sampleAt(t0)
			if err := c.Collect(context.Background(), s); err != nil {
				t.Fatalf("Collect = %v; want nil", err)
			}
			if n := len(s.Power.Batteries); n != 1 {
				t.Fatalf("Collect listed %d batteries; want 1", n)
			}
			got := s.Power.Batteries[0]
			fields := []struct {
				name      string
				got, want float64
			}{
				{"capacity_percent", got.CapacityPercent, tt.want.CapacityPercent},
				{"power_watts", got.PowerWatts, tt.want.PowerWatts},
				{"energy_wh", got.EnergyWh, tt.want.EnergyWh},
				{"energy_full_wh", got.EnergyFullWh, tt.want.EnergyFullWh},
				{"energy_full_design_wh", got.EnergyFullDesignWh, tt.want.EnergyFullDesignWh},
				{"voltage_volts", got.VoltageVolts, tt.want.VoltageVolts},
				{"cycle_count", float64(got.CycleCount), float64(tt.want.CycleCount)},
			}
			for _, f := range fields {
				if !near(f.got, f.want) {
					t.Errorf("%s = %v; want %v", f.name, f.got, f.want)
				}
			}
			if got.Name != tt.want.Name || got.Status != tt.want.Status {
				t.Errorf("name, status = %q, %q; want %q, %q", got.Name, got.Status, tt.want.Name, tt.want.Status)
			}
		})
	}
}

func TestPowerSupplyNotAvailable(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, filepath.Join(dir, "sys"), map[string]string{"class/hwmon/hwmon0/name": "x"})
	s := sampleAt(t0)
	err := NewPowerSupply(telemetry.FixtureRoots(dir)).Collect(context.Background(), s)
	if !errors.Is(err, telemetry.ErrNotAvailable) {
		t.Errorf("Collect = %v; want ErrNotAvailable", err)
	}
	if s.Power != nil {
		t.Errorf("Collect set Power = %v; want nil", s.Power)
	}
}
