package actuators

import (
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// The knob names, as plan.proto spells them. Values are text in the knob's
// unit; the package doc lists each knob's targets, values and bounds.
const (
	KnobAffinity    = "process.affinity"
	KnobNice        = "process.nice"
	KnobIOPrio      = "process.ioprio"
	KnobPolicy      = "process.policy"
	KnobOOMScoreAdj = "process.oom_score_adj"

	KnobCgroupWeight = "cgroup.weight"
	KnobCgroupQuota  = "cgroup.quota"
	KnobCgroupCpuset = "cgroup.cpuset"
	KnobCgroupMember = "cgroup.member"

	KnobGovernor        = "cpufreq.governor"
	KnobMinKHz          = "cpufreq.min_khz"
	KnobMaxKHz          = "cpufreq.max_khz"
	KnobEPP             = "cpufreq.epp"
	KnobBoost           = "cpufreq.boost"
	KnobPlatformProfile = "platform.profile"
	KnobDMALatency      = "pmqos.cpu_dma_latency_us"

	KnobRAPLPL1    = "rapl.pl1_uw"
	KnobRAPLPL2    = "rapl.pl2_uw"
	KnobNVMLPower  = "nvml.power_limit_mw"
	KnobBacklight  = "backlight.brightness"
	KnobUSBSuspend = "usb.autosuspend"
	KnobPCIeASPM   = "pcie.aspm_policy"
	KnobSATALink   = "sata.link_power"
)

// knobHierarchy is the journal's record of a GAMESA cgroup directory that
// this agent created ("present") and removes at revert. Plans cannot name
// it: the groups are created on first use.
const knobHierarchy = "cgroup.hierarchy"

// Knobs returns every knob name a plan may use, in plan.proto's order.
func Knobs() []string {
	return []string{
		KnobAffinity, KnobNice, KnobIOPrio, KnobPolicy, KnobOOMScoreAdj,
		KnobCgroupWeight, KnobCgroupQuota, KnobCgroupCpuset, KnobCgroupMember,
		KnobGovernor, KnobMinKHz, KnobMaxKHz, KnobEPP, KnobBoost, KnobPlatformProfile,
		KnobDMALatency, KnobRAPLPL1, KnobRAPLPL2, KnobNVMLPower,
		KnobBacklight, KnobUSBSuspend, KnobPCIeASPM, KnobSATALink,
	}
}

// journalledKnob reports whether a journal record may name knob.
func journalledKnob(knob string) bool {
	if knob == knobHierarchy {
		return true
	}
	for _, k := range Knobs() {
		if k == knob && k != KnobDMALatency {
			return true
		}
	}
	return false
}

// unitOf returns a knob's unit, as Knob.unit spells it.
func unitOf(knob string) string {
	switch knob {
	case KnobMinKHz, KnobMaxKHz:
		return "kHz"
	case KnobRAPLPL1, KnobRAPLPL2:
		return "uW"
	case KnobNVMLPower:
		return "mW"
	case KnobDMALatency, KnobCgroupQuota:
		return "us"
	}
	return ""
}

// family serves some of the knobs. A family is used with Set.mu held, so
// it needs no locking of its own.
type family interface {
	// inventory lists the family's knobs on this host, current values
	// and bounds filled, Owner left empty.
	inventory() []*gamesav1.Knob
	// expand returns the targets an action's target stands for: itself,
	// or every CPU for a per-CPU knob with an empty target.
	expand(knob, target string) ([]string, error)
	// open resolves one knob and target, or reports ErrUnavailable,
	// ErrBadTarget, ErrGone or ErrOutOfScope.
	open(knob, target string, o openOpts) (accessor, error)
}

// openOpts qualify family.open.
type openOpts struct {
	// revert: opening to put an original back. The scope check is
	// skipped (the change was in scope when it was made), never the hard
	// safety rules.
	revert bool
	// inspect: opening only to read (Set.Process), so neither the scope
	// nor the safety rules apply.
	inspect bool
	// start is the process start time a journal record names; a process
	// with another start time is a reused pid, reported as ErrGone. 0
	// accepts any.
	start uint64
}

// accessor reads and writes one knob of one target.
type accessor interface {
	// read returns the current value in the knob's canonical spelling.
	read() (string, error)
	// check validates a plan's value against the knob's bounds and
	// returns the canonical value to write, and a note when it was
	// clamped. Values that cannot be clamped are rejected.
	check(value string) (v, note string, err error)
	// write sets the value.
	write(value string) error
}

// identified is an accessor for a process knob.
type identified interface {
	identity() (pid int, start uint64)
}

// threaded is an accessor for a knob that Linux keeps per thread: Set
// records and restores each thread's value. read reports the main
// thread's.
type threaded interface {
	threads() (map[int]string, error)
	writeThread(tid int, value string) error
}

// prereq is a change that must be made (and journalled) before an action:
// creating the GAMESA cgroup hierarchy.
type prereq struct{ knob, target, value string }

// needing is an accessor whose write depends on other changes first.
type needing interface {
	prerequisites(value string) []prereq
}

// held is an accessor whose change is not journalled because the kernel
// undoes it when this process lets go or dies (a PM QoS request).
type held interface {
	release() error
}
