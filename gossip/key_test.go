package gossip

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"
)

func TestGenerateKey(t *testing.T) {
	a, err := GenerateKey()
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	b, err := GenerateKey()
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	if len(a) != KeySize || len(b) != KeySize {
		t.Errorf("GenerateKey lengths %d, %d; want %d", len(a), len(b), KeySize)
	}
	if bytes.Equal(a, b) {
		t.Errorf("two GenerateKey calls returned the same key")
	}
	got, err := DecodeKey(EncodeKey(a))
	if err != nil || !bytes.Equal(got, a) {
		t.Errorf("DecodeKey(EncodeKey(k)) = %x, %v; want %x", got, err, a)
	}
}

func TestDecodeKey(t *testing.T) {
	key := func(n int) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, n)) }
	for _, tc := range []struct {
		in      string
		wantLen int // 0: an error
	}{
		{key(16), 16},
		{key(24), 24},
		{key(32), 32},
		{"  " + key(32) + "\n", 32},
		{"", 0},
		{key(15), 0},
		{key(31), 0},
		{key(33), 0},
		{key(64), 0},
		{"not base64!", 0},
		{base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)), 0},
	} {
		k, err := DecodeKey(tc.in)
		switch {
		case tc.wantLen == 0 && !errors.Is(err, ErrBadKey):
			t.Errorf("DecodeKey(%q) = %x, %v; want ErrBadKey", tc.in, k, err)
		case tc.wantLen != 0 && (err != nil || len(k) != tc.wantLen):
			t.Errorf("DecodeKey(%q) = %d bytes, %v; want %d bytes", tc.in, len(k), err, tc.wantLen)
		}
	}
}
