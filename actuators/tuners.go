package actuators

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Tuner is another program that tunes this machine and is running now.
type Tuner struct {
	// Name is the tuner's name: "gamemoded", "tuned", ...
	Name string
	// PID is its process; 0 for a tuner seen by its state on disk (tlp,
	// which runs once at boot and on power events, and exits).
	PID int
	// Knobs are the knobs it manages: names, or families ending in "."
	// ("cpufreq." is every cpufreq knob).
	Knobs []string
}

// Manages reports whether the tuner manages knob.
func (t Tuner) Manages(knob string) bool {
	for _, k := range t.Knobs {
		if k == knob || (strings.HasSuffix(k, ".") && strings.HasPrefix(knob, k)) {
			return true
		}
	}
	return false
}

// knownTuner says how to recognise a tuner and what it manages.
type knownTuner struct {
	name string
	// names match /proc/<pid>/comm (the kernel cuts it to 15 bytes) or
	// the base name of argv[0], or of argv[1] behind an interpreter.
	names []string
	knobs []string
}

// knownTuners returns the tuners GAMESA steps aside for. The knob lists
// follow what each one's documentation says it changes.
func knownTuners() []knownTuner {
	return []knownTuner{
		{"gamemoded", []string{"gamemoded"},
			[]string{KnobNice, KnobIOPrio, KnobPolicy, KnobAffinity, KnobGovernor, KnobNVMLPower}},
		{"power-profiles-daemon", []string{"power-profiles-daemon", "power-profiles-"},
			[]string{KnobPlatformProfile, KnobEPP, KnobBoost}},
		{"tuned", []string{"tuned"},
			[]string{"cpufreq.", KnobPlatformProfile, KnobDMALatency, KnobAffinity, KnobPolicy,
				KnobUSBSuspend, KnobSATALink, KnobPCIeASPM}},
		{"auto-cpufreq", []string{"auto-cpufreq"},
			[]string{"cpufreq.", KnobPlatformProfile}},
		{"ananicy-cpp", []string{"ananicy-cpp", "ananicy"},
			[]string{KnobNice, KnobIOPrio, KnobPolicy, KnobOOMScoreAdj, "cgroup."}},
		{"system76-scheduler", []string{"system76-scheduler", "system76-schedu"},
			[]string{KnobNice, KnobIOPrio, KnobPolicy}},
		{"tlp", []string{"tlp"},
			[]string{"cpufreq.", KnobPlatformProfile, "rapl.", KnobUSBSuspend, KnobPCIeASPM, KnobSATALink}},
	}
}

// interpreters run a tuner written as a script: its name is then argv[1].
func isInterpreter(base string) bool {
	for _, p := range []string{"python", "perl", "sh", "bash"} {
		if base == p || strings.HasPrefix(base, p+"3") || strings.HasPrefix(base, p+"2") {
			return true
		}
	}
	return false
}

// DetectTuners lists the known tuners running on the machine whose /proc
// and /run are at proc and run: gamemoded, power-profiles-daemon, tuned,
// auto-cpufreq, ananicy-cpp, system76-scheduler, and tlp (found by its state
// directory <run>/tlp, as it does not stay running). Each appears once, with
// its lowest pid. Processes that vanish while being read are skipped; only
// an unreadable proc is an error.
func DetectTuners(proc, run string) ([]Tuner, error) {
	ents, err := os.ReadDir(proc)
	if err != nil {
		return nil, fmt.Errorf("actuators: detect tuners: %w", err)
	}
	known := knownTuners()
	found := map[string]Tuner{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		cands := processNames(filepath.Join(proc, e.Name()))
		if len(cands) == 0 {
			continue
		}
		for _, kt := range known {
			if !slices.ContainsFunc(cands, func(c string) bool { return slices.Contains(kt.names, c) }) {
				continue
			}
			if t, ok := found[kt.name]; !ok || pid < t.PID {
				found[kt.name] = Tuner{Name: kt.name, PID: pid, Knobs: kt.knobs}
			}
		}
	}
	for _, kt := range known {
		if kt.name != "tlp" {
			continue
		}
		if _, ok := found["tlp"]; !ok && exists(filepath.Join(run, "tlp")) {
			found["tlp"] = Tuner{Name: "tlp", Knobs: kt.knobs}
		}
	}
	var out []Tuner
	for _, kt := range known {
		if t, ok := found[kt.name]; ok {
			out = append(out, t)
		}
	}
	return out, nil
}

// processNames returns the names a process goes by: its comm, argv[0]'s
// base name, and argv[1]'s when argv[0] is an interpreter. Kernel threads
// (no command line) have none.
func processNames(dir string) []string {
	cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil || len(cmdline) == 0 {
		return nil
	}
	var names []string
	if comm, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil {
		names = append(names, strings.TrimSpace(string(comm)))
	}
	args := bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0})
	if len(args) > 0 {
		a0 := filepath.Base(string(args[0]))
		names = append(names, a0)
		if isInterpreter(a0) {
			for _, a := range args[1:] {
				if !bytes.HasPrefix(a, []byte("-")) {
					names = append(names, filepath.Base(string(a)))
					break
				}
			}
		}
	}
	return names
}
