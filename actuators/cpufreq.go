package actuators

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// cpufreqFamily serves the CPU power knobs under <Sys>/devices/system/cpu
// and <Sys>/firmware/acpi.
type cpufreqFamily struct {
	cfg *Config
}

func (f *cpufreqFamily) cpuDir() string { return filepath.Join(f.cfg.Sys, "devices/system/cpu") }

// cpus lists the CPUs that have a cpufreq directory, in number order.
func (f *cpufreqFamily) cpus() []string {
	ents, err := os.ReadDir(f.cpuDir())
	if err != nil {
		return nil
	}
	var nums []int
	for _, e := range ents {
		s, ok := strings.CutPrefix(e.Name(), "cpu")
		n, err := strconv.Atoi(s)
		if !ok || err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(f.cpuDir(), e.Name(), "cpufreq")); err == nil {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	out := make([]string, len(nums))
	for i, n := range nums {
		out[i] = "cpu" + strconv.Itoa(n)
	}
	return out
}

// perCPU reports whether knob takes a "cpuN" target.
func perCPU(knob string) bool {
	return knob == KnobGovernor || knob == KnobMinKHz || knob == KnobMaxKHz || knob == KnobEPP
}

func (f *cpufreqFamily) expand(knob, target string) ([]string, error) {
	if perCPU(knob) && (target == "" || target == "all") {
		cpus := f.cpus()
		if len(cpus) == 0 {
			return nil, fmt.Errorf("%s: no cpufreq under %s: %w", knob, f.cpuDir(), ErrUnavailable)
		}
		return cpus, nil
	}
	return []string{target}, nil
}

func (f *cpufreqFamily) inventory() []*gamesav1.Knob {
	var out []*gamesav1.Knob
	add := func(knob, target string) {
		a, err := f.open(knob, target, openOpts{})
		if err != nil {
			return
		}
		k, err := a.(*sysfsKnob).describe()
		if err == nil {
			out = append(out, k)
		}
	}
	for _, c := range f.cpus() {
		for _, knob := range []string{KnobGovernor, KnobMinKHz, KnobMaxKHz, KnobEPP} {
			add(knob, c)
		}
	}
	add(KnobBoost, "")
	add(KnobPlatformProfile, "")
	return out
}

func (f *cpufreqFamily) open(knob, target string, o openOpts) (accessor, error) {
	switch knob {
	case KnobBoost:
		if target != "" {
			return nil, fmt.Errorf("%s: global knob, target %q: %w", knob, target, ErrBadTarget)
		}
		// acpi-cpufreq and amd-pstate say "boost"; intel_pstate says
		// the opposite, "no_turbo".
		if p := filepath.Join(f.cpuDir(), "cpufreq/boost"); exists(p) {
			return &sysfsKnob{knob: knob, target: target, path: p, choices: []string{"0", "1"}}, nil
		}
		if p := filepath.Join(f.cpuDir(), "intel_pstate/no_turbo"); exists(p) {
			return &sysfsKnob{knob: knob, target: target, path: p, choices: []string{"0", "1"}, invert: true}, nil
		}
		return nil, fmt.Errorf("%s: no cpufreq/boost or intel_pstate/no_turbo: %w", knob, ErrUnavailable)
	case KnobPlatformProfile:
		if target != "" {
			return nil, fmt.Errorf("%s: global knob, target %q: %w", knob, target, ErrBadTarget)
		}
		dir := filepath.Join(f.cfg.Sys, "firmware/acpi")
		p := filepath.Join(dir, "platform_profile")
		if !exists(p) {
			return nil, fmt.Errorf("%s: no %s: %w", knob, p, ErrUnavailable)
		}
		return &sysfsKnob{knob: knob, path: p, choicesPath: filepath.Join(dir, "platform_profile_choices")}, nil
	}
	if !perCPU(knob) {
		return nil, fmt.Errorf("%q: %w", knob, ErrUnknownKnob)
	}
	n, ok := strings.CutPrefix(target, "cpu")
	if _, err := strconv.Atoi(n); !ok || err != nil {
		return nil, fmt.Errorf("%s: target %q: want cpu<n>, or empty for every CPU: %w", knob, target, ErrBadTarget)
	}
	dir := filepath.Join(f.cpuDir(), target, "cpufreq")
	k := &sysfsKnob{knob: knob, target: target}
	switch knob {
	case KnobGovernor:
		k.path = filepath.Join(dir, "scaling_governor")
		k.choicesPath = filepath.Join(dir, "scaling_available_governors")
	case KnobMinKHz, KnobMaxKHz:
		k.path = filepath.Join(dir, "scaling_min_freq")
		if knob == KnobMaxKHz {
			k.path = filepath.Join(dir, "scaling_max_freq")
		}
		k.minPath = filepath.Join(dir, "cpuinfo_min_freq")
		k.maxPath = filepath.Join(dir, "cpuinfo_max_freq")
	case KnobEPP:
		k.path = filepath.Join(dir, "energy_performance_preference")
		k.choicesPath = filepath.Join(dir, "energy_performance_available_preferences")
		// intel_pstate also takes a raw EPP number.
		k.rawMax = 255
	}
	if !exists(k.path) {
		return nil, fmt.Errorf("%s %s: no %s: %w", knob, target, k.path, ErrUnavailable)
	}
	return k, nil
}

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// sysfsKnob is one sysfs attribute: an enumeration (choices, or a file of
// them), or a number bounded by fixed values or by other attributes.
type sysfsKnob struct {
	knob, target string
	path         string
	// choices, or choicesPath: a file listing them separated by spaces.
	choices     []string
	choicesPath string
	// rawMax > 0: an integer in [0, rawMax] is accepted besides the
	// choices.
	rawMax int64
	// numeric: bounded by min and max, or by the integers in minPath
	// and maxPath where set.
	numeric          bool
	min, max         int64
	minPath, maxPath string
	// maxOptional: a missing or zero maxPath means no upper bound but
	// max (powercap leaves constraint_N_max_power_uw out on some
	// platforms).
	maxOptional bool
	// floorPercent > 0: the lower bound is that share of the upper one,
	// at least 1 (a backlight never goes fully dark).
	floorPercent int64
	// invert: the file holds the negation of a 0/1 knob (no_turbo).
	invert bool
	// bracketed: the file lists every choice and marks the current one
	// in brackets ("[default] performance powersave").
	bracketed bool
}

func (k *sysfsKnob) name() string {
	if k.target == "" {
		return k.knob
	}
	return k.knob + " " + k.target
}

func (k *sysfsKnob) read() (string, error) {
	s, err := readAttr(k.path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", k.name(), err)
	}
	if k.bracketed {
		for w := range strings.FieldsSeq(s) {
			if strings.HasPrefix(w, "[") && strings.HasSuffix(w, "]") {
				return strings.Trim(w, "[]"), nil
			}
		}
		// A lone word is the value itself: what a plain file holds after a
		// write (a fixture, a copied tree), and what some kernels show.
		if f := strings.Fields(s); len(f) == 1 {
			return f[0], nil
		}
		return "", fmt.Errorf("%s: no current choice in %q", k.name(), s)
	}
	if k.invert {
		switch s {
		case "0":
			return "1", nil
		case "1":
			return "0", nil
		}
		return "", fmt.Errorf("%s: %s holds %q, want 0 or 1", k.name(), k.path, s)
	}
	return s, nil
}

// choiceList returns the accepted values of an enumeration.
func (k *sysfsKnob) choiceList() ([]string, error) {
	if k.choices != nil {
		return k.choices, nil
	}
	if k.bracketed {
		s, err := readAttr(k.path)
		if err != nil {
			return nil, err
		}
		return strings.Fields(strings.NewReplacer("[", "", "]", "").Replace(s)), nil
	}
	if k.choicesPath == "" {
		return nil, nil
	}
	s, err := readAttr(k.choicesPath)
	if err != nil {
		return nil, err
	}
	return strings.Fields(s), nil
}

// bounds returns a numeric knob's limits.
func (k *sysfsKnob) bounds() (lo, hi int64, err error) {
	lo, hi = k.min, k.max
	if k.minPath != "" {
		if lo, err = readInt(k.minPath); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", k.name(), err)
		}
	}
	if k.maxPath != "" {
		m, err := readInt(k.maxPath)
		switch {
		case err == nil && (m > 0 || !k.maxOptional):
			hi = m
		case err != nil && !k.maxOptional:
			return 0, 0, fmt.Errorf("%s: %w", k.name(), err)
		}
	}
	if k.floorPercent > 0 {
		lo = max(1, hi*k.floorPercent/100)
	}
	return lo, hi, nil
}

func (k *sysfsKnob) isNumeric() bool { return k.numeric || k.minPath != "" || k.maxPath != "" }

func (k *sysfsKnob) check(v string) (string, string, error) {
	v = strings.TrimSpace(v)
	if k.isNumeric() {
		n, err := parseIntIn(v)
		if err != nil {
			return "", "", fmt.Errorf("%s: %w", k.name(), err)
		}
		lo, hi, err := k.bounds()
		if err != nil {
			return "", "", err
		}
		n, note := clamp(n, lo, hi)
		return strconv.FormatInt(n, 10), note, nil
	}
	choices, err := k.choiceList()
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", k.name(), err)
	}
	if k.rawMax > 0 {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 && n <= k.rawMax && v == strconv.FormatInt(n, 10) {
			return v, "", nil
		}
	}
	c, err := choose(v, choices)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", k.name(), err)
	}
	return c, "", nil
}

func (k *sysfsKnob) write(v string) error {
	if k.invert {
		if v == "0" {
			v = "1"
		} else {
			v = "0"
		}
	}
	if err := writeAttr(k.path, v); err != nil {
		return fmt.Errorf("%s: %w", k.name(), err)
	}
	return nil
}

// describe returns the knob for Inventory.
func (k *sysfsKnob) describe() (*gamesav1.Knob, error) {
	v, err := k.read()
	if err != nil {
		return nil, err
	}
	out := &gamesav1.Knob{Name: k.knob, Target: k.target, Value: v, Unit: unitOf(k.knob), Writable: attrWritable(k.path)}
	if k.isNumeric() {
		if lo, hi, err := k.bounds(); err == nil {
			out.Min, out.Max = strconv.FormatInt(lo, 10), strconv.FormatInt(hi, 10)
		}
	} else if c, err := k.choiceList(); err == nil {
		out.Choices = c
	}
	return out, nil
}
