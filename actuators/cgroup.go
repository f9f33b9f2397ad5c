package actuators

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/krystalstack/gamesa/internal/cpulist"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Bounds of the cgroup knobs, in cgroup v2's units.
const (
	cgWeightMin, cgWeightMax, cgWeightDefault = 1, 10000, 100
	cgPeriodDefault                           = 100000 // µs
	cgPeriodMin, cgPeriodMax                  = 1000, 1000000
	cgQuotaMin                                = 1000
	// v1's cpu.shares has 1024 where v2's cpu.weight has 100.
	cgSharesDefault, cgSharesMin, cgSharesMax = 1024, 2, 262144
)

// cgroupFamily serves the cgroup knobs over the GAMESA-owned hierarchy:
// CgroupRoot/CgroupName/<group> on cgroup v2, and the same path below the
// cpu and cpuset controllers' mounts on cgroup v1.
type cgroupFamily struct {
	cfg *Config
	v2  bool
	// cpuRoot and cpusetRoot are the mounts that hold the hierarchy:
	// both CgroupRoot on v2; the controllers' mounts on v1, "" for one
	// that is missing. err is set when there is no usable cgroup at all.
	cpuRoot, cpusetRoot string
	err                 error
}

func newCgroupFamily(cfg *Config) *cgroupFamily {
	f := &cgroupFamily{cfg: cfg}
	root := cfg.CgroupRoot
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		f.v2 = true
		// What the root hands down to its children, not what it has:
		// only those controllers' files appear in the GAMESA groups.
		ctrl, _ := readAttr(filepath.Join(root, "cgroup.subtree_control"))
		list := strings.Fields(ctrl)
		if slices.Contains(list, "cpu") {
			f.cpuRoot = root
		}
		if slices.Contains(list, "cpuset") {
			f.cpusetRoot = root
		}
	} else {
		for _, d := range []string{"cpu", "cpu,cpuacct"} {
			if _, err := os.Stat(filepath.Join(root, d, "cpu.shares")); err == nil {
				f.cpuRoot = filepath.Join(root, d)
				break
			}
		}
		if _, err := os.Stat(filepath.Join(root, "cpuset", "cpuset.cpus")); err == nil {
			f.cpusetRoot = filepath.Join(root, "cpuset")
		}
	}
	if f.cpuRoot == "" && f.cpusetRoot == "" {
		f.err = fmt.Errorf("cgroup: no cpu or cpuset controller under %s: %w", root, ErrUnavailable)
	}
	return f
}

// roots returns the controller mounts in use, cpu first, without repeats.
func (f *cgroupFamily) roots() []string {
	var r []string
	for _, d := range []string{f.cpuRoot, f.cpusetRoot} {
		if d != "" && !slices.Contains(r, d) {
			r = append(r, d)
		}
	}
	return r
}

// dir returns a group's directory below a controller mount; group "" is
// the hierarchy's base.
func (f *cgroupFamily) dir(root, group string) string {
	return filepath.Join(root, f.cfg.CgroupName, group)
}

func (f *cgroupFamily) isGroup(g string) bool {
	return slices.Contains(f.cfg.CgroupGroups, g)
}

func (f *cgroupFamily) inventory() []*gamesav1.Knob {
	if f.err != nil {
		return nil
	}
	var out []*gamesav1.Knob
	for _, g := range f.cfg.CgroupGroups {
		for _, knob := range []string{KnobCgroupWeight, KnobCgroupQuota, KnobCgroupCpuset} {
			a, err := f.open(knob, g, openOpts{})
			if err != nil {
				continue
			}
			ga := a.(*groupKnob)
			v, err := ga.read()
			if err != nil {
				continue
			}
			k := &gamesav1.Knob{Name: knob, Target: g, Value: v, Unit: unitOf(knob), Writable: ga.writable()}
			switch knob {
			case KnobCgroupWeight:
				k.Min, k.Max = strconv.Itoa(cgWeightMin), strconv.Itoa(cgWeightMax)
			case KnobCgroupCpuset:
				if p, err := ga.parentCPUs(); err == nil {
					k.Choices = []string{cpulist.Format(p)}
				}
			}
			out = append(out, k)
		}
	}
	return out
}

func (f *cgroupFamily) expand(knob, target string) ([]string, error) {
	return []string{target}, nil
}

func (f *cgroupFamily) open(knob, target string, o openOpts) (accessor, error) {
	if f.err != nil {
		return nil, fmt.Errorf("%s %s: %w", knob, target, f.err)
	}
	switch knob {
	case KnobCgroupMember:
		p, err := openProcess(f.cfg, knob, target, o)
		if err != nil {
			return nil, err
		}
		return &memberKnob{f: f, p: p}, nil
	case knobHierarchy:
		if target != "" && !f.isGroup(target) {
			return nil, fmt.Errorf("%s: %q is not a configured group: %w", knob, target, ErrBadTarget)
		}
		return &hierarchyKnob{f: f, group: target}, nil
	case KnobCgroupWeight, KnobCgroupQuota, KnobCgroupCpuset:
		if !f.isGroup(target) {
			return nil, fmt.Errorf("%s: target %q is not one of the groups %v: %w", knob, target, f.cfg.CgroupGroups, ErrBadTarget)
		}
		root := f.cpuRoot
		if knob == KnobCgroupCpuset {
			root = f.cpusetRoot
		}
		if root == "" {
			return nil, fmt.Errorf("%s: controller not mounted: %w", knob, ErrUnavailable)
		}
		return &groupKnob{f: f, knob: knob, group: target, root: root}, nil
	}
	return nil, fmt.Errorf("%q: %w", knob, ErrUnknownKnob)
}

// exists reports whether a group (or the base, "") exists under every
// controller in use.
func (f *cgroupFamily) exists(group string) bool {
	for _, r := range f.roots() {
		if fi, err := os.Stat(f.dir(r, group)); err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

// needs returns the hierarchy changes a knob of group needs first.
func (f *cgroupFamily) needs(group string) []prereq {
	var p []prereq
	if !f.exists("") {
		p = append(p, prereq{knobHierarchy, "", "present"})
	}
	if !f.exists(group) {
		p = append(p, prereq{knobHierarchy, group, "present"})
	}
	return p
}

// groupKnob is a group's cpu weight, quota or cpuset.
type groupKnob struct {
	f     *cgroupFamily
	knob  string
	group string
	root  string
}

func (k *groupKnob) path(v2, v1 string) string {
	if k.f.v2 {
		return filepath.Join(k.f.dir(k.root, k.group), v2)
	}
	return filepath.Join(k.f.dir(k.root, k.group), v1)
}

func (k *groupKnob) writable() bool {
	if !k.f.exists(k.group) {
		// Created on first use, in a parent this agent must be able to
		// write.
		return canWrite(k.root)
	}
	switch k.knob {
	case KnobCgroupWeight:
		return attrWritable(k.path("cpu.weight", "cpu.shares"))
	case KnobCgroupQuota:
		return attrWritable(k.path("cpu.max", "cpu.cfs_quota_us"))
	}
	return attrWritable(k.path("cpuset.cpus", "cpuset.cpus"))
}

func (k *groupKnob) prerequisites(string) []prereq { return k.f.needs(k.group) }

// read returns the group's value; a group that does not exist yet reads
// as what a new one starts with.
func (k *groupKnob) read() (string, error) {
	if !k.f.exists(k.group) {
		switch k.knob {
		case KnobCgroupWeight:
			return strconv.Itoa(cgWeightDefault), nil
		case KnobCgroupQuota:
			return "max " + strconv.Itoa(cgPeriodDefault), nil
		}
		p, err := k.parentCPUs()
		if err != nil {
			return "", err
		}
		return cpulist.Format(p), nil
	}
	switch k.knob {
	case KnobCgroupWeight:
		if k.f.v2 {
			return k.readAttr("cpu.weight")
		}
		s, err := k.readAttr("cpu.shares")
		if err != nil {
			return "", err
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return "", fmt.Errorf("%s %s: cpu.shares %q: %w", k.knob, k.group, s, err)
		}
		return strconv.FormatInt(sharesToWeight(n), 10), nil
	case KnobCgroupQuota:
		if k.f.v2 {
			return k.readAttr("cpu.max")
		}
		q, err := k.readAttr("cpu.cfs_quota_us")
		if err != nil {
			return "", err
		}
		p, err := k.readAttr("cpu.cfs_period_us")
		if err != nil {
			return "", err
		}
		if q == "-1" {
			q = "max"
		}
		return q + " " + p, nil
	}
	s, err := k.readAttr("cpuset.cpus")
	if err != nil {
		return "", err
	}
	cpus, err := cpulist.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", k.knob, k.group, err)
	}
	return cpulist.Format(cpus), nil
}

func (k *groupKnob) readAttr(name string) (string, error) {
	s, err := readAttr(filepath.Join(k.f.dir(k.root, k.group), name))
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", k.knob, k.group, err)
	}
	return s, nil
}

func (k *groupKnob) writeAttr(name, v string) error {
	if err := writeAttr(filepath.Join(k.f.dir(k.root, k.group), name), v); err != nil {
		return fmt.Errorf("%s %s: %w", k.knob, k.group, err)
	}
	return nil
}

// parentCPUs returns the CPUs the group may use: its parent's effective
// set (the base's, or the mount's when the base does not exist yet).
func (k *groupKnob) parentCPUs() ([]int, error) {
	parent := k.f.dir(k.root, "")
	if !k.f.exists("") {
		parent = k.root
	}
	for _, name := range []string{"cpuset.cpus.effective", "cpuset.effective_cpus", "cpuset.cpus"} {
		s, err := readAttr(filepath.Join(parent, name))
		if err != nil {
			continue
		}
		return cpulist.Parse(s)
	}
	return nil, fmt.Errorf("%s %s: no cpuset in %s: %w", k.knob, k.group, parent, ErrUnavailable)
}

func (k *groupKnob) check(v string) (string, string, error) {
	v = strings.TrimSpace(v)
	switch k.knob {
	case KnobCgroupWeight:
		n, err := parseIntIn(v)
		if err != nil {
			return "", "", fmt.Errorf("%s %s: %w", k.knob, k.group, err)
		}
		n, note := clamp(n, cgWeightMin, cgWeightMax)
		return strconv.FormatInt(n, 10), note, nil
	case KnobCgroupQuota:
		q, p, err := parseQuota(v)
		if err != nil {
			return "", "", fmt.Errorf("%s %s: %w", k.knob, k.group, err)
		}
		return formatQuota(q, p), "", nil
	}
	cpus, err := cpulist.Parse(v)
	if err != nil || len(cpus) == 0 {
		return "", "", fmt.Errorf("%s %s: %q: want a cpu list: %w", k.knob, k.group, v, ErrBadValue)
	}
	parent, err := k.parentCPUs()
	if err != nil {
		return "", "", err
	}
	if !subset(cpus, parent) {
		return "", "", fmt.Errorf("%s %s: cpus %s outside the parent's %s: %w", k.knob, k.group, cpulist.Format(cpus), cpulist.Format(parent), ErrOutOfBounds)
	}
	return cpulist.Format(cpus), "", nil
}

func (k *groupKnob) write(v string) error {
	switch k.knob {
	case KnobCgroupWeight:
		if k.f.v2 {
			return k.writeAttr("cpu.weight", v)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%s %s: %q: %w", k.knob, k.group, v, ErrBadValue)
		}
		return k.writeAttr("cpu.shares", strconv.FormatInt(weightToShares(n), 10))
	case KnobCgroupQuota:
		q, p, err := parseQuota(v)
		if err != nil {
			return fmt.Errorf("%s %s: %w", k.knob, k.group, err)
		}
		if k.f.v2 {
			return k.writeAttr("cpu.max", formatQuota(q, p))
		}
		// v1 checks the quota against the current period, so lift the
		// quota first, then set the period, then the quota.
		if err := k.writeAttr("cpu.cfs_quota_us", "-1"); err != nil {
			return err
		}
		if err := k.writeAttr("cpu.cfs_period_us", strconv.FormatInt(p, 10)); err != nil {
			return err
		}
		return k.writeAttr("cpu.cfs_quota_us", strconv.FormatInt(q, 10))
	}
	return k.writeAttr("cpuset.cpus", v)
}

// parseQuota parses "max", "max <period>", "<quota>" or "<quota> <period>"
// in µs; quota -1 stands for max.
func parseQuota(v string) (quota, period int64, err error) {
	f := strings.Fields(v)
	if len(f) == 0 || len(f) > 2 {
		return 0, 0, fmt.Errorf("quota %q: want \"max\" or \"<quota_us> [<period_us>]\": %w", v, ErrBadValue)
	}
	period = cgPeriodDefault
	if len(f) == 2 {
		if period, err = strconv.ParseInt(f[1], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("quota %q: period: %w", v, ErrBadValue)
		}
	}
	if period < cgPeriodMin || period > cgPeriodMax {
		return 0, 0, fmt.Errorf("quota %q: period %d µs outside [%d, %d]: %w", v, period, cgPeriodMin, cgPeriodMax, ErrOutOfBounds)
	}
	if f[0] == "max" || f[0] == "-1" {
		return -1, period, nil
	}
	if quota, err = strconv.ParseInt(f[0], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("quota %q: %w", v, ErrBadValue)
	}
	if quota < cgQuotaMin || quota > 1<<40 {
		return 0, 0, fmt.Errorf("quota %q: %d µs below the %d µs minimum or absurdly large: %w", v, quota, cgQuotaMin, ErrOutOfBounds)
	}
	return quota, period, nil
}

func formatQuota(q, p int64) string {
	if q < 0 {
		return "max " + strconv.FormatInt(p, 10)
	}
	return strconv.FormatInt(q, 10) + " " + strconv.FormatInt(p, 10)
}

// weightToShares and sharesToWeight convert between v2's cpu.weight
// (default 100) and v1's cpu.shares (default 1024), rounding to nearest so
// that a weight survives the round trip.
func weightToShares(w int64) int64 {
	s := (w*cgSharesDefault + cgWeightDefault/2) / cgWeightDefault
	return min(max(s, cgSharesMin), cgSharesMax)
}

func sharesToWeight(s int64) int64 {
	w := (s*cgWeightDefault + cgSharesDefault/2) / cgSharesDefault
	return min(max(w, cgWeightMin), cgWeightMax)
}

// hierarchyKnob is the existence of the base ("") or a group's directory:
// "present" or "absent". Only the journal and Set's prerequisites use it.
type hierarchyKnob struct {
	f     *cgroupFamily
	group string
}

func (k *hierarchyKnob) read() (string, error) {
	if k.f.exists(k.group) {
		return "present", nil
	}
	return "absent", nil
}

func (k *hierarchyKnob) check(v string) (string, string, error) {
	c, err := choose(v, []string{"present", "absent"})
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", knobHierarchy, err)
	}
	return c, "", nil
}

func (k *hierarchyKnob) write(v string) error {
	var err error
	if v == "present" {
		err = k.create()
	} else {
		err = k.remove()
	}
	if err != nil {
		return fmt.Errorf("cgroup %s/%s: %w", k.f.cfg.CgroupName, k.group, err)
	}
	return nil
}

// create makes the directory under every controller in use. On v1 a new
// cpuset starts empty and admits no task, so it gets its parent's CPUs and
// memory nodes; on v2 the base hands the controllers down to its groups.
func (k *hierarchyKnob) create() error {
	for _, r := range k.f.roots() {
		d := k.f.dir(r, k.group)
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if !k.f.v2 && r == k.f.cpusetRoot {
			parent := filepath.Dir(d)
			for _, name := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := readAttr(filepath.Join(parent, name))
				if err != nil {
					return err
				}
				if err := writeAttr(filepath.Join(d, name), v); err != nil {
					return err
				}
			}
		}
	}
	if k.f.v2 && k.group == "" {
		var ctrl []string
		if k.f.cpuRoot != "" {
			ctrl = append(ctrl, "+cpu")
		}
		if k.f.cpusetRoot != "" {
			ctrl = append(ctrl, "+cpuset")
		}
		if err := writeAttr(filepath.Join(k.f.dir(k.f.cfg.CgroupRoot, ""), "cgroup.subtree_control"), strings.Join(ctrl, " ")); err != nil {
			return err
		}
	}
	return nil
}

// remove moves any process still in the directory to the mount's root
// (the cgroup that holds the GAMESA hierarchy), since a process started
// inside a group after the change has no original of its own, then removes
// the directory.
func (k *hierarchyKnob) remove() error {
	for _, r := range k.f.roots() {
		d := k.f.dir(r, k.group)
		if _, err := os.Stat(d); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := evacuate(d, r); err != nil {
			return err
		}
		if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// evacuate moves every process of cgroup dir into cgroup to. Forks can
// race with it, so it tries a few rounds.
func evacuate(dir, to string) error {
	for range 5 {
		s, err := readAttr(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			return err
		}
		pids := strings.Fields(s)
		if len(pids) == 0 {
			return nil
		}
		for _, p := range pids {
			if err := writeAttr(filepath.Join(to, "cgroup.procs"), p); err != nil && !errors.Is(err, syscall.ESRCH) {
				return err
			}
		}
	}
	return fmt.Errorf("%s: processes keep arriving: %w", dir, syscall.EBUSY)
}

// memberKnob is which cgroup a process is in. Its value is a group name
// when the process is in that GAMESA group (under every controller in use),
// and otherwise the process's cgroup paths: "/user.slice/..." on v2,
// "cpu:/a;cpuset:/b" on v1. Writing either moves the whole process.
type memberKnob struct {
	f *cgroupFamily
	p procInfo
}

func (k *memberKnob) identity() (int, uint64) { return k.p.pid, k.p.start }

func (k *memberKnob) prerequisites(v string) []prereq {
	if k.f.isGroup(v) {
		return k.f.needs(v)
	}
	return nil
}

// paths returns the process's cgroup path per controller mount in use.
func (k *memberKnob) paths() (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(k.f.cfg.Proc, strconv.Itoa(k.p.pid), "cgroup"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			return nil, fmt.Errorf("%s pid:%d: %w", KnobCgroupMember, k.p.pid, ErrGone)
		}
		return nil, fmt.Errorf("%s pid:%d: %w", KnobCgroupMember, k.p.pid, err)
	}
	m := map[string]string{}
	for line := range strings.Lines(string(b)) {
		// hierarchy-ID:controller-list:path
		_, rest, _ := strings.Cut(strings.TrimSpace(line), ":")
		ctrls, path, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		if k.f.v2 {
			if ctrls == "" {
				m["cpu"], m["cpuset"] = path, path
			}
			continue
		}
		for c := range strings.SplitSeq(ctrls, ",") {
			if c == "cpu" || c == "cpuset" {
				m[c] = path
			}
		}
	}
	return m, nil
}

func (k *memberKnob) read() (string, error) {
	m, err := k.paths()
	if err != nil {
		return "", err
	}
	if k.f.v2 {
		p := m["cpu"]
		if g, ok := strings.CutPrefix(p, "/"+k.f.cfg.CgroupName+"/"); ok && k.f.isGroup(g) {
			return g, nil
		}
		return p, nil
	}
	var parts []string
	group := ""
	same := true
	for _, c := range []string{"cpu", "cpuset"} {
		if k.root(c) == "" {
			continue
		}
		p := m[c]
		parts = append(parts, c+":"+p)
		g, ok := strings.CutPrefix(p, "/"+k.f.cfg.CgroupName+"/")
		if !ok || !k.f.isGroup(g) || (group != "" && g != group) {
			same = false
		}
		group = g
	}
	if same && group != "" {
		return group, nil
	}
	return strings.Join(parts, ";"), nil
}

// root returns a v1 controller's mount.
func (k *memberKnob) root(ctrl string) string {
	if ctrl == "cpu" {
		return k.f.cpuRoot
	}
	return k.f.cpusetRoot
}

func (k *memberKnob) check(v string) (string, string, error) {
	v = strings.TrimSpace(v)
	if !k.f.isGroup(v) {
		return "", "", fmt.Errorf("%s pid:%d: %q is not one of the groups %v: %w", KnobCgroupMember, k.p.pid, v, k.f.cfg.CgroupGroups, ErrBadValue)
	}
	return v, "", nil
}

func (k *memberKnob) write(v string) error {
	pid := strconv.Itoa(k.p.pid)
	move := func(root, rel string) error {
		// rel comes from the journal or /proc: keep it inside root.
		dir := filepath.Join(root, filepath.Clean("/"+rel))
		if err := writeAttr(filepath.Join(dir, "cgroup.procs"), pid); err != nil {
			if errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("%s pid:%d: %w", KnobCgroupMember, k.p.pid, ErrGone)
			}
			return fmt.Errorf("%s pid:%d: %w", KnobCgroupMember, k.p.pid, err)
		}
		return nil
	}
	if k.f.isGroup(v) {
		for _, r := range k.f.roots() {
			if err := move(r, k.f.cfg.CgroupName+"/"+v); err != nil {
				return err
			}
		}
		return nil
	}
	if k.f.v2 {
		return move(k.f.cfg.CgroupRoot, v)
	}
	for part := range strings.SplitSeq(v, ";") {
		c, p, ok := strings.Cut(part, ":")
		if !ok || k.root(c) == "" {
			return fmt.Errorf("%s pid:%d: %q: %w", KnobCgroupMember, k.p.pid, v, ErrBadValue)
		}
		if err := move(k.root(c), p); err != nil {
			return err
		}
	}
	return nil
}
