package gossip

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// stamped is a digest as a mesh publishes it.
func stamped(id string, seq uint64) *gamesav1.Digest {
	d := sampleDigest()
	d.NodeId, d.Seq, d.Epoch = id, seq, 1_700_000_000_000_000_000
	return d
}

func TestDigestRoundTrip(t *testing.T) {
	d := stamped("node-1", 42)
	buf, err := encodeDigest(d)
	if err != nil {
		t.Fatalf("encodeDigest: %v", err)
	}
	if buf[0] != wireVersion || buf[1] != kindDigest {
		t.Errorf("header = % x; want %02x %02x", buf[:2], wireVersion, kindDigest)
	}
	// The figure the issue asks for: "well under 1 KB".
	if len(buf) > 200 {
		t.Errorf("a typical digest encodes to %d bytes; want at most 200", len(buf))
	}
	got, err := decodeDigest(buf)
	if err != nil {
		t.Fatalf("decodeDigest: %v", err)
	}
	if !proto.Equal(got, d) {
		t.Errorf("decodeDigest(encodeDigest(d)) = %v; want %v", got, d)
	}
}

func TestDecodeDigestRejects(t *testing.T) {
	good, _ := encodeDigest(stamped("n", 1))
	body := good[headerLen:]
	withHeader := func(v, k byte, b []byte) []byte { return append([]byte{v, k}, b...) }
	enc := func(d *gamesav1.Digest) []byte {
		b, err := proto.Marshal(d)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		return withHeader(wireVersion, kindDigest, b)
	}
	mod := func(f func(d *gamesav1.Digest)) []byte {
		d := stamped("n", 1)
		f(d)
		return enc(d)
	}
	for _, tc := range []struct {
		name string
		buf  []byte
		want error
	}{
		{"nil", nil, ErrMalformed},
		{"one byte", []byte{wireVersion}, ErrMalformed},
		{"header only", []byte{wireVersion, kindDigest}, ErrMalformed}, // no node id
		{"version 0", withHeader(0, kindDigest, body), ErrMalformed},
		{"version 2", withHeader(2, kindDigest, body), ErrMalformed},
		{"state kind", withHeader(wireVersion, kindState, body), ErrMalformed},
		{"meta kind", withHeader(wireVersion, kindMeta, body), ErrMalformed},
		{"truncated", good[:len(good)-3], ErrMalformed},
		{"not protobuf", withHeader(wireVersion, kindDigest, []byte{0xff, 0xff, 0xff, 0xff}), ErrMalformed},
		{"bad utf-8 in a string", withHeader(wireVersion, kindDigest, []byte{0x0a, 0x02, 0xc3, 0x28}), ErrMalformed},
		{"no node id", mod(func(d *gamesav1.Digest) { d.NodeId = "" }), ErrMalformed},
		{"control character in node id", mod(func(d *gamesav1.Digest) { d.NodeId = "a\nb" }), ErrMalformed},
		{"long node id", mod(func(d *gamesav1.Digest) { d.NodeId = strings.Repeat("n", MaxNodeIDBytes+1) }), ErrMalformed},
		{"seq 0", mod(func(d *gamesav1.Digest) { d.Seq = 0 }), ErrMalformed},
		{"epoch 0", mod(func(d *gamesav1.Digest) { d.Epoch = 0 }), ErrMalformed},
		{"oversized", mod(func(d *gamesav1.Digest) { d.ModelVersion = strings.Repeat("m", MaxDigestBytes) }), ErrTooLarge},
	} {
		if d, err := decodeDigest(tc.buf); !errors.Is(err, tc.want) {
			t.Errorf("decodeDigest(%s) = %v, %v; want %v", tc.name, d, err, tc.want)
		}
	}
	// Fields this version does not know are skipped, so that a later
	// version can add some without a new wire version.
	unknownField := append(append([]byte{}, good...), 0xf8, 0x07, 0x01) // field 127, varint 1
	if _, err := decodeDigest(unknownField); err != nil {
		t.Errorf("decodeDigest(with an unknown field) = %v; want nil", err)
	}
}

func TestEncodeDigestLimit(t *testing.T) {
	d := stamped("n", 1)
	d.AppClass = ""
	base := proto.Size(d) + headerLen
	// AppClass is field 12: one tag byte, a length varint of 2 bytes at
	// these sizes, then the text.
	fits := MaxDigestBytes - base - 3
	for _, tc := range []struct {
		n    int
		want error
	}{
		{fits, nil},
		{fits + 1, ErrTooLarge},
	} {
		d.AppClass = strings.Repeat("a", tc.n)
		buf, err := encodeDigest(d)
		if !errors.Is(err, tc.want) {
			t.Fatalf("encodeDigest(%d-byte app class) = %d bytes, %v; want %v", tc.n, len(buf), err, tc.want)
		}
		if err == nil && len(buf) != MaxDigestBytes {
			t.Errorf("encodeDigest(%d-byte app class) = %d bytes; want exactly %d", tc.n, len(buf), MaxDigestBytes)
		}
	}
}

func TestStateRoundTripAndBound(t *testing.T) {
	ds := []*gamesav1.Digest{stamped("a", 1), stamped("b", 2), stamped("c", 3)}
	buf, err := encodeState(ds)
	if err != nil {
		t.Fatalf("encodeState: %v", err)
	}
	got, bad, err := decodeState(buf)
	if err != nil || bad != 0 || len(got) != 3 {
		t.Fatalf("decodeState = %d digests, %d bad, %v; want 3, 0, nil", len(got), bad, err)
	}
	for i := range ds {
		if !proto.Equal(got[i], ds[i]) {
			t.Errorf("digest %d = %v; want %v", i, got[i], ds[i])
		}
	}

	// More digests than fit: the first ones (the freshest, as LocalState
	// orders them) are kept, within MaxStateBytes.
	big := make([]*gamesav1.Digest, 0, 12000)
	for i := range cap(big) {
		big = append(big, stamped(fmt.Sprintf("node-%05d", i), uint64(i+1)))
	}
	buf, err = encodeState(big)
	if err != nil {
		t.Fatalf("encodeState(%d digests): %v", len(big), err)
	}
	if len(buf) > MaxStateBytes {
		t.Errorf("encodeState(%d digests) = %d bytes; want at most %d", len(big), len(buf), MaxStateBytes)
	}
	got, _, err = decodeState(buf)
	if err != nil {
		t.Fatalf("decodeState: %v", err)
	}
	if len(got) == 0 || len(got) == len(big) {
		t.Fatalf("kept %d of %d digests; want some, not all", len(got), len(big))
	}
	if next := proto.Size(big[len(got)]) + 3; len(buf)+next <= MaxStateBytes {
		t.Errorf("state of %d bytes left out a digest of %d that fit", len(buf), next)
	}
	for i, d := range got {
		if d.GetNodeId() != big[i].GetNodeId() {
			t.Fatalf("kept digest %d is %q; want %q (the first ones)", i, d.GetNodeId(), big[i].GetNodeId())
		}
	}
}

func TestDecodeStateRejects(t *testing.T) {
	mixed := &gamesav1.DigestState{Digests: []*gamesav1.Digest{
		stamped("ok", 1),
		{NodeId: "no-seq", Epoch: 1},
		stamped("", 1),
		func() *gamesav1.Digest {
			d := stamped("huge", 1)
			d.AppClass = strings.Repeat("x", MaxDigestBytes)
			return d
		}(),
	}}
	buf, err := frame(kindState, mixed)
	if err != nil {
		t.Fatalf("frame: %v", err)
	}
	ok, bad, err := decodeState(buf)
	if err != nil || bad != 3 || len(ok) != 1 || ok[0].GetNodeId() != "ok" {
		t.Errorf("decodeState(1 good, 3 bad) = %v, %d bad, %v; want [ok], 3, nil", ok, bad, err)
	}
	for _, tc := range []struct {
		name string
		buf  []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"digest kind", append([]byte{wireVersion, kindDigest}, buf[headerLen:]...), ErrMalformed},
		{"not protobuf", []byte{wireVersion, kindState, 0x0a, 0x7f}, ErrMalformed},
		{"oversized", make([]byte, MaxStateBytes+1), ErrTooLarge},
	} {
		if _, _, err := decodeState(tc.buf); !errors.Is(err, tc.want) {
			t.Errorf("decodeState(%s) = %v; want %v", tc.name, err, tc.want)
		}
	}
}

func TestMetaRoundTrip(t *testing.T) {
	m := Meta{ID: "n1", Role: RoleServer, GRPCAddr: "10.0.0.1:7070", RaftAddr: "10.0.0.1:7947", Version: "v1.2.3", BootstrapExpect: 3}
	for _, leaving := range []bool{false, true} {
		buf, err := encodeMeta(m, leaving)
		if err != nil {
			t.Fatalf("encodeMeta: %v", err)
		}
		got, gotLeaving, err := decodeMeta(buf)
		if err != nil || got != m || gotLeaving != leaving {
			t.Errorf("decodeMeta(encodeMeta(%+v, %v)) = %+v, %v, %v", m, leaving, got, gotLeaving, err)
		}
	}

	long := m
	long.Version = strings.Repeat("v", MaxMetaBytes)
	if _, err := encodeMeta(long, false); !errors.Is(err, ErrTooLarge) {
		t.Errorf("encodeMeta(%d-byte version) = %v; want ErrTooLarge", len(long.Version), err)
	}
	// Metadata that just fits still fits with the leaving flag set.
	edge := m
	for n := 0; ; n++ {
		edge.Version = strings.Repeat("v", n)
		if _, err := encodeMeta(edge, false); err != nil {
			edge.Version = strings.Repeat("v", n-1)
			break
		}
	}
	if buf, err := encodeMeta(edge, true); err != nil || len(buf) > MaxMetaBytes {
		t.Errorf("largest metadata with the flag: %d bytes, %v; want at most %d", len(buf), err, MaxMetaBytes)
	}
	if _, err := encodeMeta(Meta{ID: "n", BootstrapExpect: -1}, false); err == nil {
		t.Errorf("encodeMeta(BootstrapExpect -1) = nil; want an error")
	}
	for _, tc := range []struct {
		name string
		buf  []byte
	}{
		{"empty", nil},
		{"digest kind", []byte{wireVersion, kindDigest, 0x0a, 0x01, 'n'}},
		{"no id", []byte{wireVersion, kindMeta}},
		{"not protobuf", []byte{wireVersion, kindMeta, 0xff}},
	} {
		if _, _, err := decodeMeta(tc.buf); !errors.Is(err, ErrMalformed) {
			t.Errorf("decodeMeta(%s) = %v; want ErrMalformed", tc.name, err)
		}
	}
}

func TestNewer(t *testing.T) {
	d := func(epoch, seq uint64) *gamesav1.Digest { return &gamesav1.Digest{Epoch: epoch, Seq: seq} }
	for _, tc := range []struct {
		a, b *gamesav1.Digest
		want bool
	}{
		{d(1, 2), d(1, 1), true},
		{d(1, 1), d(1, 1), false},
		{d(1, 1), d(1, 2), false},
		{d(2, 1), d(1, 99), true},
		{d(1, 99), d(2, 1), false},
	} {
		if got := newer(tc.a, tc.b); got != tc.want {
			t.Errorf("newer((%d,%d), (%d,%d)) = %v; want %v",
				tc.a.Epoch, tc.a.Seq, tc.b.Epoch, tc.b.Seq, got, tc.want)
		}
	}
}

// FuzzDecodeDigest feeds arbitrary bytes to the decoder of gossiped digests
// and to a live mesh's receive path: neither may panic, and what decodes
// must survive a round trip and respect the limits.
func FuzzDecodeDigest(f *testing.F) {
	good, _ := encodeDigest(stamped("peer", 3))
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{wireVersion, kindDigest})
	f.Add([]byte{wireVersion, kindDigest, 0x0a, 0x01, 'x', 0x10, 0x01, 0x78, 0x01})
	f.Add(append([]byte{wireVersion, kindState}, good[headerLen:]...))
	f.Add(append([]byte{2, kindDigest}, good[headerLen:]...))
	ts, _ := proto.Marshal(timestamppb.New(time.Unix(1, 2)))
	f.Add(append([]byte{wireVersion, kindDigest, 0x1a, byte(len(ts))}, ts...))

	m := newMesh(f, testConfig(f, "fuzz"))
	dl := &delegate{m}
	f.Fuzz(func(t *testing.T, buf []byte) {
		d, err := decodeDigest(buf)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("decodeDigest error %v is neither ErrMalformed nor ErrTooLarge", err)
			}
		} else {
			if len(buf) > MaxDigestBytes || d.GetNodeId() == "" || d.GetSeq() == 0 {
				t.Fatalf("decodeDigest accepted %d bytes with node %q seq %d", len(buf), d.GetNodeId(), d.GetSeq())
			}
			again, err := encodeDigest(d)
			if err != nil {
				t.Fatalf("re-encoding a decoded digest: %v", err)
			}
			d2, err := decodeDigest(again)
			if err != nil || !proto.Equal(d, d2) {
				t.Fatalf("round trip: %v, %v; want %v", d2, err, d)
			}
		}
		before := m.Stats()
		dl.NotifyMsg(buf)
		after := m.Stats()
		dropped := func(s Stats) uint64 { return s.DroppedMalformed + s.DroppedOversized }
		if err != nil && dropped(after) != dropped(before)+1 {
			t.Fatalf("NotifyMsg of an undecodable message: dropped +%d; want +1", dropped(after)-dropped(before))
		}
		if err == nil && after.Received != before.Received+1 {
			t.Fatalf("NotifyMsg of a decodable digest: received +%d; want +1", after.Received-before.Received)
		}
	})
}

// FuzzDecodeState does the same for push-pull state.
func FuzzDecodeState(f *testing.F) {
	good, _ := encodeState([]*gamesav1.Digest{stamped("a", 1), stamped("b", 2)})
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{wireVersion, kindState, 0x0a, 0x00})
	f.Add([]byte{wireVersion, kindState, 0x0a, 0x02, 0x10, 0x01})

	m := newMesh(f, testConfig(f, "fuzz"))
	dl := &delegate{m}
	f.Fuzz(func(t *testing.T, buf []byte) {
		ds, bad, err := decodeState(buf)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("decodeState error %v is neither ErrMalformed nor ErrTooLarge", err)
			}
		}
		if bad < 0 {
			t.Fatalf("decodeState: %d bad", bad)
		}
		for _, d := range ds {
			if err := checkDigest(d); err != nil {
				t.Fatalf("decodeState kept a digest that fails checkDigest: %v", err)
			}
		}
		dl.MergeRemoteState(buf, false)
		if v := m.View(); len(v.Members) != 1 {
			t.Fatalf("a state from nobody added members: %+v", v.Members)
		}
	})
}

// FuzzDecodeMeta does the same for node metadata, which memberlist hands
// over from any peer that joins.
func FuzzDecodeMeta(f *testing.F) {
	good, _ := encodeMeta(Meta{ID: "n", Role: RoleServer, GRPCAddr: "h:1", RaftAddr: "h:2", Version: "v", BootstrapExpect: 3}, true)
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{wireVersion, kindMeta, 0x10, 0x63})
	f.Fuzz(func(t *testing.T, buf []byte) {
		m, leaving, err := decodeMeta(buf)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("decodeMeta error %v is neither ErrMalformed nor ErrTooLarge", err)
			}
			return
		}
		if checkNodeID(m.ID) != nil || len(buf) > MaxMetaBytes {
			t.Fatalf("decodeMeta accepted id %q from %d bytes", m.ID, len(buf))
		}
		again, err := encodeMeta(m, leaving)
		if err != nil {
			// Metadata within 2 bytes of the limit decodes, but encodeMeta
			// keeps room for the leaving flag; nothing else can fail.
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("re-encoding decoded metadata: %v", err)
			}
			return
		}
		m2, leaving2, err := decodeMeta(again)
		if err != nil || m2 != m || leaving2 != leaving {
			t.Fatalf("round trip: %+v %v %v; want %+v %v", m2, leaving2, err, m, leaving)
		}
	})
}
