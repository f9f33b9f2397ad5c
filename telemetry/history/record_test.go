package history

import (
	"bytes"
	"encoding/binary"
	"math"
	"sort"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func keyFor(nanos int64, seq uint64) []byte {
	var k [keyLen]byte
	encodeKey(&k, nanos, seq)
	return k[:]
}

func TestKeyOrderIsTimeOrder(t *testing.T) {
	// Ordered by (time, seq); the byte order of the keys must agree.
	type ts struct {
		nanos int64
		seq   uint64
	}
	ordered := []ts{
		{math.MinInt64, 0}, {math.MinInt64, 1}, {-1e18, 5}, {-1, math.MaxUint64},
		{0, 0}, {0, 1}, {1, 0}, {base.UnixNano(), 7}, {base.UnixNano(), 8}, {math.MaxInt64, math.MaxUint64},
	}
	keys := make([][]byte, len(ordered))
	for i, o := range ordered {
		keys[i] = keyFor(o.nanos, o.seq)
		if got, ok := keyNanos(keys[i]); !ok || got != o.nanos {
			t.Errorf("keyNanos(encodeKey(%d)) = %d, %v; want %d, true", o.nanos, got, ok, o.nanos)
		}
	}
	if !sort.SliceIsSorted(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 }) {
		t.Errorf("keys for %v are not in byte order", ordered)
	}
	if _, ok := keyNanos(make([]byte, keyLen-1)); ok {
		t.Errorf("keyNanos(short key) ok = true; want false")
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, tm := range []time.Time{base, time.Unix(0, 0), time.Unix(-5, 3), time.Unix(0, math.MaxInt64)} {
		s := realistic(tm, 42)
		v, err := appendRecord(nil, s)
		if err != nil {
			t.Fatalf("appendRecord(%v) = %v", tm, err)
		}
		got, err := decodeRecord(keyFor(tm.UnixNano(), 3), v)
		if err != nil {
			t.Fatalf("decodeRecord(record at %v) = %v", tm, err)
		}
		if !proto.Equal(got, s) {
			t.Errorf("decodeRecord(appendRecord(s at %v)) differs from s", tm)
		}
	}
}

func TestDecodeRecordRejects(t *testing.T) {
	good, err := appendRecord(nil, tiny(base, 1))
	if err != nil {
		t.Fatal(err)
	}
	key := keyFor(base.UnixNano(), 1)
	mutate := func(f func(v []byte) []byte) []byte { return f(bytes.Clone(good)) }
	noTime, _ := appendRecord(nil, &gamesav1.Sample{NodeId: "n"})
	tests := []struct {
		name string
		k, v []byte
	}{
		{"empty value", key, nil},
		{"header only short", key, good[:3]},
		{"wrong version", key, mutate(func(v []byte) []byte { v[0] = 9; return v })},
		{"flipped payload bit", key, mutate(func(v []byte) []byte { v[len(v)-1] ^= 1; return v })},
		{"flipped checksum bit", key, mutate(func(v []byte) []byte { v[2] ^= 0x40; return v })},
		{"truncated payload", key, good[:len(good)-2]},
		{"wrong key time", keyFor(base.UnixNano()+1, 1), good},
		{"short key", key[:8], good},
		{"sample without time", keyFor(0, 1), noTime},
		{"garbage proto with good checksum", key, func() []byte {
			v := []byte{recordVersion, 0, 0, 0, 0, 0xff, 0xff, 0xff}
			return resum(v)
		}()},
		{"far-future time", keyFor(0, 1), func() []byte {
			v, _ := appendRecord(nil, &gamesav1.Sample{Time: &timestamppb.Timestamp{Seconds: math.MaxInt64 / 2}})
			return v
		}()},
	}
	for _, tt := range tests {
		if s, err := decodeRecord(tt.k, tt.v); err == nil {
			t.Errorf("decodeRecord(%s) = %v, nil; want an error", tt.name, s)
		}
	}
}

// resum rewrites the checksum of a record so that only the checks after it
// can reject the record.
func resum(v []byte) []byte {
	out := bytes.Clone(v)
	binary.BigEndian.PutUint32(out[1:recordHeaderLen], crc32c(out[recordHeaderLen:]))
	return out
}

func FuzzDecodeRecord(f *testing.F) {
	good, _ := appendRecord(nil, realistic(base, 1))
	tinyRec, _ := appendRecord(nil, tiny(base, 2))
	f.Add(keyFor(base.UnixNano(), 1), good)
	f.Add(keyFor(base.UnixNano(), 2), tinyRec)
	f.Add(keyFor(0, 0), []byte{})
	f.Add([]byte("short"), []byte{recordVersion, 1, 2, 3, 4, 5})
	f.Add(keyFor(base.UnixNano(), 1), resum([]byte{recordVersion, 0, 0, 0, 0, 0x0a, 0x02, 0x08, 0x01}))
	f.Fuzz(func(t *testing.T, k, v []byte) {
		checkDecode(t, k, v)
		// Mutated bytes almost never carry a valid checksum; fix it so the
		// checks behind it (proto, time, key) get fuzzed too.
		if len(v) >= recordHeaderLen {
			checkDecode(t, k, resum(v))
		}
	})
}

func checkDecode(t *testing.T, k, v []byte) {
	s, err := decodeRecord(k, v)
	if err != nil {
		return
	}
	// Whatever decodes must carry the key's time and survive a round trip
	// unchanged.
	want, _ := keyNanos(k)
	if got, err := sampleNanos(s); err != nil || got != want {
		t.Fatalf("decodeRecord accepted a sample at %d, %v under key time %d", got, err, want)
	}
	again, err := appendRecord(nil, s)
	if err != nil {
		t.Fatalf("appendRecord(decoded sample) = %v", err)
	}
	if s2, err := decodeRecord(k, again); err != nil || !proto.Equal(s, s2) {
		t.Fatalf("decoded sample does not round-trip: %v", err)
	}
}
