package procfs_test

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/telemetry/procfs"
)

func TestReadProcessLive(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := int32(cmd.Process.Pid)
	// Start returns once the child exists; its exec (command line, RSS)
	// may still be under way.
	var info procfs.ProcessInfo
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var err error
		if info, err = procfs.ReadProcess("/proc", pid); err != nil {
			t.Fatal(err)
		}
		if info.Process.Cmdline != "" || time.Now().After(deadline) {
			break
		}
	}
	p := info.Process
	if p.PID != pid || p.PPID != int32(os.Getpid()) || p.Name != "sleep" || p.Cmdline != "sleep 30" || p.UID != uint32(os.Getuid()) || p.KernelTask {
		t.Errorf("ReadProcess(sleep) = %+v", *p)
	}
	if info.Start == 0 || !strings.HasSuffix(info.Exe, "sleep") {
		t.Errorf("start %d, exe %q", info.Start, info.Exe)
	}
	start, err := procfs.ProcessStart("/proc", pid)
	if err != nil || start != info.Start {
		t.Errorf("ProcessStart = %d, %v; want %d", start, err, info.Start)
	}
	if kt, err := procfs.ReadProcess("/proc", 2); err == nil && !kt.Process.KernelTask {
		t.Errorf("pid 2 (kthreadd) not a kernel task: %+v", *kt.Process)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := procfs.ReadProcess("/proc", pid); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadProcess(exited) = %v; want fs.ErrNotExist", err)
	}
}

func TestReadProcessFixture(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "42")
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write("stat", "42 (wine64-preloa) S 7 42 42 0 -1 4194560 1 0 0 0 10 5 0 0 20 0 4 0 123456 1000 250 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n")
	write("cmdline", "Z:\\game\\Game.exe\x00-dx11\x00")
	write("status", "Name:\tx\nUid:\t1000\t1000\t1000\t1000\n")
	write("cgroup", "12:cpuset:/\n0::/user.slice/user-1000.slice/app-steam.scope\n")
	info, err := procfs.ReadProcess(root, 42)
	if err != nil {
		t.Fatal(err)
	}
	want := procfs.Process{PID: 42, PPID: 7, Name: "wine64-preloa", Cmdline: `Z:\game\Game.exe -dx11`, UID: 1000, State: "S", Nice: 0, Threads: 4, RSSBytes: 250 * uint64(os.Getpagesize())}
	if *info.Process != want || info.Start != 123456 || info.Cgroup != "/user.slice/user-1000.slice/app-steam.scope" {
		t.Errorf("got %+v start %d cgroup %q; want %+v", *info.Process, info.Start, info.Cgroup, want)
	}
	write("stat", "42 garbage\n")
	if _, err := procfs.ReadProcess(root, 42); err == nil || !strings.Contains(err.Error(), "42/stat") {
		t.Errorf("malformed stat: err %v; want one naming the file", err)
	}
}

// A busy thread makes its process runnable even while the first thread
// sleeps; a process whose threads all sleep is not.
func TestRunnableLooksAtEveryThread(t *testing.T) {
	root := t.TempDir()
	thread := func(tid int, state string) {
		t.Helper()
		dir := filepath.Join(root, "50", "task", strconv.Itoa(tid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		stat := "50 (prog) " + state + " 1 50 50 0 -1 0 1 0 0 0 10 5 0 0 20 0 3 0 123456 1000 250 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	thread(50, "S")
	thread(51, "S")
	if ok, err := procfs.Runnable(root, 50); err != nil || ok {
		t.Errorf("all threads asleep: Runnable = %v, %v; want false", ok, err)
	}
	thread(52, "R")
	if ok, err := procfs.Runnable(root, 50); err != nil || !ok {
		t.Errorf("one thread running: Runnable = %v, %v; want true", ok, err)
	}
	if _, err := procfs.Runnable(root, 60); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing process: err %v; want fs.ErrNotExist", err)
	}
}
