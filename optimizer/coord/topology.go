package coord

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/krystalstack/gamesa/internal/cpulist"
)

// CPU is one logical CPU's place in the machine.
type CPU struct {
	ID int
	// Core is topology/core_id: unique within a package, not across them.
	Core    int
	Package int
	// Siblings are the logical CPUs of this CPU's physical core, itself
	// included (topology/core_cpus_list, or thread_siblings_list on
	// kernels before 5.7): two with SMT, one without.
	Siblings []int
	// L3 are the CPUs that share this CPU's level-3 cache
	// (cache/index*/shared_cpu_list where level is 3); nil when the
	// machine does not say, as many VMs do not.
	L3 []int
	// Capacity ranks CPUs by speed: cpu_capacity where the kernel exports
	// it (out of 1024), else cpufreq/cpuinfo_max_freq in kHz; 0 when
	// neither exists. Only comparisons between CPUs of one machine mean
	// anything. On a hybrid Intel part it tells P-cores from E-cores.
	Capacity int64
}

// Topology is the machine's CPUs, sorted by ID. The zero Topology has no
// CPUs; the coordinator then plans priorities only.
type Topology struct {
	CPUs []CPU
}

// FlatTopology is n logical CPUs, each its own core, sharing one cache:
// what the coordinator assumes when the caller has no topology files.
func FlatTopology(n int) Topology {
	t := Topology{CPUs: make([]CPU, n)}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	for i := range t.CPUs {
		t.CPUs[i] = CPU{ID: i, Core: i, Siblings: []int{i}, L3: all}
	}
	return t
}

// ParseTopology reads the topology from fsys, a tree laid out as
// /sys/devices/system/cpu: the caller passes os.DirFS of that directory
// (below its configured sysfs root), or a fixture tree. It reads "online"
// (or lists the cpuN directories where that file is missing), and for
// each online CPU its topology/, cache/index*/ and cpu_capacity or
// cpufreq/cpuinfo_max_freq files. Missing topology files default to a
// core of its own in package 0; missing cache and frequency files leave
// L3 nil and Capacity 0.
func ParseTopology(fsys fs.FS) (Topology, error) {
	ids, err := onlineCPUs(fsys)
	if err != nil {
		return Topology{}, err
	}
	if len(ids) == 0 {
		return Topology{}, fmt.Errorf("%w: no CPU listed", ErrTopology)
	}
	t := Topology{CPUs: make([]CPU, 0, len(ids))}
	for _, id := range ids {
		c, err := parseCPU1(fsys, id)
		if err != nil {
			return Topology{}, err
		}
		t.CPUs = append(t.CPUs, c)
	}
	return t, nil
}

func onlineCPUs(fsys fs.FS) ([]int, error) {
	b, err := fs.ReadFile(fsys, "online")
	if err == nil {
		ids, err := cpulist.Parse(string(b))
		if err != nil {
			return nil, fmt.Errorf("%w: online: %w", ErrTopology, err)
		}
		return ids, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %w", ErrTopology, err)
	}
	ents, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTopology, err)
	}
	var ids []int
	for _, e := range ents {
		n, ok := strings.CutPrefix(e.Name(), "cpu")
		if !ok || !e.IsDir() {
			continue
		}
		if id, err := cpulist.Number(n); err == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// readOptional returns a file's trimmed content, or "" when it is absent.
func readOptional(fsys fs.FS, name string) (string, error) {
	b, err := fs.ReadFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrTopology, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func readInt(fsys fs.FS, name string, def int64) (int64, error) {
	s, err := readOptional(fsys, name)
	if err != nil || s == "" {
		return def, err
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %q is not a number", ErrTopology, name, s)
	}
	return v, nil
}

func readList(fsys fs.FS, name string) ([]int, error) {
	s, err := readOptional(fsys, name)
	if err != nil || s == "" {
		return nil, err
	}
	l, err := cpulist.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrTopology, name, err)
	}
	return l, nil
}

func parseCPU1(fsys fs.FS, id int) (CPU, error) {
	dir := "cpu" + strconv.Itoa(id)
	c := CPU{ID: id}
	core, err := readInt(fsys, path.Join(dir, "topology/core_id"), int64(id))
	if err != nil {
		return c, err
	}
	pkg, err := readInt(fsys, path.Join(dir, "topology/physical_package_id"), 0)
	if err != nil {
		return c, err
	}
	// A VM may report -1 for the package.
	c.Core, c.Package = int(core), max(int(pkg), 0)
	if c.Siblings, err = readList(fsys, path.Join(dir, "topology/core_cpus_list")); err != nil {
		return c, err
	}
	if c.Siblings == nil {
		if c.Siblings, err = readList(fsys, path.Join(dir, "topology/thread_siblings_list")); err != nil {
			return c, err
		}
	}
	if !slices.Contains(c.Siblings, id) {
		c.Siblings = append(c.Siblings, id)
		slices.Sort(c.Siblings)
	}
	caches, err := fs.ReadDir(fsys, path.Join(dir, "cache"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return c, fmt.Errorf("%w: %w", ErrTopology, err)
	}
	for _, e := range caches {
		if !strings.HasPrefix(e.Name(), "index") {
			continue
		}
		lvl, err := readOptional(fsys, path.Join(dir, "cache", e.Name(), "level"))
		if err != nil {
			return c, err
		}
		if lvl != "3" {
			continue
		}
		if c.L3, err = readList(fsys, path.Join(dir, "cache", e.Name(), "shared_cpu_list")); err != nil {
			return c, err
		}
	}
	if c.Capacity, err = readInt(fsys, path.Join(dir, "cpu_capacity"), 0); err != nil {
		return c, err
	}
	if c.Capacity == 0 {
		if c.Capacity, err = readInt(fsys, path.Join(dir, "cpufreq/cpuinfo_max_freq"), 0); err != nil {
			return c, err
		}
	}
	return c, nil
}

// Core is one physical core: its logical CPUs (SMT siblings) and where
// it sits.
type Core struct {
	CPUs    []int
	Package int
	// Cache identifies the core's last-level cache domain: the lowest CPU
	// sharing its L3, or, without L3 data, -1 minus the package.
	Cache    int
	Capacity int64
}

// Cores groups the topology's CPUs into physical cores, ordered by their
// lowest CPU. A CPU belongs to the core of its lowest online sibling, so
// siblings that are offline, or lists that disagree, never put one CPU in
// two cores.
func (t Topology) Cores() []Core {
	cpus := t.CPUs
	if !slices.IsSortedFunc(cpus, byID) {
		cpus = slices.SortedFunc(slices.Values(cpus), byID)
	}
	online := make(map[int]bool, len(cpus))
	for _, c := range cpus {
		online[c.ID] = true
	}
	at := make(map[int]int, len(cpus))
	var cores []Core
	for _, c := range cpus {
		key := c.ID
		for _, s := range c.Siblings {
			if s < key && online[s] {
				key = s
				break
			}
		}
		if i, ok := at[key]; ok {
			if !slices.Contains(cores[i].CPUs, c.ID) {
				cores[i].CPUs = append(cores[i].CPUs, c.ID)
			}
			cores[i].Capacity = max(cores[i].Capacity, c.Capacity)
			continue
		}
		cache := -1 - c.Package
		if len(c.L3) > 0 {
			cache = c.L3[0]
		}
		at[key] = len(cores)
		cores = append(cores, Core{CPUs: []int{c.ID}, Package: c.Package, Cache: cache, Capacity: c.Capacity})
	}
	return cores
}

func byID(a, b CPU) int { return cmp.Compare(a.ID, b.ID) }
