package conv

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/krystalstack/gamesa/optimizer/neural"
)

// streamShapes are nets a Stream must reproduce: the workload
// classifier's, filters in fours and not, max and average pooling of
// sizes 2 and 3, and a pool whose remainder is dropped.
var streamShapes = []struct {
	t, in  int
	blocks []Block
	out    int
}{
	{60, 8, []Block{{8, 5, Pool{MaxPool, 2}}, {16, 5, Pool{MaxPool, 2}}, {32, 3, Pool{}}}, 5},
	{12, 3, []Block{{5, 3, Pool{}}}, 2},
	{20, 2, []Block{{4, 3, Pool{AvgPool, 3}}, {3, 2, Pool{}}}, 3},
	{31, 4, []Block{{6, 4, Pool{MaxPool, 3}}, {8, 2, Pool{AvgPool, 2}}, {7, 2, Pool{}}}, 4},
}

func newTestNet(t *testing.T, i, tw, in int, blocks []Block, out int) (*Net, *neural.Init) {
	t.Helper()
	init := neural.NewInit(uint64(40 + i))
	n, err := NewNet("s", tw, in, blocks, out, init)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range n.Params() {
		init.Uniform(p.W, 0.5) // biases too: zero ones would hide a bias added twice or not at all
	}
	return n, init
}

// sameBits reports whether a and b hold the same float32s bit for bit.
func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// TestStreamMatchesForward slides a window over random rows and checks
// every step's Stream.Forward against Net.Forward over the same window,
// bit for bit, including after skipped steps and after the weights change.
func TestStreamMatchesForward(t *testing.T) {
	for i, sh := range streamShapes {
		t.Run(fmt.Sprintf("%d×%d", sh.t, sh.in), func(t *testing.T) {
			n, init := newTestNet(t, i, sh.t, sh.in, sh.blocks, sh.out)
			s, err := NewStream(n)
			if err != nil {
				t.Fatal(err)
			}
			var rows [][]float32
			for step := range 4 * sh.t {
				row := randVec(init, sh.in)
				rows = append(rows, row)
				s.Push(row)
				if step == 2*sh.t {
					// The weights change: the stream must drop its rows.
					for _, p := range n.Params() {
						p.W[0] += 0.25
					}
					s.Invalidate()
				}
				got, ok := s.Forward()
				if ok != (len(rows) >= sh.t) {
					t.Fatalf("step %d: Forward ok = %v with %d rows pushed", step, ok, len(rows))
				}
				if !ok || step%7 == 3 {
					continue // and a skipped step now and then: the stream catches up
				}
				var x []float32
				for _, r := range rows[len(rows)-sh.t:] {
					x = append(x, r...)
				}
				if want := n.Forward(x); !sameBits(got, want) {
					t.Fatalf("step %d: Stream.Forward = %v; Net.Forward = %v", step, got, want)
				}
			}
		})
	}
}

func TestNewStreamRefusesOddPairs(t *testing.T) {
	// Four filters over nine output steps: Forward sums the last row in
	// another order than the others.
	n, err := NewNet("odd", 10, 2, []Block{{4, 2, Pool{}}}, 1, neural.NewInit(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewStream(n); !errors.Is(err, ErrNotStreamable) {
		t.Errorf("NewStream over %d output steps of 4 filters: error %v; want ErrNotStreamable", n.lens[1], err)
	}
}

func TestStreamAllocatesNothing(t *testing.T) {
	sh := streamShapes[0]
	n, init := newTestNet(t, 0, sh.t, sh.in, sh.blocks, sh.out)
	s, err := NewStream(n)
	if err != nil {
		t.Fatal(err)
	}
	row := randVec(init, sh.in)
	for range sh.t {
		s.Push(row)
	}
	if a := testing.AllocsPerRun(100, func() {
		s.Push(row)
		s.Forward()
	}); a != 0 {
		t.Errorf("Push and Forward allocate %v times a step; want 0", a)
	}
}

// BenchmarkStreamStep is one step of the workload classifier's shape,
// streamed: BenchmarkNetForward is the whole window's pass.
func BenchmarkStreamStep(b *testing.B) {
	in := neural.NewInit(1)
	n, err := NewNet("bench", 60, 8, streamShapes[0].blocks, 5, in)
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewStream(n)
	if err != nil {
		b.Fatal(err)
	}
	row := randVec(in, 8)
	for range 60 {
		s.Push(row)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Push(row)
		s.Forward()
	}
}
