package power

import (
	"errors"
	"fmt"
	"strings"
)

// The package's sentinel errors; returned errors wrap them.
var (
	// ErrUnknownMode is returned by ParseMode and Mode.UnmarshalText for a
	// name that is not one of Modes().
	ErrUnknownMode = errors.New("power: unknown mode")
	// ErrConfig is wrapped by every Validate error.
	ErrConfig = errors.New("power: invalid config")
)

// Mode is a power mode: what the machine is tuned for. The zero Mode is
// Balanced.
type Mode int

// The power modes.
const (
	// Balanced is the stock trade-off: the kernel's balanced choices, boost
	// on, no latency request.
	Balanced Mode = iota
	// MaxBattery saves energy at the cost of speed: low-power profile, EPP
	// power, boost off, devices allowed to sleep, the backlight dimmed.
	MaxBattery
	// MaxPerformance favours throughput: performance profile, governor and
	// EPP, the GPU at its full power limit, devices kept awake.
	MaxPerformance
	// Gaming favours latency: MaxPerformance for the game's cores, a PM QoS
	// request that keeps the cores out of deep idle states, the game's
	// cores held at a raised minimum frequency, the GPU at full power.
	Gaming
)

// Modes lists the modes from the most frugal to the most eager.
func Modes() []Mode { return []Mode{MaxBattery, Balanced, MaxPerformance, Gaming} }

// String returns the mode's name as plans and the API spell it:
// "MAX_BATTERY", "BALANCED", "MAX_PERFORMANCE", "GAMING".
func (m Mode) String() string {
	switch m {
	case MaxBattery:
		return "MAX_BATTERY"
	case Balanced:
		return "BALANCED"
	case MaxPerformance:
		return "MAX_PERFORMANCE"
	case Gaming:
		return "GAMING"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Valid reports whether m is one of Modes().
func (m Mode) Valid() bool { return m >= Balanced && m <= Gaming }

// ParseMode reads a mode name as a person types it: case does not matter,
// and '-' or ' ' may stand for '_' ("gaming", "max-battery",
// "MAX_PERFORMANCE").
func ParseMode(s string) (Mode, error) {
	norm := strings.ToUpper(strings.NewReplacer("-", "_", " ", "_").Replace(strings.TrimSpace(s)))
	for _, m := range Modes() {
		if norm == m.String() {
			return m, nil
		}
	}
	names := make([]string, 0, 4)
	for _, m := range Modes() {
		names = append(names, strings.ToLower(m.String()))
	}
	return 0, fmt.Errorf("%w %q (want one of %s)", ErrUnknownMode, s, strings.Join(names, ", "))
}

// MarshalText writes the mode's name, so that a Mode reads and writes as
// text in configuration files.
func (m Mode) MarshalText() ([]byte, error) {
	if !m.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownMode, int(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText reads a mode as ParseMode does.
func (m *Mode) UnmarshalText(b []byte) error {
	v, err := ParseMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}
