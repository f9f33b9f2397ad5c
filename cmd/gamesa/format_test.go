package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// TestWriteSamplePower: without RAPL the machine's draw is unknown, not
// 0 W, and the GPUs' draw is shown beside it.
func TestWriteSamplePower(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    *gamesav1.Sample
		want string
	}{
		{"no RAPL, a GPU", &gamesav1.Sample{
			Power: &gamesav1.Power{OnAc: true},
			Gpus:  []*gamesav1.GPU{{Name: "NVIDIA H200", PowerWatts: 80.5}},
		}, "draw not measured (no RAPL)  GPUs 80.5 W  on AC"},
		{"RAPL, two GPUs", &gamesav1.Sample{
			Power: &gamesav1.Power{TotalWatts: 45.25, Rapl: []*gamesav1.RAPLDomain{{Name: "package-0", Watts: 45.25}}},
			Gpus:  []*gamesav1.GPU{{PowerWatts: 100}, {PowerWatts: 150.5}},
		}, "45.2 W total  GPUs 250.5 W  package-0 45.2 W"},
	} {
		var b bytes.Buffer
		writeSample(&b, tc.s, time.Unix(0, 0))
		var line string
		for l := range strings.Lines(b.String()) {
			if strings.HasPrefix(l, "power") {
				line = strings.Join(strings.Fields(strings.TrimPrefix(l, "power")), " ")
			}
		}
		if want := strings.Join(strings.Fields(tc.want), " "); line != want {
			t.Errorf("%s: power line %q; want %q", tc.name, line, want)
		}
	}
}
