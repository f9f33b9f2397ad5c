package alloc

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// The inputs of SplitBudget and Place come from outside the leader
// (gossip digests, configuration, gRPC job submissions), so the fuzz
// targets decode arbitrary bytes into them and check that the functions
// either refuse the input with a classed error or return a result that
// keeps their promises.

// byteReader hands out values from fuzz input; it yields zeros when the
// input runs out.
type byteReader struct{ b []byte }

func (r *byteReader) u8() byte {
	if len(r.b) == 0 {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *byteReader) u16() uint16 { return uint16(r.u8())<<8 | uint16(r.u8()) }

// f64 is mostly small watts, sometimes a raw float (NaN, Inf, huge).
func (r *byteReader) f64() float64 {
	if r.u8()%16 == 0 {
		var raw [8]byte
		for i := range raw {
			raw[i] = r.u8()
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(raw[:]))
	}
	return float64(r.u16()) / 64
}

func (r *byteReader) id(prefix string, n int) string {
	return prefix + string(rune('a'+int(r.u8())%n))
}

func (r *byteReader) labels(n int) map[string]string {
	if n == 0 {
		return nil
	}
	m := map[string]string{}
	for range n {
		m[r.id("k", 3)] = r.id("v", 3)
	}
	return m
}

func FuzzSplitBudget(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add([]byte{8, 0x40, 0, 1, 0x10, 0, 0x20, 0, 0x30, 0, 2, 1, 0, 0x05, 0, 0x50, 0, 0x08, 0, 3, 0})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &byteReader{b: data}
		in := BudgetInput{BudgetWatts: r.f64() * 16}
		for range int(r.u8() % 12) {
			in.Nodes = append(in.Nodes, NodeState{
				ID: r.id("n", 16), Alive: r.u8()%5 != 0, Priority: int(r.u8() % 5),
				FloorWatts: r.f64(), CeilingWatts: r.f64() * 4, DemandWatts: r.f64() * 4, CapWatts: r.f64(),
			})
		}
		s, err := SplitBudget(in, DefaultSplitConfig())
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) && !errors.Is(err, ErrInfeasible) {
				t.Fatalf("SplitBudget() error %v is in neither class", err)
			}
			return
		}
		var sum int64
		for _, c := range s.Caps {
			sum += c.MilliWatts
			if c.MilliWatts < 0 || c.Reason() == "" {
				t.Fatalf("cap %+v", c)
			}
		}
		if sum != s.TotalMilliWatts || sum > s.BudgetMilliWatts || s.Total() > in.BudgetWatts {
			t.Fatalf("caps sum to %d mW (%v W); budget %v W", sum, s.Total(), in.BudgetWatts)
		}
		for _, n := range in.Nodes {
			c, ok := s.Cap(n.ID)
			if !ok {
				t.Fatalf("no cap for %q", n.ID)
			}
			if n.Alive && (c.Watts() < n.FloorWatts || c.Watts() > math.Max(n.CeilingWatts, float64(ceilMW(n.FloorWatts))/1000)) {
				t.Fatalf("node %+v cap %v W outside its floor and ceiling", n, c.Watts())
			}
		}
	})
}

func FuzzPlace(f *testing.F) {
	f.Add([]byte{3, 1, 8, 16, 0, 1, 1, 0, 30, 4, 2, 1, 2, 0, 0, 1, 0, 0, 5})
	f.Add([]byte{5, 0, 4, 4, 1, 2, 1, 1, 1, 10, 3, 3, 1, 1, 1, 7, 2, 2, 2, 9, 9, 9})
	f.Add([]byte{2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &byteReader{b: data}
		p := DefaultPolicy()
		p.Strategy = Strategy(r.u8() % 2)
		p.Candidates = int(r.u8() % 4)
		p.MaxMovesPerRound = int(r.u8() % 4)
		var nodes []NodeState
		for range int(r.u8() % 8) {
			nodes = append(nodes, NodeState{
				ID: r.id("n", 10), Alive: r.u8()%4 != 0,
				Cores: int(r.u8() % 33), MemBytes: uint64(r.u8()) << 28, GPUs: int(r.u8() % 3),
				ThermalHeadroomC: r.f64() - 20, Load: float64(r.u8()%101) / 100,
				PowerWatts: r.f64(), CapWatts: r.f64(), CeilingWatts: r.f64() * 2,
				Labels: r.labels(int(r.u8() % 3)),
			})
		}
		var jobs []JobSpec
		for range int(r.u8() % 12) {
			jobs = append(jobs, JobSpec{
				ID: r.id("j", 20), Cores: int(r.u8()%17) - 1, MemBytes: uint64(r.u8()) << 26, GPUs: int(r.u8() % 2),
				Constraints: r.labels(int(r.u8() % 2)),
			})
		}
		var cur []Placement
		for range int(r.u8() % 8) {
			cur = append(cur, Placement{Job: r.id("j", 20), Node: r.id("n", 12), Since: t0.Add(-time.Duration(r.u8()) * time.Minute)})
		}
		plan, err := Place(nodes, jobs, cur, t0, p, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("Place() error %v; want ErrInvalidInput", err)
			}
			return
		}
		checkPlan(t, nodes, jobs, cur, t0, p, plan)
	})
}
