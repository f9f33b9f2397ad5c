package actuators_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/actuators"
)

// The test binary doubles as the helper processes of the process and
// crash tests, chosen by GAMESA_ACTUATORS_HELPER:
//
//	sleep  a multi-threaded process to change; it starts one more thread
//	       per line read on stdin ("spawn"), and exits when stdin closes.
//	apply  opens a Set from GAMESA_ACTUATORS_CONFIG (configJSON), applies
//	       its plan, prints one helperResult per action as JSON lines,
//	       then "applied", and waits on stdin, to be killed.
const helperEnv = "GAMESA_ACTUATORS_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "sleep":
		helperSleep()
	case "apply":
		helperApply()
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// lockedThread starts a goroutine that keeps an OS thread of its own, and
// returns once it holds it.
func lockedThread() {
	held := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		close(held)
		select {}
	}()
	<-held
}

// threads counts the process's threads.
func threads() int {
	ents, _ := os.ReadDir("/proc/self/task")
	return len(ents)
}

func helperSleep() {
	for range 2 {
		lockedThread()
	}
	fmt.Println("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() != "spawn" {
			continue
		}
		// Each locked goroutine takes an OS thread for good, so once the
		// idle ones are used up the runtime must start a new one.
		n := threads()
		for threads() <= n {
			lockedThread()
		}
		fmt.Println("spawned")
	}
	os.Exit(0)
}

// helperResult is one Result as the apply helper prints it.
type helperResult struct {
	Knob, Target, Status, Err string
}

func helperApply() {
	var c configJSON
	if err := json.Unmarshal([]byte(os.Getenv("GAMESA_ACTUATORS_CONFIG")), &c); err != nil {
		fmt.Fprintln(os.Stderr, "config:", err)
		os.Exit(2)
	}
	s, err := actuators.Open(context.Background(), c.config())
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	enc := json.NewEncoder(os.Stdout)
	for _, r := range s.Apply(context.Background(), plan(c.Plan...)) {
		hr := helperResult{Knob: r.Action.Knob, Target: r.Action.Target, Status: r.Status.String()}
		if r.Err != nil {
			hr.Err = r.Err.Error()
		}
		enc.Encode(hr)
	}
	fmt.Println("applied")
	// Wait to be killed; a closed stdin means the test is gone.
	io.Copy(io.Discard, os.Stdin)
	time.Sleep(time.Minute)
	os.Exit(0)
}
