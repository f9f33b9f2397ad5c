package gossip

import (
	"fmt"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// The wire format of everything this package puts into memberlist, as user
// messages, push-pull state and node metadata:
//
//	byte 0   wire format version, wireVersion
//	byte 1   kind: kindDigest, kindState or kindMeta
//	byte 2…  the protobuf encoding of gamesav1.Digest, gamesav1.DigestState
//	         or gamesav1.NodeMeta
//
// The version byte lets a later format be told apart from this one (and
// dropped, counted as malformed, by nodes that only speak this one); the kind
// byte keeps a message of one kind from ever being decoded as another.
const (
	wireVersion byte = 1

	kindDigest byte = 1
	kindState  byte = 2
	kindMeta   byte = 3

	headerLen = 2
)

// Size limits, in encoded bytes including the two-byte header. Anything
// larger that arrives is dropped and counted; anything larger that this node
// would send is refused with an error.
const (
	// MaxDigestBytes bounds one encoded digest. It leaves room for a digest
	// in a single 1400-byte memberlist packet with encryption on.
	MaxDigestBytes = 1024
	// MaxMetaBytes bounds encoded node metadata: memberlist's own limit. It
	// includes the 2 bytes of the flag Leave sets.
	MaxMetaBytes = 512
	// MaxStateBytes bounds the push-pull anti-entropy state: about 5000
	// typical digests. A node holding more sends the freshest that fit.
	MaxStateBytes = 1 << 20
	// MaxNodeIDBytes bounds a node id, in the digest and in metadata.
	MaxNodeIDBytes = 128
)

// frame prepends the header to the encoding of msg.
func frame(kind byte, msg proto.Message) ([]byte, error) {
	buf := make([]byte, headerLen, headerLen+proto.Size(msg))
	buf[0], buf[1] = wireVersion, kind
	buf, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(buf, msg)
	if err != nil {
		return nil, fmt.Errorf("gossip: encode kind %d: %w", kind, err)
	}
	return buf, nil
}

// unframe checks the header and the size of buf and returns its body.
func unframe(buf []byte, kind byte, limit int) ([]byte, error) {
	if len(buf) > limit {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(buf), limit)
	}
	if len(buf) < headerLen {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the header", ErrMalformed, len(buf))
	}
	if buf[0] != wireVersion {
		return nil, fmt.Errorf("%w: wire version %d, want %d", ErrMalformed, buf[0], wireVersion)
	}
	if buf[1] != kind {
		return nil, fmt.Errorf("%w: kind %d, want %d", ErrMalformed, buf[1], kind)
	}
	return buf[headerLen:], nil
}

// encodeDigest frames d, refusing one over MaxDigestBytes.
func encodeDigest(d *gamesav1.Digest) ([]byte, error) {
	buf, err := frame(kindDigest, d)
	if err != nil {
		return nil, err
	}
	if len(buf) > MaxDigestBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(buf), MaxDigestBytes)
	}
	return buf, nil
}

// decodeDigest decodes and checks one digest message. buf is not retained.
func decodeDigest(buf []byte) (*gamesav1.Digest, error) {
	body, err := unframe(buf, kindDigest, MaxDigestBytes)
	if err != nil {
		return nil, err
	}
	d := new(gamesav1.Digest)
	if err := proto.Unmarshal(body, d); err != nil {
		return nil, fmt.Errorf("%w: digest: %w", ErrMalformed, err)
	}
	if err := checkDigest(d); err != nil {
		return nil, err
	}
	return d, nil
}

// checkDigest rejects a digest that no mesh would have published: the mesh
// always stamps a node id, a seq from 1 and an epoch.
func checkDigest(d *gamesav1.Digest) error {
	if err := checkNodeID(d.GetNodeId()); err != nil {
		return fmt.Errorf("%w: digest: %w", ErrMalformed, err)
	}
	if d.GetSeq() == 0 || d.GetEpoch() == 0 {
		return fmt.Errorf("%w: digest from %q: seq %d, epoch %d; both must be set",
			ErrMalformed, d.GetNodeId(), d.GetSeq(), d.GetEpoch())
	}
	return nil
}

// checkNodeID bounds a node id and keeps control characters out of logs and
// views. proto.Unmarshal already guarantees valid UTF-8.
func checkNodeID(id string) error {
	if id == "" {
		return fmt.Errorf("empty node id")
	}
	if len(id) > MaxNodeIDBytes {
		return fmt.Errorf("node id of %d bytes, limit %d", len(id), MaxNodeIDBytes)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return fmt.Errorf("node id %q has a control character", id)
		}
	}
	return nil
}

// encodeState frames the digests for push-pull, freshest first as given,
// keeping as many as fit in MaxStateBytes.
func encodeState(digests []*gamesav1.Digest) ([]byte, error) {
	// Each repeated field entry costs its size plus one tag byte and a length
	// varint; sizing before encoding keeps the result under the limit
	// without trial encodings.
	budget := MaxStateBytes - headerLen
	st := &gamesav1.DigestState{}
	for _, d := range digests {
		n := proto.Size(d)
		cost := 1 + varintLen(uint64(n)) + n
		if cost > budget {
			break
		}
		budget -= cost
		st.Digests = append(st.Digests, d)
	}
	return frame(kindState, st)
}

// decodeState decodes push-pull state. Digests that fail checkDigest are
// left out and counted in the second result; buf is not retained.
func decodeState(buf []byte) (ok []*gamesav1.Digest, bad int, err error) {
	body, err := unframe(buf, kindState, MaxStateBytes)
	if err != nil {
		return nil, 0, err
	}
	st := new(gamesav1.DigestState)
	if err := proto.Unmarshal(body, st); err != nil {
		return nil, 0, fmt.Errorf("%w: digest state: %w", ErrMalformed, err)
	}
	ok = st.Digests[:0]
	for _, d := range st.Digests {
		if proto.Size(d)+headerLen > MaxDigestBytes || checkDigest(d) != nil {
			bad++
			continue
		}
		ok = append(ok, d)
	}
	return ok, bad, nil
}

// varintLen is the length of v as a protobuf varint.
func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// encodeMeta frames meta, refusing metadata over MaxMetaBytes. leaving is
// the flag Leave sets (see gamesav1.NodeMeta); the limit is checked as if it
// were set, so that Leave can always set it.
func encodeMeta(m Meta, leaving bool) ([]byte, error) {
	if m.BootstrapExpect < 0 || m.BootstrapExpect > math.MaxUint32 {
		return nil, fmt.Errorf("gossip: bootstrap expect %d out of range", m.BootstrapExpect)
	}
	if n := headerLen + proto.Size(m.proto(true)); n > MaxMetaBytes {
		return nil, fmt.Errorf("%w: metadata of %d bytes, limit %d", ErrTooLarge, n, MaxMetaBytes)
	}
	return frame(kindMeta, m.proto(leaving))
}

// decodeMeta decodes node metadata received from memberlist, and its
// leaving flag.
func decodeMeta(buf []byte) (Meta, bool, error) {
	body, err := unframe(buf, kindMeta, MaxMetaBytes)
	if err != nil {
		return Meta{}, false, err
	}
	pm := new(gamesav1.NodeMeta)
	if err := proto.Unmarshal(body, pm); err != nil {
		return Meta{}, false, fmt.Errorf("%w: node meta: %w", ErrMalformed, err)
	}
	if err := checkNodeID(pm.GetId()); err != nil {
		return Meta{}, false, fmt.Errorf("%w: node meta: %w", ErrMalformed, err)
	}
	return metaFromProto(pm), pm.GetLeaving(), nil
}
