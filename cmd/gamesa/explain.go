package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/krystalstack/gamesa/optimizer/rules"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func newExplainCmd(cf *clientFlags) *cobra.Command {
	var (
		since  time.Duration
		limit  uint32
		target string
		pid    int32
	)
	cmd := &cobra.Command{
		Use:   "explain [--pid N | --target T] [--since DURATION]",
		Short: "Show the node's latest decision and why: apps, scenario, rules, every action's reasons",
		Long: `explain shows what the node's policy decided and why: the power mode and its
reason, the apps the coordinator found and the foreground, the rules that
fired, every action with its reasons (the part that asked first), the
requests that lost a conflict, the changes hysteresis holds back and the
settings given back. With --since it lists the recorded decisions of that
span instead (a decision is recorded when it changes, and once a minute).`,
		Example: `  gamesa explain
  gamesa explain --pid 4242          (why this process is treated as it is)
  gamesa explain --since 10m -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if pid != 0 {
				if target != "" {
					return usageError{fmt.Errorf("--pid and --target exclude each other")}
				}
				target = fmt.Sprintf("pid:%d", pid)
			}
			if since < 0 {
				return usageError{fmt.Errorf("--since must be positive; got %v", since)}
			}
			return clusterCall(cmd, cf, func(c *client, cmd *cobra.Command) error {
				ctx, cancel := cf.callCtx(cmd.Context())
				defer cancel()
				req := &gamesav1.ExplainDecisionRequest{Target: target, Limit: limit}
				if since > 0 {
					req.From = timestamppb.New(time.Now().Add(-since))
				}
				res, err := gamesav1.NewPolicyServiceClient(c.conn).ExplainDecision(ctx, req)
				if err != nil {
					return fmt.Errorf("ExplainDecision from %s: %w", cf.addr, err)
				}
				if cf.output == "json" {
					return printJSON(cmd.OutOrStdout(), res)
				}
				writeExplain(cmd.OutOrStdout(), res, since == 0)
				return nil
			})
		},
	}
	cf.register(cmd)
	fs := cmd.Flags()
	fs.DurationVar(&since, "since", 0, "list the recorded decisions of this span instead of the latest")
	fs.Uint32Var(&limit, "limit", 0, "with --since: the most decisions to list (default 100, at most 1000)")
	fs.StringVar(&target, "target", "", `only the settings of this target ("pid:1234", "cpu0", "background")`)
	fs.Int32Var(&pid, "pid", 0, "only the settings of this process")
	return cmd
}

func writeExplain(w io.Writer, res *gamesav1.ExplainDecisionResponse, latest bool) {
	if len(res.GetDecisions()) == 0 {
		fmt.Fprintln(w, "no decisions recorded in that span")
		return
	}
	if !latest {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tMODE\tSCENARIO\tFOREGROUND\tACTIONS\tFIRED\tHELD")
		for _, d := range res.GetDecisions() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\n", d.GetTime().AsTime().Local().Format("15:04:05"), d.GetMode(), d.GetScenario(),
				appName(d.GetForeground()), len(d.GetActions()), firedNames(d.GetFired()), len(d.GetHeld()))
		}
		_ = tw.Flush()
		if res.GetTruncated() {
			fmt.Fprintln(w, "(more decisions in that span: use --limit)")
		}
		return
	}
	d := res.GetDecisions()[0]
	verb := "observe mode: shown, nothing changed"
	if res.GetMode() == "enforce" {
		verb = "enforce mode: applied"
	}
	fmt.Fprintf(w, "decision at %s (%s)\n", d.GetTime().AsTime().Local().Format("15:04:05"), verb)
	fmt.Fprintf(w, "power mode %s: %s\n", d.GetMode(), d.GetModeReason())
	fmt.Fprintf(w, "scenario: %s\n", d.GetScenario())
	if f := d.GetForeground(); f != nil {
		fmt.Fprintf(w, "foreground: %s %s (pid %d, %s)\n", f.GetClass(), f.GetName(), f.GetRoot(), d.GetForegroundBy())
	}
	if c := d.GetCap(); c.GetWatts() > 0 {
		fmt.Fprintf(w, "power cap: %.1f W (cluster %.1f W, rule %.1f W %s), measured %.1f W\n",
			c.GetWatts(), c.GetClusterWatts(), c.GetRuleWatts(), c.GetRule(), c.GetMeasuredWatts())
	}
	writeApps(w, d.GetApps())
	if fired := d.GetFired(); len(fired) > 0 {
		fmt.Fprintln(w, "\nrules fired:")
		for _, f := range fired {
			fmt.Fprintf(w, "  %s (priority %d): %s\n", f.GetName(), f.GetPriority(), f.GetReason())
		}
	}
	results := map[string]*gamesav1.ActionResult{}
	for _, r := range res.GetResults() {
		results[r.GetAction().GetKnob()+"\x00"+r.GetAction().GetTarget()] = r
	}
	fmt.Fprintln(w, "\nactions:")
	if len(d.GetActions()) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, a := range d.GetActions() {
		st := ""
		if r := results[a.GetKnob()+"\x00"+a.GetTarget()]; r != nil {
			st = " [" + r.GetStatus()
			if r.GetNote() != "" {
				st += ": " + r.GetNote()
			}
			st += "]"
		}
		fmt.Fprintf(w, "  %s %s = %s%s\n", a.GetKnob(), a.GetTarget(), a.GetValue(), st)
		for _, why := range a.GetReasons() {
			fmt.Fprintf(w, "      because %s\n", why)
		}
	}
	section(w, "overruled", d.GetOverruled(), func(o *gamesav1.OverruledAction) string {
		return fmt.Sprintf("%s %s = %s from %s, lost to %s's %s", o.GetKnob(), o.GetTarget(), o.GetValue(), o.GetSource(), o.GetBy(), o.GetByValue())
	})
	section(w, "held back", d.GetHeld(), func(h *gamesav1.HeldChange) string {
		return fmt.Sprintf("%s %s: %q → %q (%s): %s", h.GetKnob(), h.GetTarget(), h.GetValue(), h.GetWanted(), h.GetSource(), h.GetWhy())
	})
	section(w, "given back", d.GetReleased(), func(r *gamesav1.ReleasedSetting) string {
		return fmt.Sprintf("%s %s: %q → %q: %s", r.GetKnob(), r.GetTarget(), r.GetValue(), r.GetOriginal(), r.GetWhy())
	})
	section(w, "notes", d.GetNotes(), func(n string) string { return n })
}

// quietUnknownCPU is the CPU use below which an app no rule knows is
// left out of the text listing: idle shells and kernel threads say
// nothing about the decision (-o json lists every app).
const quietUnknownCPU = 5

func writeApps(w io.Writer, apps []*gamesav1.DecisionApp) {
	var shown []*gamesav1.DecisionApp
	for _, a := range apps {
		if a.GetRegistered() || a.GetCpuPercent() >= quietUnknownCPU || a.GetClass() != "" && a.GetClass() != "unknown" {
			shown = append(shown, a)
		}
	}
	if len(shown) > 0 {
		fmt.Fprintln(w, "\napps:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  CLASS\tNAME\tROOT\tPROCS\tCPU%\tMATCHED BY")
		for _, a := range shown {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%.1f\t%s\n", a.GetClass(), a.GetName(), a.GetRoot(), len(a.GetPids()), a.GetCpuPercent(), a.GetRule())
		}
		_ = tw.Flush()
	}
	if hidden := len(apps) - len(shown); hidden > 0 {
		fmt.Fprintf(w, "(%d idle apps that no rule knows are not listed; -o json lists them)\n", hidden)
	}
}

func section[T any](w io.Writer, title string, xs []T, line func(T) string) {
	if len(xs) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s:\n", title)
	for _, x := range xs {
		fmt.Fprintf(w, "  %s\n", line(x))
	}
}

func appName(a *gamesav1.DecisionApp) string {
	if a == nil {
		return "-"
	}
	return fmt.Sprintf("%s %s (%d)", a.GetClass(), a.GetName(), a.GetRoot())
}

func firedNames(fs []*gamesav1.FiredRule) string {
	if len(fs) == 0 {
		return "-"
	}
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.GetName()
	}
	return strings.Join(names, ",")
}

// newRulesCmd prints and checks rule files offline, with the agent's
// schema: the same positions and reasons the agent would log.
func newRulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Print the built-in rules, or check rule files before the agent loads them",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "default",
		Short: "Print the built-in rule set (a starting point for your own)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(rules.DefaultSource())
			return err
		},
	}, &cobra.Command{
		Use:   "check FILE...",
		Short: "Compile rule files with the built-in rules and report every mistake with its position",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			schema, err := rules.NewSchema(rules.DefaultConfig())
			if err != nil {
				return err
			}
			files := []rules.File{{Name: "builtin:" + rules.DefaultFileName, Data: rules.DefaultSource()}}
			for _, name := range args {
				b, err := os.ReadFile(name)
				if err != nil {
					return usageError{err}
				}
				files = append(files, rules.File{Name: name, Data: b})
			}
			rs, err := rules.Compile(schema, files...)
			if err != nil {
				return usageError{err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d rules (the built-in ones included)\n", rs.Len())
			return nil
		},
	})
	return cmd
}
