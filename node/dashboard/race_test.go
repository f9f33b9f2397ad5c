//go:build race

package dashboard_test

// raceEnabled: this test binary runs under the race detector.
const raceEnabled = true
