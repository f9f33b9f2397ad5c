package actuators

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// backlightFloorPercent keeps a backlight at 1% of its range or more: a
// dark panel looks like a dead machine to its user.
const backlightFloorPercent = 1

// sataPolicies returns the values link_power_management_policy accepts.
func sataPolicies() []string {
	return []string{"max_performance", "medium_power", "min_power", "med_power_with_dipm", "keep_firmware_settings"}
}

// deviceFamily serves the device power knobs: backlight, USB autosuspend,
// PCIe ASPM and SATA link power.
type deviceFamily struct {
	cfg *Config
}

func (f *deviceFamily) backlightDir() string { return filepath.Join(f.cfg.Sys, "class/backlight") }
func (f *deviceFamily) usbDir() string       { return filepath.Join(f.cfg.Sys, "bus/usb/devices") }
func (f *deviceFamily) sataDir() string      { return filepath.Join(f.cfg.Sys, "class/scsi_host") }
func (f *deviceFamily) aspmPath() string {
	return filepath.Join(f.cfg.Sys, "module/pcie_aspm/parameters/policy")
}

// names lists dir's entries that have the file rel, sorted.
func names(dir, rel string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if exists(filepath.Join(dir, e.Name(), rel)) {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out
}

func (f *deviceFamily) expand(knob, target string) ([]string, error) {
	if target != "" {
		return []string{target}, nil
	}
	var all []string
	switch knob {
	case KnobBacklight:
		all = names(f.backlightDir(), "brightness")
	case KnobSATALink:
		all = names(f.sataDir(), "link_power_management_policy")
	default:
		return []string{target}, nil
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%s: none on this host: %w", knob, ErrUnavailable)
	}
	return all, nil
}

func (f *deviceFamily) inventory() []*gamesav1.Knob {
	var out []*gamesav1.Knob
	add := func(knob, target string) {
		a, err := f.open(knob, target, openOpts{})
		if err != nil {
			return
		}
		if k, err := a.(*sysfsKnob).describe(); err == nil {
			out = append(out, k)
		}
	}
	for _, n := range names(f.backlightDir(), "brightness") {
		add(KnobBacklight, n)
	}
	for _, n := range names(f.usbDir(), "power/control") {
		add(KnobUSBSuspend, n)
	}
	add(KnobPCIeASPM, "")
	for _, n := range names(f.sataDir(), "link_power_management_policy") {
		add(KnobSATALink, n)
	}
	return out
}

func (f *deviceFamily) open(knob, target string, o openOpts) (accessor, error) {
	var k *sysfsKnob
	switch knob {
	case KnobPCIeASPM:
		if target != "" {
			return nil, fmt.Errorf("%s: global knob, target %q: %w", knob, target, ErrBadTarget)
		}
		k = &sysfsKnob{knob: knob, path: f.aspmPath(), bracketed: true}
	case KnobBacklight, KnobUSBSuspend, KnobSATALink:
		if !isPathElem(target) {
			return nil, fmt.Errorf("%s: target %q: want a device name: %w", knob, target, ErrBadTarget)
		}
		switch knob {
		case KnobBacklight:
			dir := filepath.Join(f.backlightDir(), target)
			k = &sysfsKnob{knob: knob, target: target, path: filepath.Join(dir, "brightness"),
				numeric: true, maxPath: filepath.Join(dir, "max_brightness"), floorPercent: backlightFloorPercent}
		case KnobUSBSuspend:
			k = &sysfsKnob{knob: knob, target: target, path: filepath.Join(f.usbDir(), target, "power/control"),
				choices: []string{"auto", "on"}}
		case KnobSATALink:
			k = &sysfsKnob{knob: knob, target: target, path: filepath.Join(f.sataDir(), target, "link_power_management_policy"),
				choices: sataPolicies()}
		}
	default:
		return nil, fmt.Errorf("%q: %w", knob, ErrUnknownKnob)
	}
	if !exists(k.path) {
		return nil, fmt.Errorf("%s: no %s: %w", k.name(), k.path, ErrUnavailable)
	}
	return k, nil
}

// raplFamily serves the RAPL power limits through powercap:
// <Sys>/class/powercap/intel-rapl:N[:M], PL1 as the "long_term"
// constraint and PL2 as "short_term". The intel-rapl-mmio zones are left
// alone: the kernel keeps them in step with the MSR ones named here.
type raplFamily struct {
	cfg *Config
}

// raplZone is one powercap zone and the name a plan targets it by.
type raplZone struct {
	label string // "package-0", "package-0/dram", "psys"
	dir   string
}

func (f *raplFamily) zones() []raplZone {
	root := filepath.Join(f.cfg.Sys, "class/powercap")
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	var ids []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "intel-rapl:") {
			ids = append(ids, e.Name())
		}
	}
	slices.Sort(ids)
	labels := map[string]string{}
	var out []raplZone
	for _, id := range ids {
		name, err := readAttr(filepath.Join(root, id, "name"))
		if err != nil {
			continue
		}
		parts := strings.Split(id, ":")
		label := name
		if len(parts) == 3 {
			parent, ok := labels[parts[0]+":"+parts[1]]
			if !ok {
				continue
			}
			label = parent + "/" + name
		}
		labels[id] = label
		out = append(out, raplZone{label: label, dir: filepath.Join(root, id)})
	}
	return out
}

func (f *raplFamily) expand(knob, target string) ([]string, error) {
	return []string{target}, nil
}

func (f *raplFamily) inventory() []*gamesav1.Knob {
	var out []*gamesav1.Knob
	for _, z := range f.zones() {
		for _, knob := range []string{KnobRAPLPL1, KnobRAPLPL2} {
			a, err := f.open(knob, z.label, openOpts{})
			if err != nil {
				continue
			}
			if k, err := a.(*sysfsKnob).describe(); err == nil {
				out = append(out, k)
			}
		}
	}
	return out
}

func (f *raplFamily) open(knob, target string, o openOpts) (accessor, error) {
	want := "long_term"
	switch knob {
	case KnobRAPLPL1:
	case KnobRAPLPL2:
		want = "short_term"
	default:
		return nil, fmt.Errorf("%q: %w", knob, ErrUnknownKnob)
	}
	zones := f.zones()
	if len(zones) == 0 {
		return nil, fmt.Errorf("%s: no intel-rapl zones under %s: %w", knob, filepath.Join(f.cfg.Sys, "class/powercap"), ErrUnavailable)
	}
	i := slices.IndexFunc(zones, func(z raplZone) bool { return z.label == target })
	if i < 0 {
		return nil, fmt.Errorf("%s: no zone %q: %w", knob, target, ErrUnavailable)
	}
	z := zones[i]
	for c := 0; c < 8; c++ {
		prefix := filepath.Join(z.dir, fmt.Sprintf("constraint_%d_", c))
		name, err := readAttr(prefix + "name")
		if err != nil {
			break
		}
		if name == want {
			return &sysfsKnob{knob: knob, target: target, path: prefix + "power_limit_uw",
				numeric: true, min: int64(f.cfg.RAPLFloorUW), max: 1 << 40,
				maxPath: prefix + "max_power_uw", maxOptional: true}, nil
		}
	}
	return nil, fmt.Errorf("%s %s: no %s constraint: %w", knob, target, want, ErrUnavailable)
}
