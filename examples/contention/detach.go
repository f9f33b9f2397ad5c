package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

// detachedEnv marks the harness that detach started.
const detachedEnv = "GAMESA_CONTENTION_DETACHED"

// detach re-runs the harness as an orphan and waits for it, when it is
// not one already. Started by make (or go run), the harness is a child of
// a build tool, and so are the hogs and the agent: the coordinator rightly
// counts a build tool's children as part of the build (a compiler app), so
// the hogs would be measured as a background compile, not as the busy
// unknown apps a person runs. An orphan's parent is init, as for a program
// started from a desktop.
//
// The orphan writes its pid and then its exit status to a pipe; this
// process forwards Ctrl-C and SIGTERM to it (a background job of a
// non-interactive shell ignores SIGINT) and exits with its status.
// It returns false in the orphan, which then runs the benchmark.
func detach() (exitCode int, waited bool) {
	if os.Getenv(detachedEnv) != "" || os.Getppid() == 1 {
		return 0, false
	}
	self, err := os.Executable()
	if err != nil {
		return 0, false // run attached: the figures are still real, just labelled differently
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, false
	}
	sh := exec.Command("/bin/sh", append([]string{"-c", `"$@" &`, "sh", self}, os.Args[1:]...)...)
	sh.Env = append(os.Environ(), detachedEnv+"=1")
	sh.Stdin, sh.Stdout, sh.Stderr = os.Stdin, os.Stdout, os.Stderr
	sh.ExtraFiles = []*os.File{w} // fd 3 in the orphan
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := sh.Run(); err != nil {
		w.Close()
		r.Close()
		return 0, false
	}
	w.Close()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	pid, code := 0, 1 // an orphan that dies without a word failed
	for {
		select {
		case s := <-sigs:
			if pid > 0 {
				_ = syscall.Kill(pid, s.(syscall.Signal)) // it may have just exited
			}
		case line, ok := <-lines:
			if !ok {
				return code, true
			}
			if v, found := strings.CutPrefix(line, "pid "); found {
				pid, _ = strconv.Atoi(v)
			} else if v, found := strings.CutPrefix(line, "exit "); found {
				code, _ = strconv.Atoi(v)
			}
		}
	}
}

// orphanReport is the orphan's side of detach's pipe: nil when the
// harness was not detached.
func orphanReport() *os.File {
	if os.Getenv(detachedEnv) == "" {
		return nil
	}
	syscall.CloseOnExec(3) // the agent and the hogs must not hold it open
	f := os.NewFile(3, "detach-pipe")
	if f == nil {
		return nil
	}
	if _, err := fmt.Fprintf(f, "pid %d\n", os.Getpid()); err != nil {
		return nil
	}
	return f
}
