package policy

import gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"

// Reward is the policy's objective for the interval a sample reports:
// useful work per watt under a thermal limit,
//
//	r = W / (P + PlatformWatts) − ThermalPenalty · max(0, T − TempLimitC)
//
// where W = Σ_cores utilisation × frequency (core-GHz: the CPU cycles the
// workload got), P the package power (W) and T the hottest CPU sensor
// (°C). PlatformWatts is what the rest of the machine draws whatever the
// CPU does (screen, memory, board): it is why running slower is not
// always more efficient — a job that takes longer keeps the platform on
// longer. With it, a light load is most efficient uncapped (race to idle)
// and an all-core load at a middle cap; the penalty makes the policy keep
// the package below TempLimitC, well under the hardware's own throttle
// point.
func Reward(s *gamesav1.Sample, cfg Config) float64 {
	st := extract(s, &cfg)
	return reward(&st, &cfg)
}

func reward(st *state, cfg *Config) float64 {
	return efficiency(st, cfg) - cfg.ThermalPenalty*max(0, st.tempC-cfg.TempLimitC)
}

// efficiency is the work-per-watt term of the reward, core-GHz per watt.
func efficiency(st *state, cfg *Config) float64 {
	return st.workGHz / (max(st.watts, 0) + cfg.PlatformWatts)
}
