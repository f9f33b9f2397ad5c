package policy

import "fmt"

// NumActions is the number of discrete actions the policy scores.
const NumActions = 16

// Action is what one output of the policy means: hold the CPU package's
// long-term power limit (RAPL PL1, or the simulated machine's power cap)
// at CapWatts. The caps are evenly spaced from Config.MinCapWatts (action
// 0) to Config.MaxCapWatts (action NumActions−1, which on a machine whose
// MaxCapWatts is its TDP means "no cap beyond the TDP").
type Action struct {
	// Index is the action's position in the policy's output, 0..NumActions−1.
	Index int
	// CapWatts is the package power limit to apply.
	CapWatts float64
}

func (a Action) String() string { return fmt.Sprintf("action %d: cap %.1f W", a.Index, a.CapWatts) }

// Action returns what action i means under c; i is clamped to the valid
// range.
func (c Config) Action(i int) Action {
	i = min(max(i, 0), NumActions-1)
	step := (c.MaxCapWatts - c.MinCapWatts) / (NumActions - 1)
	return Action{Index: i, CapWatts: c.MinCapWatts + float64(i)*step}
}

// nearestAction is the action whose cap is closest to watts: how Observe
// learns which action was in force from a sample's power limit.
func (c Config) nearestAction(watts float64) int {
	step := (c.MaxCapWatts - c.MinCapWatts) / (NumActions - 1)
	i := int((watts-c.MinCapWatts)/step + 0.5)
	return min(max(i, 0), NumActions-1)
}
