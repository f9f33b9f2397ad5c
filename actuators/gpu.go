package actuators

import (
	"fmt"
	"strconv"
	"strings"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// GPUPower is the NVIDIA power limit of a machine's GPUs, indexed as NVML
// indexes them. NVML implements it over go-nvml; tests pass go-nvml's mock
// through NewNVML. Implementations must be safe for use from one goroutine
// at a time (Set serialises its calls).
//
// Errors should wrap fs.ErrPermission when the driver refuses for lack of
// privilege, ErrUnavailable when the GPU does not support power limits, and
// ErrGone when the GPU fell off the bus.
type GPUPower interface {
	// Count returns how many GPUs there are.
	Count() (int, error)
	// PowerLimit returns a GPU's power limit and the inclusive range the
	// device accepts, in mW.
	PowerLimit(index int) (limit, min, max uint32, err error)
	// SetPowerLimit sets a GPU's power limit, in mW.
	SetPowerLimit(index int, mw uint32) error
}

// gpuFamily serves nvml.power_limit_mw, target "gpu<index>".
type gpuFamily struct {
	cfg *Config
}

func (f *gpuFamily) expand(knob, target string) ([]string, error) {
	return []string{target}, nil
}

func (f *gpuFamily) inventory() []*gamesav1.Knob {
	if f.cfg.GPUs == nil {
		return nil
	}
	n, err := f.cfg.GPUs.Count()
	if err != nil {
		return nil
	}
	var out []*gamesav1.Knob
	for i := range n {
		cur, lo, hi, err := f.cfg.GPUs.PowerLimit(i)
		if err != nil {
			continue
		}
		out = append(out, &gamesav1.Knob{
			Name: KnobNVMLPower, Target: "gpu" + strconv.Itoa(i), Value: strconv.FormatUint(uint64(cur), 10),
			Unit: unitOf(KnobNVMLPower), Min: strconv.FormatUint(uint64(lo), 10), Max: strconv.FormatUint(uint64(hi), 10),
			// NVML has no "may I" query; root may, others may not.
			Writable: true,
		})
	}
	return out
}

func (f *gpuFamily) open(knob, target string, o openOpts) (accessor, error) {
	if knob != KnobNVMLPower {
		return nil, fmt.Errorf("%q: %w", knob, ErrUnknownKnob)
	}
	s, ok := strings.CutPrefix(target, "gpu")
	i, err := strconv.Atoi(s)
	if !ok || err != nil || i < 0 || s != strconv.Itoa(i) {
		return nil, fmt.Errorf("%s: target %q: want gpu<index>: %w", knob, target, ErrBadTarget)
	}
	if f.cfg.GPUs == nil {
		return nil, fmt.Errorf("%s: no NVIDIA GPU interface: %w", knob, ErrUnavailable)
	}
	n, err := f.cfg.GPUs.Count()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", knob, err)
	}
	if i >= n {
		return nil, fmt.Errorf("%s: %s, but %d GPUs: %w", knob, target, n, ErrUnavailable)
	}
	return &gpuKnob{gpus: f.cfg.GPUs, index: i, target: target}, nil
}

// gpuKnob is one GPU's power limit.
type gpuKnob struct {
	gpus   GPUPower
	index  int
	target string
}

func (k *gpuKnob) read() (string, error) {
	cur, _, _, err := k.gpus.PowerLimit(k.index)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", KnobNVMLPower, k.target, err)
	}
	return strconv.FormatUint(uint64(cur), 10), nil
}

// check clamps to the device's own constraints.
func (k *gpuKnob) check(v string) (string, string, error) {
	n, err := parseIntIn(v)
	if err != nil {
		return "", "", fmt.Errorf("%s %s: %w", KnobNVMLPower, k.target, err)
	}
	_, lo, hi, err := k.gpus.PowerLimit(k.index)
	if err != nil {
		return "", "", fmt.Errorf("%s %s: %w", KnobNVMLPower, k.target, err)
	}
	n, note := clamp(n, int64(lo), int64(hi))
	return strconv.FormatInt(n, 10), note, nil
}

func (k *gpuKnob) write(v string) error {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return fmt.Errorf("%s %s: %q: %w", KnobNVMLPower, k.target, v, ErrBadValue)
	}
	if err := k.gpus.SetPowerLimit(k.index, uint32(n)); err != nil {
		return fmt.Errorf("%s %s: %w", KnobNVMLPower, k.target, err)
	}
	return nil
}
