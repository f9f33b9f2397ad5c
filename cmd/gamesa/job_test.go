package main

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func TestParseWatts(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"3500W", 3500, true},
		{"3500", 3500, true},
		{"3.5kW", 3500, true},
		{"3.5 kw", 3500, true},
		{" 120 W ", 120, true},
		{"off", 0, true},
		{"none", 0, true},
		{"0", 0, true},
		{"-5W", 0, false},
		{"lots", 0, false},
		{"NaN", 0, false},
		{"Inf", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := parseWatts(tt.in)
		if (err == nil) != tt.ok || (tt.ok && math.Abs(got-tt.want) > 1e-9) {
			t.Errorf("parseWatts(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestJobRunUsage: a submission without a name or a command is the
// user's mistake (exit 2), found before any node is asked.
func TestJobRunUsage(t *testing.T) {
	for _, args := range [][]string{
		{"job", "run", "--", "sleep", "1"},
		{"job", "run", "--name", "x"},
		{"power", "budget", "lots"},
	} {
		var out, errOut bytes.Buffer
		if code := run(append(args, "--addr", "127.0.0.1:1"), &out, &errOut); code != exitUsage {
			t.Errorf("gamesa %s: exit %d; want %d (usage)\n%s", strings.Join(args, " "), code, exitUsage, errOut.String())
		}
	}
}

// squeeze turns every run of spaces into one, so tests do not depend on
// the table's column widths.
func squeeze(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

func TestWriteJob(t *testing.T) {
	j := &gamesav1.Job{
		Spec: &gamesav1.JobSpec{Id: "render-1", Cores: 2, MemoryBytes: 2 << 30, Command: []string{"blender", "-b"},
			Constraints: []*gamesav1.Label{{Key: "zone", Value: "a"}}},
		State:    gamesav1.JobState_JOB_STATE_RUNNING,
		Reason:   "running on s2 (pid 42)",
		Current:  &gamesav1.JobRun{RunId: 17, NodeId: "s2", State: gamesav1.RunState_RUN_STATE_RUNNING, Pid: 42},
		History:  []*gamesav1.JobRun{{RunId: 9, NodeId: "s1", State: gamesav1.RunState_RUN_STATE_LOST, Reason: "node s1 failed"}},
		Runs:     2,
		Draining: nil,
	}
	var b bytes.Buffer
	writeJob(&b, j)
	for _, want := range []string{
		"state running", "needs 2 cores, 2GiB memory, 0 GPUs, zone=a",
		"current run 17 on s2: running, pid 42", "ended run 9 on s1: lost (node s1 failed)", "runs 2 placed",
	} {
		if !strings.Contains(squeeze(b.String()), want) {
			t.Errorf("writeJob = \n%s\nwant a line with %q", b.String(), want)
		}
	}
	b.Reset()
	writeJobs(&b, []*gamesav1.Job{j})
	if !strings.Contains(squeeze(b.String()), "render-1 running s2 17 2 2GiB 0 running on s2 (pid 42)") {
		t.Errorf("writeJobs = \n%s", b.String())
	}
}

// TestJobCommands drives a --dev agent that runs jobs through every job
// and budget command, as a user would.
func TestJobCommands(t *testing.T) {
	bin := buildBinary(t)
	a := startAgent(t, bin, "--source", "sim", "--enable-jobs", "--node-label", "zone=home", "--allocate-interval", "500ms")
	cli := func(args ...string) (string, int) {
		t.Helper()
		return runCLI(t, bin, append([]string{args[0], args[1]}, append([]string{"--addr", a.grpcAddr}, args[2:]...)...)...)
	}
	poll(t, "the node registered", 20*time.Second, func() (bool, string) {
		out, code := cli("power", "budget", "-o", "json")
		return code == 0 && strings.Contains(out, `"jobs_enabled":true`), out
	})
	if out, code := cli("job", "run", "--name", "hello", "--cpu", "1", "--mem", "16MiB", "--constraint", "zone=home",
		"--", "sh", "-c", "echo hello from $GAMESA_NODE; sleep 60"); code != 0 || !strings.Contains(out, "job hello submitted: pending") {
		t.Fatalf("job run: exit %d\n%s", code, out)
	}
	poll(t, "the job running", 20*time.Second, func() (bool, string) {
		out, code := cli("job", "ls")
		return code == 0 && strings.Contains(squeeze(out), "hello running"), out
	})
	out, code := cli("job", "status", "hello")
	if code != 0 || !strings.Contains(squeeze(out), "current run") || !strings.Contains(out, "zone=home") {
		t.Errorf("job status: exit %d\n%s", code, out)
	}
	poll(t, "the job's output", 10*time.Second, func() (bool, string) {
		out, code := cli("job", "logs", "hello")
		return code == 0 && strings.HasPrefix(out, "hello from ") && strings.Count(out, "\n") == 1, out
	})
	if out, code := cli("job", "run", "--name", "far", "--constraint", "zone=away", "--", "true"); code != 1 || !strings.Contains(out, "InvalidArgument") || !strings.Contains(out, "zone=away") {
		t.Errorf("job run with an unknown label: exit %d; want 1 with InvalidArgument naming the label\n%s", code, out)
	}
	if out, code := cli("job", "stop", "hello"); code != 0 || !strings.Contains(out, "stopping") {
		t.Errorf("job stop: exit %d\n%s", code, out)
	}
	poll(t, "the job stopped", 20*time.Second, func() (bool, string) {
		out, _ := cli("job", "status", "hello")
		return strings.Contains(squeeze(out), "state stopped") && strings.Contains(out, "stopped on request"), out
	})

	if out, code := cli("power", "budget", "1W"); code != 1 || !strings.Contains(out, "FailedPrecondition") || !strings.Contains(out, "floors") {
		t.Errorf("power budget below the floor: exit %d; want 1, FailedPrecondition about the floors\n%s", code, out)
	}
	if out, code := cli("power", "budget", "80W"); code != 0 || !strings.Contains(out, "power budget 80 W") {
		t.Fatalf("power budget 80W: exit %d\n%s", code, out)
	}
	poll(t, "a cap", 20*time.Second, func() (bool, string) {
		out, code := cli("power", "budget")
		return code == 0 && strings.Contains(squeeze(out), "budget 80 W") && strings.Contains(out, "cap"), fmt.Sprint(code, out)
	})
}

// FuzzParseWatts: whatever a user types, parseWatts returns a finite,
// non-negative power or an error, never a panic.
func FuzzParseWatts(f *testing.F) {
	for _, s := range []string{"3500W", "3.5kW", "off", "-1", "1e400", "NaN", "kw", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := parseWatts(s)
		if err == nil && (math.IsNaN(w) || math.IsInf(w, 0) || w < 0) {
			t.Fatalf("parseWatts(%q) = %v, nil", s, w)
		}
	})
}
