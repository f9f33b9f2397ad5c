package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// childExit carries a wrapped program's exit status out of `gamesa run`,
// so the shell sees the program's status, not gamesa's.
type childExit struct{ code int }

func (e childExit) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// forwardedSignals are passed on to the wrapped program: a terminal's
// Ctrl-C reaches it directly (same process group), a kill of gamesa run
// reaches it through us.
var forwardedSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

func newRunCmd(cf *clientFlags) *cobra.Command {
	var (
		class    string
		priority int32
	)
	cmd := &cobra.Command{
		Use:   "run [--class CLASS] [--priority N] -- COMMAND [ARG...]",
		Short: "Run a program as the app you care about, like gamemoderun (admin)",
		Long: `run starts COMMAND, registers its process with the agent (AppService.RegisterApp)
as the foreground app, waits for it, unregisters it, and exits with its status.
The agent's coordinator then plans for it at once: whole cores for a game,
priority and cgroup weight, and the busy background moved out of its way
(applied in enforce mode; shown by gamesa plan and gamesa explain in observe
mode). When the agent cannot be reached the program runs anyway, and a
warning says so. Signals sent to gamesa run are passed on to the program.`,
		Example: `  gamesa run -- %command%                      (a Steam launch option)
  gamesa run -- wine64 Game.exe
  gamesa run --class renderer -- blender -b scene.blend -a
  gamesa run --class voice_chat --priority -1 -- mumble`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("give the command to run after --, e.g. gamesa run -- ./game")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cf.validate(); err != nil {
				return err
			}
			child := exec.Command(args[0], args[1:]...)
			child.Stdin, child.Stdout, child.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
			// Signals are caught before the child starts, so none is lost
			// in between and none kills us while the child runs on.
			sigs := make(chan os.Signal, 4)
			signal.Notify(sigs, forwardedSignals...)
			defer signal.Stop(sigs)
			if err := child.Start(); err != nil {
				return usageError{err}
			}
			pid := int32(child.Process.Pid)
			unregister := registerApp(cmd, cf, pid, class, priority)
			done := make(chan error, 1)
			go func() { done <- child.Wait() }()
			var err error
		wait:
			for {
				select {
				case s := <-sigs:
					_ = child.Process.Signal(s) // it may have exited just now
				case err = <-done:
					break wait
				}
			}
			unregister()
			return exitStatusOf(err)
		},
	}
	cf.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&class, "class", "game", "the app's class: game, voice_chat, browser, ide, compiler, renderer, streamer, background, desktop or launcher")
	fs.Int32Var(&priority, "priority", 0, "among several registered apps, the highest priority is the foreground")
	return cmd
}

// registerApp registers pid and returns the function that unregisters it.
// A node that cannot be reached or refuses costs a warning, never the run.
func registerApp(cmd *cobra.Command, cf *clientFlags, pid int32, class string, priority int32) func() {
	warn := func(what string, err error) {
		fmt.Fprintf(cmd.ErrOrStderr(), "gamesa run: %s (the program runs without GAMESA): %v\n", what, err)
	}
	c, err := cf.dial()
	if err != nil {
		warn("cannot reach the agent", err)
		return func() {}
	}
	apps := gamesav1.NewAppServiceClient(c.conn)
	ctx, cancel := cf.callCtx(cmd.Context())
	_, err = apps.RegisterApp(ctx, &gamesav1.RegisterAppRequest{Pid: pid, Class: class, Priority: priority})
	cancel()
	if err != nil {
		warn("registering with the agent at "+cf.addr+" failed", err)
		c.Close()
		return func() {}
	}
	return func() {
		defer c.Close()
		// The agent forgets an exited pid by itself; this only makes it
		// prompt. The command's context may be done by now.
		ctx, cancel := cf.callCtx(context.Background())
		defer cancel()
		if _, err := apps.UnregisterApp(ctx, &gamesav1.UnregisterAppRequest{Pid: pid}); err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "gamesa run: unregistering pid %d: %v\n", pid, err)
		}
	}
}

// exitStatusOf turns the wrapped program's end into gamesa's: its exit
// code, or 128 + the signal that killed it, as a shell reports it.
func exitStatusOf(err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return err
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return childExit{128 + int(ws.Signal())}
	}
	return childExit{ee.ExitCode()}
}

func newAppsCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apps",
		Short: "List the apps registered as the foreground (gamesa run, RegisterApp)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return clusterCall(cmd, cf, func(c *client, cmd *cobra.Command) error {
				ctx, cancel := cf.callCtx(cmd.Context())
				defer cancel()
				res, err := gamesav1.NewAppServiceClient(c.conn).ListApps(ctx, &gamesav1.ListAppsRequest{})
				if err != nil {
					return err
				}
				if cf.output == "json" {
					return printJSON(cmd.OutOrStdout(), res)
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "PID\tNAME\tCLASS\tPRIORITY\tREGISTERED")
				for _, r := range res.GetRegistrations() {
					fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%s\n", r.GetPid(), r.GetName(), r.GetClass(), r.GetPriority(),
						r.GetRegisteredAt().AsTime().Local().Format("15:04:05"))
				}
				return w.Flush()
			})
		},
	}
	cf.register(cmd)
	return cmd
}
