package coord_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/krystalstack/gamesa/optimizer/coord"
)

func loadTopology(t testing.TB, name string) coord.Topology {
	t.Helper()
	topo, err := coord.ParseTopology(os.DirFS(filepath.Join("testdata", "topology", name)))
	if err != nil {
		t.Fatalf("ParseTopology(%s) = %v", name, err)
	}
	return topo
}

func TestParseTopologyFixtures(t *testing.T) {
	cases := []struct {
		name         string
		cpus, cores  int
		caches       int
		firstCore    []int
		capacityLast int64
	}{
		{"vm-2cpu", 2, 2, 1, []int{0}, 0},
		{"desktop-8c16t", 16, 8, 1, []int{0, 8}, 4700000},
		{"ryzen-2ccx", 16, 8, 2, []int{0, 8}, 4426000},
		{"hybrid-12700k", 20, 12, 1, []int{0, 1}, 3800000},
	}
	for _, c := range cases {
		topo := loadTopology(t, c.name)
		if len(topo.CPUs) != c.cpus {
			t.Errorf("%s: %d CPUs; want %d", c.name, len(topo.CPUs), c.cpus)
		}
		cores := topo.Cores()
		if len(cores) != c.cores {
			t.Errorf("%s: %d cores; want %d", c.name, len(cores), c.cores)
			continue
		}
		if !slices.Equal(cores[0].CPUs, c.firstCore) {
			t.Errorf("%s: first core = %v; want %v", c.name, cores[0].CPUs, c.firstCore)
		}
		caches := map[int]bool{}
		for _, k := range cores {
			caches[k.Cache] = true
		}
		if len(caches) != c.caches {
			t.Errorf("%s: %d L3 domains; want %d", c.name, len(caches), c.caches)
		}
		if got := cores[len(cores)-1].Capacity; got != c.capacityLast {
			t.Errorf("%s: last core's capacity = %d; want %d", c.name, got, c.capacityLast)
		}
	}
}

func TestParseTopologyWithoutOnlineFile(t *testing.T) {
	fsys := fstest.MapFS{
		"cpu0/topology/core_id":              {Data: []byte("0\n")},
		"cpu1/topology/core_id":              {Data: []byte("0\n")},
		"cpu1/topology/thread_siblings_list": {Data: []byte("0-1\n")},
		"cpufreq/policy0/scaling_governor":   {Data: []byte("performance\n")},
		"cpuidle/current_driver":             {Data: []byte("none\n")},
	}
	topo, err := coord.ParseTopology(fsys)
	if err != nil {
		t.Fatalf("ParseTopology = %v", err)
	}
	if len(topo.CPUs) != 2 {
		t.Fatalf("%d CPUs; want 2", len(topo.CPUs))
	}
	// cpu0 lists no siblings but cpu1 names it: one core.
	if cores := topo.Cores(); len(cores) != 1 || !slices.Equal(cores[0].CPUs, []int{0, 1}) {
		t.Errorf("Cores() = %+v; want one core [0 1]", cores)
	}
}

func TestParseTopologyRejects(t *testing.T) {
	cases := map[string]fstest.MapFS{
		"no CPU":        {"online": {Data: []byte("\n")}},
		"bad online":    {"online": {Data: []byte("0-x\n")}},
		"bad core_id":   {"online": {Data: []byte("0\n")}, "cpu0/topology/core_id": {Data: []byte("zero\n")}},
		"bad L3 list":   {"online": {Data: []byte("0\n")}, "cpu0/cache/index3/level": {Data: []byte("3\n")}, "cpu0/cache/index3/shared_cpu_list": {Data: []byte("3-1\n")}},
		"bad sibling":   {"online": {Data: []byte("0\n")}, "cpu0/topology/core_cpus_list": {Data: []byte(",\n")}},
		"bad frequency": {"online": {Data: []byte("0\n")}, "cpu0/cpufreq/cpuinfo_max_freq": {Data: []byte("fast\n")}},
	}
	for name, fsys := range cases {
		if _, err := coord.ParseTopology(fsys); !errors.Is(err, coord.ErrTopology) {
			t.Errorf("ParseTopology(%s) = %v; want ErrTopology", name, err)
		}
	}
}
