// Command gamesa is GAMESA's one binary: `gamesa agent` runs a node; the
// other subcommands are clients of a node's gRPC API.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...". When it
// is not, the module version from the build info is used.
var version = ""

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2 // bad flags, bad config
)

// usageError marks an error the user can fix by changing the command line
// or the config file; it exits with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ce childExit
	if errors.As(err, &ce) { // gamesa run: the program spoke for itself
		return ce.code
	}
	fmt.Fprintln(stderr, "gamesa:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitError
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "gamesa",
		Short: "GAMESA: a peer-to-peer optimization mesh for groups of machines",
		Long: `GAMESA runs one agent per machine. The agent reads the machine, decides what to
tune, shares telemetry with its peers, and serves a gRPC API and a web dashboard.

Start a node:     gamesa agent --dev
Ask it:           gamesa status | gamesa top | grpcurl -plaintext 127.0.0.1:7070 list`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	// Flag parse errors are usage errors (exit 2).
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	cf := &clientFlags{}
	root.AddCommand(
		newAgentCmd(),
		newStatusCmd(cf),
		newTopCmd(cf),
		newHistoryCmd(cf),
		newVersionCmd(),
		newMLCmd(),
		newModelCmd(),
		newMembersCmd(cf),
		newClusterCmd(cf),
		newJoinCmd(cf),
		newLeaveCmd(cf),
		newKeygenCmd(),
		newActuatorsCmd(cf),
		newPlanCmd(cf),
		newRunCmd(&clientFlags{}),
		newAppsCmd(cf),
		newExplainCmd(cf),
		newRulesCmd(),
		newRevertCmd(cf),
		addPowerBudgetCmds(newPowerCmd(cf)),
		newJobCmd(),
		newTLSCmd(),
		newACLCmd(),
	)
	return root
}
