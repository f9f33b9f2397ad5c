package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRunRegistersTheProgram wraps a shell in gamesa run: while it runs,
// the agent lists its pid as a registered game; the program's exit status
// is gamesa run's; once it exits the registration is gone.
func TestRunRegistersTheProgram(t *testing.T) {
	bin := buildBinary(t)
	a := startAgent(t, bin)
	defer a.stop(t)
	// $$ is the shell's pid: gamesa run's child. The shell polls until the
	// agent lists it, then exits 7.
	script := fmt.Sprintf(`for i in $(seq 100); do
		%[1]s apps --addr %[2]s -o json | grep -q "\"pid\":$$" && exit 7
		sleep 0.1
	done
	exit 1`, bin, a.grpcAddr)
	out, code := runCLI(t, bin, "run", "--addr", a.grpcAddr, "--class", "game", "--priority", "3", "--", "sh", "-c", script)
	if code != 7 {
		t.Fatalf("gamesa run exited %d; want the program's 7 (it saw itself registered)\n%s", code, out)
	}
	var res struct {
		Registrations []struct{ Pid int32 } `json:"registrations"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, code = runCLI(t, bin, "apps", "--addr", a.grpcAddr, "-o", "json")
		if code != 0 {
			t.Fatalf("gamesa apps: exit %d\n%s", code, out)
		}
		res.Registrations = nil
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("gamesa apps -o json: %v\n%s", err, out)
		}
		if len(res.Registrations) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("registration outlived the program: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A program that cannot start is a usage error; a signal's death is
	// 128+signal, as a shell reports it.
	if out, code := runCLI(t, bin, "run", "--addr", a.grpcAddr, "--", "/nonexistent/game"); code != 2 || !strings.Contains(out, "nonexistent") {
		t.Errorf("run of a missing program: exit %d, %q; want 2 naming it", code, out)
	}
	if out, code := runCLI(t, bin, "run", "--addr", a.grpcAddr, "--", "sh", "-c", "kill -TERM $$"); code != 128+15 {
		t.Errorf("run of a program killed by SIGTERM: exit %d; want 143\n%s", code, out)
	}
	// With no agent the program still runs, with a warning.
	if out, code := runCLI(t, bin, "run", "--addr", "127.0.0.1:1", "--", "sh", "-c", "exit 4"); code != 4 || !strings.Contains(out, "runs without GAMESA") {
		t.Errorf("run without an agent: exit %d, %q; want 4 and a warning", code, out)
	}
}
