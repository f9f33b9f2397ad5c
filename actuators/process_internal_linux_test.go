//go:build linux

package actuators

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// TestPIDReuse: a journal record for a pid whose process has another start
// time (the pid was reused) is never applied back.
func TestPIDReuse(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := cmd.Process.Pid
	p, err := readProc("/proc", pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := setNice(pid, 5); err != nil {
		t.Fatal(err)
	}
	target := "pid:" + strconv.Itoa(pid)
	dir := t.TempDir()
	path := filepath.Join(dir, "journal")
	j, _, err := openJournal(path, false)
	if err != nil {
		t.Fatal(err)
	}
	// An earlier process with this pid got nice 5 from us; its original
	// was 0. The live process also has nice 5, by its own doing.
	rec := journalRecord{Op: opSet, Knob: KnobNice, Target: target, PID: pid, Start: p.start - 1,
		Original: "0", Set: "5", Threads: map[int]string{pid: "0"}}
	if err := j.append(&rec); err != nil {
		t.Fatal(err)
	}
	j.close()

	cfg := DefaultConfig()
	cfg.JournalPath = path
	cfg.Scope.PIDs = []int{pid}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.Recover(context.Background())
	if err != nil || len(res) != 1 || res[0].Status != Skipped {
		t.Fatalf("Recover() = %+v, %v; want one skipped", res, err)
	}
	if n, _ := getNice(pid); n != 5 {
		t.Errorf("nice of the reused pid = %d; want 5, untouched", n)
	}
}
