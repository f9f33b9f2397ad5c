package history

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// On disk, each sample is one bbolt key/value pair.
//
// Key (keyLen bytes): the sample's Unix nanoseconds as offset binary (the
// sign bit flipped, so big-endian byte order is time order for times before
// 1970 too), then a per-file sequence number that keeps two samples with the
// same time from overwriting each other and orders them by arrival.
//
// Value: a format version byte, the CRC-32C of the proto bytes (big-endian),
// then the proto-encoded Sample. bbolt checksums only its meta pages, so the
// CRC is what catches a flipped bit in a record.
const (
	keyLen          = 16
	recordVersion   = 1
	recordHeaderLen = 5
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// encodeKey writes the key for a sample at nanos with sequence seq.
func encodeKey(dst *[keyLen]byte, nanos int64, seq uint64) {
	binary.BigEndian.PutUint64(dst[:8], uint64(nanos)^(1<<63))
	binary.BigEndian.PutUint64(dst[8:], seq)
}

// seekKey is the smallest key at or after nanos.
func seekKey(nanos int64) []byte {
	var k [keyLen]byte
	encodeKey(&k, nanos, 0)
	return k[:]
}

// keyNanos returns the time in a key. ok is false for a key of the wrong
// length, which only a foreign write can produce.
func keyNanos(k []byte) (nanos int64, ok bool) {
	if len(k) != keyLen {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(k[:8]) ^ (1 << 63)), true
}

// appendRecord appends the value for s to dst and returns it.
func appendRecord(dst []byte, s *gamesav1.Sample) ([]byte, error) {
	dst = append(dst, recordVersion, 0, 0, 0, 0)
	start := len(dst)
	dst, err := proto.MarshalOptions{}.MarshalAppend(dst, s)
	if err != nil {
		return nil, fmt.Errorf("history: encode sample: %w", err)
	}
	binary.BigEndian.PutUint32(dst[start-4:start], crc32c(dst[start:]))
	return dst, nil
}

// decodeRecord decodes the value v stored under key k. Both come from disk,
// so any bytes must yield a sample or an error, never a panic. The sample's
// time must match the key's: a record that decodes but sits under the wrong
// key is as corrupt as one that does not decode. v may point into bbolt's
// memory map; the sample returned does not retain it.
func decodeRecord(k, v []byte) (*gamesav1.Sample, error) {
	want, ok := keyNanos(k)
	if !ok {
		return nil, fmt.Errorf("key of %d bytes is not a history key", len(k))
	}
	if len(v) < recordHeaderLen {
		return nil, fmt.Errorf("record of %d bytes is shorter than its header", len(v))
	}
	if v[0] != recordVersion {
		return nil, fmt.Errorf("record version %d, want %d", v[0], recordVersion)
	}
	body := v[recordHeaderLen:]
	if got, sum := crc32c(body), binary.BigEndian.Uint32(v[1:recordHeaderLen]); got != sum {
		return nil, fmt.Errorf("record checksum %08x, want %08x", got, sum)
	}
	s := new(gamesav1.Sample)
	if err := proto.Unmarshal(body, s); err != nil {
		return nil, fmt.Errorf("record proto: %w", err)
	}
	got, err := sampleNanos(s)
	if err != nil {
		return nil, err
	}
	if got != want {
		return nil, fmt.Errorf("record time %s under key time %s", fmtNanos(got), fmtNanos(want))
	}
	return s, nil
}
