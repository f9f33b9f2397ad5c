package gossip

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
)

// KeySize is the size of the keys GenerateKey makes: AES-256.
const KeySize = 32

// GenerateKey returns a new random gossip encryption key of KeySize bytes,
// what `gamesa keygen` prints (through EncodeKey).
func GenerateKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("gossip: generate key: %w", err)
	}
	return k, nil
}

// EncodeKey returns k as standard base64, the form users copy between
// machines and config files.
func EncodeKey(k []byte) string {
	return base64.StdEncoding.EncodeToString(k)
}

// DecodeKey parses a key written by EncodeKey (surrounding white space is
// ignored) and checks that it is 16, 24 or 32 bytes: AES-128, -192 or -256.
func DecodeKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%w: not base64: %w", ErrBadKey, err)
	}
	if err := checkKey(k); err != nil {
		return nil, err
	}
	return k, nil
}

func checkKey(k []byte) error {
	switch len(k) {
	case 16, 24, 32:
		return nil
	default:
		return fmt.Errorf("%w: %d bytes, want 16, 24 or 32", ErrBadKey, len(k))
	}
}
