package sim

// Noise is a function of (Config.Seed, stream, time bucket): the Machine
// reseeds its one math/rand/v2 PCG at the start of every use. That makes the
// workload at a given second the same however the caller spaces its Sample
// calls (one call an hour integrates the same per-second load as 3600 calls
// a second apart), and the same Seed and times give the same samples.

// Noise streams: each use of randomness draws from its own stream so that
// adding a draw to one never shifts another.
const (
	streamLayout  uint64 = iota + 1 // per machine: hot cores, phase offsets
	streamDemand                    // per second: core utilisation, I/O, GPU load
	streamBrowser                   // slow browsing activity level
	streamRSS                       // per second: process memory jitter
)

// splitmix64 scrambles x so that neighbouring seconds give unrelated seeds.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// reseed points m.rng at the stream's sequence for one key (usually a
// Unix second).
func (m *Machine) reseed(stream uint64, key int64) {
	m.pcg.Seed(splitmix64(m.cfg.Seed^(stream*0xd1b54a32d192ed03)), splitmix64(uint64(key)+stream*0x8cb92ba72f3d8dd7))
}

// smooth returns value noise in [0, 1) that changes gradually over period
// seconds: random values at multiples of period, blended with a smoothstep.
func (m *Machine) smooth(stream uint64, sec, period int64) float64 {
	k := floorDiv(sec, period)
	m.reseed(stream, k)
	a := m.rng.Float64()
	m.reseed(stream, k+1)
	b := m.rng.Float64()
	x := float64(sec-k*period) / float64(period)
	x = x * x * (3 - 2*x)
	return a + (b-a)*x
}

// floorDiv is a/b rounded towards −∞ (b > 0), so that times before 1970
// fall into the right bucket too.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
