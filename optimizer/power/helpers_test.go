package power_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// loadKnobs reads a knob inventory fixture: a JSON array of Knob messages
// as protojson writes them, as the actuators would report the host.
func loadKnobs(t testing.TB, name string) []*gamesav1.Knob {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	out := make([]*gamesav1.Knob, len(raw))
	for i, r := range raw {
		out[i] = &gamesav1.Knob{}
		if err := protojson.Unmarshal(r, out[i]); err != nil {
			t.Fatalf("%s[%d]: %v", name, i, err)
		}
	}
	return out
}

// key names a knob or an action: "name target".
func key(name, target string) string { return name + " " + target }

// actionMap indexes a plan's actions by key, failing on duplicates.
func actionMap(t testing.TB, actions []*gamesav1.Action) map[string]*gamesav1.Action {
	t.Helper()
	m := map[string]*gamesav1.Action{}
	for _, a := range actions {
		k := key(a.GetKnob(), a.GetTarget())
		if _, dup := m[k]; dup {
			t.Errorf("two actions for %s", k)
		}
		m[k] = a
	}
	return m
}

// applied returns a copy of knobs with the actions' values written, as
// the actuators would leave them.
func applied(knobs []*gamesav1.Knob, actions []*gamesav1.Action) []*gamesav1.Knob {
	out := make([]*gamesav1.Knob, len(knobs))
	for i, k := range knobs {
		out[i] = proto.CloneOf(k)
		for _, a := range actions {
			if a.GetKnob() == k.GetName() && a.GetTarget() == k.GetTarget() {
				out[i].Value = a.GetValue()
			}
		}
	}
	return out
}

// withOwner returns a copy of knobs where the named knobs are managed by
// owner.
func withOwner(knobs []*gamesav1.Knob, owner string, names ...string) []*gamesav1.Knob {
	out := make([]*gamesav1.Knob, len(knobs))
	for i, k := range knobs {
		out[i] = proto.CloneOf(k)
		for _, n := range names {
			if k.GetName() == n {
				out[i].Owner = owner
			}
		}
	}
	return out
}

// nan is a NaN without importing math at every call site.
func nan() float64 { return math.NaN() }
