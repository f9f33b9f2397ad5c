package conv

import (
	"errors"
	"fmt"
)

// ErrNotStreamable reports a Net whose arithmetic depends on where a row
// sits in the window, which a Stream cannot reproduce: a convolution with
// filters in fours (computed two steps at a time) and an odd number of
// output steps, whose last row Forward sums in another order.
var ErrNotStreamable = errors.New("conv: the net cannot be streamed")

// Stream runs a Net over a window that slides one step at a time, as a
// sample stream feeds it: Push adds the newest input row (the oldest
// leaves the window) and Forward returns what Net.Forward returns for the
// last T rows, bit for bit, computing only the rows the slide made new.
//
// It can because each stage is shift-invariant. Indexed by the absolute
// step of its first input row, a convolution's output row depends only on
// the K input rows it covers, and a pooling's on its Size rows, wherever
// the window starts: a row computed for one window is the same row in the
// next. A pooling (stride Size) reads every Size-th row of the stage before
// it, so the stages after it read rows of every alignment in turn; each
// stage keeps the rows of the current window, of all alignments, in a ring
// keyed by absolute step. A row not in its ring is computed from the stage
// before (recursively down to the input rows), so a new stream, one that
// skipped Forward for a while and one whose rows were invalidated all catch
// up by themselves; a steady stream computes one row per stage per step.
//
// A Stream reads its Net's weights when it computes a row: after they
// change (a training step, a load), call Invalidate. It has buffers of its
// own, so it leaves the Net's (which Backward reads) alone, and it is not
// safe for concurrent use.
type Stream struct {
	net    *Net
	t      int       // the window, in steps
	next   int64     // the absolute step of the next Push
	input  []float32 // ring of t input rows
	stages []stage
	// The last stage's rows of the window are every outDil-th, outLen of
	// them, gathered for the global average.
	outDil, outLen      int
	gather, pooled, out []float32
}

// stage is one convolution or pooling of a Stream, with its rows.
type stage struct {
	conv *Conv1D // nil for a pooling
	pool Pool
	span int       // input rows a row reads: K or Size
	dil  int       // steps between them
	in   int       // channels in
	ch   int       // channels out
	rows []float32 // ring: slot i holds the row of absolute step tag[i]
	tag  []int64   // -1: none
	win  []float32 // the span input rows, gathered
}

// NewStream returns a Stream over n, empty: Forward answers once T rows
// have been pushed. It returns an error wrapping ErrNotStreamable for a
// Net whose Forward sums some rows in another order than others.
func NewStream(n *Net) (*Stream, error) {
	s := &Stream{net: n, t: n.T, input: make([]float32, n.T*n.In)}
	dil, ch, k := 1, n.In, 0
	for i, c := range n.Convs {
		if tout := n.lens[k+1]; c.Out%4 == 0 && tout%2 == 1 {
			return nil, fmt.Errorf("%w: convolution %d has %d filters over %d output steps", ErrNotStreamable, i, c.Out, tout)
		}
		s.stages = append(s.stages, newStage(c, Pool{}, c.K, dil, ch, c.Out, n.T))
		ch = c.Out
		k++
		if p := n.Pools[i]; p.Size > 1 {
			s.stages = append(s.stages, newStage(nil, p, p.Size, dil, ch, ch, n.T))
			dil *= p.Size
			k++
		}
	}
	s.outDil, s.outLen = dil, n.lens[k]
	s.gather = make([]float32, s.outLen*ch)
	s.pooled = make([]float32, ch)
	s.out = make([]float32, n.Out())
	return s, nil
}

func newStage(c *Conv1D, p Pool, span, dil, in, ch, t int) stage {
	st := stage{conv: c, pool: p, span: span, dil: dil, in: in, ch: ch,
		rows: make([]float32, t*ch), tag: make([]int64, t), win: make([]float32, span*in)}
	for i := range st.tag {
		st.tag[i] = -1
	}
	return st
}

// Push adds the newest input row (In values); the oldest leaves the
// window.
func (s *Stream) Push(row []float32) {
	in := s.net.In
	slot := int(s.next % int64(s.t))
	copy(s.input[slot*in:(slot+1)*in], row[:in])
	s.next++
}

// Invalidate forgets every row computed from the weights, keeping the
// input rows: the next Forward computes the window afresh.
func (s *Stream) Invalidate() {
	for i := range s.stages {
		for j := range s.stages[i].tag {
			s.stages[i].tag[j] = -1
		}
	}
}

// Forward returns the Net's outputs for the last T rows pushed, as
// Net.Forward would compute them, in a slice owned by the Stream that the
// next Forward overwrites; ok is false until T rows have been pushed. It
// allocates nothing.
func (s *Stream) Forward() (out []float32, ok bool) {
	if s.next < int64(s.t) {
		return nil, false
	}
	start := s.next - int64(s.t)
	last := len(s.stages) - 1
	ch := s.stages[last].ch
	for j := range s.outLen {
		copy(s.gather[j*ch:(j+1)*ch], s.row(last, start+int64(j*s.outDil)))
	}
	s.net.Global.Forward(s.pooled, s.gather, s.outLen, ch)
	s.net.Head.Forward(s.out, s.pooled)
	return s.out, true
}

// row returns stage k's row whose first input is at absolute step u (k
// -1 is the input), computing it when its ring does not hold it. Every row
// a window needs lies within the window's T steps, so no two of them
// share a slot.
func (s *Stream) row(k int, u int64) []float32 {
	slot := int(u % int64(s.t))
	if k < 0 {
		in := s.net.In
		return s.input[slot*in : (slot+1)*in]
	}
	st := &s.stages[k]
	r := st.rows[slot*st.ch : (slot+1)*st.ch]
	if st.tag[slot] == u {
		return r
	}
	for j := range st.span {
		copy(st.win[j*st.in:(j+1)*st.in], s.row(k-1, u+int64(j*st.dil)))
	}
	if st.conv != nil {
		st.conv.forwardRow(r, st.win)
	} else {
		st.pool.Forward(r, st.win, st.span, st.ch)
	}
	st.tag[slot] = u
	return r
}
