package node

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func testDecision(at time.Time, scenario string, measured float64) *gamesav1.Decision {
	return &gamesav1.Decision{
		Time:     timestamppb.New(at),
		Mode:     "GAMING",
		Scenario: scenario,
		Cap:      &gamesav1.DecisionCap{Watts: 45, MeasuredWatts: measured},
		Actions:  []*gamesav1.Action{{Knob: "process.nice", Target: "pid:42", Value: "-10", Reasons: []string{"scenario " + scenario}}},
	}
}

// The log records a decision that says something new, skips repeats until
// the heartbeat, answers ranges from memory and from the file, and keeps
// what it recorded across a reopen.
func TestDecisionLogRecordsChangesAndHeartbeats(t *testing.T) {
	path := filepath.Join(t.TempDir(), "decisions.db")
	l, err := openDecisionLog(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	// 0..9 s: "game", measurements changing; 10..19 s: "none"; then a
	// steady "none" for 2 minutes: heartbeats at 70 s and 130 s.
	for i := range 140 {
		sc := "game"
		if i >= 10 {
			sc = "none"
		}
		if err := l.add(testDecision(t0.Add(time.Duration(i)*time.Second), sc, float64(30+i))); err != nil {
			t.Fatal(err)
		}
	}
	got, more, err := l.between(t0, t0.Add(time.Hour), 100)
	if err != nil || more {
		t.Fatalf("between = %v, more %v", err, more)
	}
	var at []int
	for _, d := range got {
		at = append(at, int(d.GetTime().AsTime().Sub(t0)/time.Second))
	}
	if want := []int{0, 10, 70, 130}; !slices.Equal(at, want) {
		t.Errorf("recorded at %v s; want %v", at, want)
	}
	if d := l.latest(); d.GetTime().AsTime() != t0.Add(139*time.Second) {
		t.Errorf("latest at %v; want the last one offered", d.GetTime().AsTime())
	}
	if got, more, _ := l.between(t0, t0.Add(time.Hour), 2); len(got) != 2 || !more {
		t.Errorf("limit 2: %d decisions, more %v; want 2 and more", len(got), more)
	}
	if err := l.close(); err != nil {
		t.Fatal(err)
	}

	l, err = openDecisionLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	got, _, err = l.between(t0.Add(5*time.Second), t0.Add(100*time.Second), 100)
	if err != nil || len(got) != 2 || got[0].GetScenario() != "none" || !proto.Equal(got[0], testDecision(t0.Add(10*time.Second), "none", 40)) {
		t.Fatalf("after reopen, 5..100 s = %v, %v; want the decisions of 10 and 70 s", got, err)
	}
}

// A damaged file is moved aside, not lost, and a fresh log starts.
func TestDecisionLogCorruptFileMovedAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "decisions.db")
	if err := os.WriteFile(path, []byte("not a bbolt file, just text that is long enough to be read as a page"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := openDecisionLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	if err := l.add(testDecision(time.Now(), "game", 1)); err != nil {
		t.Fatal(err)
	}
	aside, _ := filepath.Glob(path + ".corrupt-*")
	if len(aside) != 1 {
		t.Errorf("corrupt file kept as %v; want one copy", aside)
	}
}
