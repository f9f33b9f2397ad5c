package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/telemetry/telemetrytest"
)

// snapshotTree reads every regular file under dir as sysfs readers see
// it: without the trailing newline a write may not reproduce, and a
// bracketed choice list ("[default] performance") as its choice.
func snapshotTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	value := func(b []byte) []byte {
		s := strings.TrimSpace(string(b))
		for _, w := range strings.Fields(s) {
			if strings.HasPrefix(w, "[") && strings.HasSuffix(w, "]") {
				return []byte(strings.Trim(w, "[]"))
			}
		}
		return []byte(s)
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = value(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// changedFiles lists the files whose content differs between two snapshots.
func changedFiles(a, b map[string][]byte) []string {
	var out []string
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			out = append(out, k)
		}
	}
	return out
}

// TestEnforceCrashAndRevert runs the real agent in enforce mode over a
// fixture sysfs tree (cpufreq, EPP, platform_profile, RAPL, backlight, USB,
// ASPM, SATA): it changes the machine for MAX_BATTERY; SIGKILL leaves the
// changes and the journal; a restart in observe mode refuses to act until
// `gamesa revert` restores every original from the journal; and a clean
// stop of an enforcing agent reverts by itself.
func TestEnforceCrashAndRevert(t *testing.T) {
	bin := buildBinary(t)
	root := t.TempDir()
	if err := telemetrytest.CopyTree("../../actuators/testdata/fixture", root); err != nil {
		t.Fatal(err)
	}
	sys := filepath.Join(root, "sys")
	original := snapshotTree(t, sys)
	data := t.TempDir()
	args := func(mode string) []string {
		return []string{"--data-dir", data, "--mode", mode, "--power-mode", "max_battery", "--ml=false",
			"--sys-root", sys, "--dev-root", filepath.Join(root, "dev"), "--gpu=false"}
	}

	a := launchAgent(t, bin, args("enforce")...)
	var changed []string
	poll(t, "enforce mode changes the fixture machine", 20*time.Second, func() (bool, string) {
		changed = changedFiles(original, snapshotTree(t, sys))
		return len(changed) >= 3, strings.Join(changed, ", ")
	})
	t.Logf("MAX_BATTERY changed %d files: %s", len(changed), strings.Join(changed, ", "))
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-a.exited
	if left := changedFiles(original, snapshotTree(t, sys)); len(left) == 0 {
		t.Fatal("after SIGKILL nothing is changed: the crash test tests nothing")
	}

	// Observe mode after a crash: the journal waits for a person.
	b := launchAgent(t, bin, args("observe")...)
	out, code := runCLI(t, bin, "actuators", "--addr", b.grpcAddr)
	if code != 0 || !strings.Contains(out, "journal") {
		t.Errorf("gamesa actuators after a crash: exit %d; want the pending journal named\n%s", code, out)
	}
	out, code = runCLI(t, bin, "revert", "--addr", b.grpcAddr)
	if code != 0 {
		t.Fatalf("gamesa revert: exit %d\n%s", code, out)
	}
	if left := changedFiles(original, snapshotTree(t, sys)); len(left) > 0 {
		t.Errorf("after gamesa revert, still changed: %v\n%s", left, out)
	}
	b.stop(t)

	// A clean stop of an enforcing agent reverts on its own.
	c := launchAgent(t, bin, args("enforce")...)
	poll(t, "enforce mode changes the machine again", 20*time.Second, func() (bool, string) {
		return len(changedFiles(original, snapshotTree(t, sys))) >= 3, ""
	})
	out, code = runCLI(t, bin, "plan", "--addr", c.grpcAddr)
	if code != 0 || !strings.Contains(out, "MAX_BATTERY") {
		t.Errorf("gamesa plan: exit %d; want the MAX_BATTERY plan\n%s", code, out)
	}
	c.stop(t)
	if left := changedFiles(original, snapshotTree(t, sys)); len(left) > 0 {
		t.Errorf("after SIGTERM, still changed: %v\n%s", left, c.stderr)
	}
}
