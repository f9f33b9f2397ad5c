package procfs

import (
	"os/exec"
	"testing"
)

// TestPidWatchLive: on this machine's /proc the watch trusts loadavg, and
// a process started between two looks always moves it.
func TestPidWatchLive(t *testing.T) {
	w := NewPidWatch("/proc")
	if !w.Moved() {
		t.Fatal("first look: Moved = false; it cannot know yet")
	}
	if w.sameNS != 1 {
		t.Fatalf("/proc/self does not name this process (sameNS %d): the live shortcut is off", w.sameNS)
	}
	for range 3 {
		w.Moved()
		if err := exec.Command("true").Run(); err != nil {
			t.Fatal(err)
		}
		if !w.Moved() {
			t.Fatal("a process was started, yet the last pid did not move")
		}
	}
}

// TestPidWatchElsewhere: a /proc that is not this process's namespace
// (here a fixture without self) always counts as moved.
func TestPidWatchElsewhere(t *testing.T) {
	dir, _ := fixture(t)
	w := NewPidWatch(dir + "/proc")
	for i := range 3 {
		if !w.Moved() {
			t.Fatalf("look %d: Moved = false for a foreign /proc", i)
		}
	}
}
