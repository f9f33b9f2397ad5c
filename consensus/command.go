package consensus

import (
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Limits on commands. They are part of the state machine's definition:
// every server must enforce the same ones, so change them only together
// with a new command type.
const (
	// MaxRequestIDLen is the longest request_id, in bytes.
	MaxRequestIDLen = 64
	// MaxKeyLen is the longest setting key, in bytes.
	MaxKeyLen = 128
	// MaxValueLen is the longest setting value, in bytes.
	MaxValueLen = 4096
	// MaxCommandSize is the largest encoded command DecodeCommand accepts.
	// The largest valid one is an allocation of a big cluster: 10,000
	// placements and 1,000 caps encode to about 330 KB
	// (BenchmarkCommitAllocation).
	MaxCommandSize = 4 << 20
)

// ValidateCommand checks a command before it is submitted: one known
// operation, a request_id of at most MaxRequestIDLen bytes, keys that match
// [a-z0-9][a-z0-9._/-]{0,127}, UTF-8 values of at most MaxValueLen bytes,
// and no fields this version does not know. Its errors wrap
// ErrInvalidCommand and are deterministic, so the FSM can use the same
// check on entries already in the log.
func ValidateCommand(cmd *gamesav1.Command) error {
	if err := validateCommand(cmd); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalidCommand, err)
	}
	return nil
}

// validateCommand returns the bare reason, which also goes into the
// CommandResult of a rejected log entry.
func validateCommand(cmd *gamesav1.Command) error {
	if cmd == nil {
		return fmt.Errorf("nil command")
	}
	if err := validateRequestID(cmd.GetRequestId()); err != nil {
		return err
	}
	if len(cmd.ProtoReflect().GetUnknown()) > 0 {
		return fmt.Errorf("command has fields this server does not know (a newer command type?)")
	}
	switch op := cmd.GetOp().(type) {
	case *gamesav1.Command_SetSetting:
		s := op.SetSetting
		if s == nil {
			return fmt.Errorf("set_setting is empty")
		}
		if len(s.ProtoReflect().GetUnknown()) > 0 {
			return fmt.Errorf("set_setting has unknown fields")
		}
		if err := validateKey(s.GetKey()); err != nil {
			return err
		}
		return validateValue(s.GetValue())
	case *gamesav1.Command_DeleteSetting:
		d := op.DeleteSetting
		if d == nil {
			return fmt.Errorf("delete_setting is empty")
		}
		if len(d.ProtoReflect().GetUnknown()) > 0 {
			return fmt.Errorf("delete_setting has unknown fields")
		}
		return validateKey(d.GetKey())
	case nil:
		return fmt.Errorf("command has no operation")
	default:
		if handled, err := validateAllocOp(cmd); handled {
			return err
		}
		if handled, err := validateFedOp(cmd); handled {
			return err
		}
		// Unreachable until a new oneof case is generated without a branch
		// here; the message names the Go type so the gap is obvious.
		return fmt.Errorf("operation %T is not supported", op)
	}
}

func validateRequestID(id string) error {
	if len(id) > MaxRequestIDLen {
		return fmt.Errorf("request_id is %d bytes, more than %d", len(id), MaxRequestIDLen)
	}
	if !utf8.ValidString(id) {
		return fmt.Errorf("request_id is not UTF-8")
	}
	return nil
}

// validateKey is the key pattern [a-z0-9][a-z0-9._/-]{0,127}, checked by
// hand because it runs on every apply.
func validateKey(key string) error {
	if key == "" {
		return fmt.Errorf("key is empty")
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("key is %d bytes, more than %d", len(key), MaxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '/' || c == '-'):
		default:
			return fmt.Errorf("key %q: byte %d (%q) is not allowed: keys are [a-z0-9][a-z0-9._/-]*", key, i, c)
		}
	}
	return nil
}

func validateValue(v string) error {
	if len(v) > MaxValueLen {
		return fmt.Errorf("value is %d bytes, more than %d", len(v), MaxValueLen)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("value is not UTF-8")
	}
	return nil
}

// EncodeCommand validates cmd and returns the bytes that go into the log.
func EncodeCommand(cmd *gamesav1.Command) ([]byte, error) {
	if err := ValidateCommand(cmd); err != nil {
		return nil, err
	}
	b, err := proto.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCommand, err)
	}
	return b, nil
}

// DecodeCommand parses and validates a log entry's bytes. Its errors wrap
// ErrInvalidCommand.
func DecodeCommand(data []byte) (*gamesav1.Command, error) {
	if len(data) > MaxCommandSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidCommand, len(data), MaxCommandSize)
	}
	cmd := new(gamesav1.Command)
	if err := proto.Unmarshal(data, cmd); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCommand, err)
	}
	if err := ValidateCommand(cmd); err != nil {
		return nil, err
	}
	return cmd, nil
}
