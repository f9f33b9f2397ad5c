package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func newActuatorsCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "actuators",
		Short: "List the knobs this node's machine has, their values and bounds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return clusterCall(cmd, cf, func(c *client, cmd *cobra.Command) error {
				ctx, cancel := cf.callCtx(cmd.Context())
				defer cancel()
				res, err := c.act.ListKnobs(ctx, &gamesav1.ListKnobsRequest{})
				if err != nil {
					return fmt.Errorf("ListKnobs from %s: %w", cf.addr, err)
				}
				if cf.output == "json" {
					return printJSON(cmd.OutOrStdout(), res)
				}
				writeKnobs(cmd.OutOrStdout(), res)
				return nil
			})
		},
	}
	cf.register(cmd)
	return cmd
}

func writeKnobs(w io.Writer, res *gamesav1.ListKnobsResponse) {
	fmt.Fprintf(w, "mode: %s", res.GetMode())
	if res.GetJournalPending() {
		fmt.Fprint(w, "  (a journal from an earlier run holds changes)")
	}
	fmt.Fprintln(w)
	if b := res.GetBlocked(); b != "" {
		fmt.Fprintf(w, "blocked: %s\n", b)
	}
	for _, t := range res.GetTuners() {
		fmt.Fprintf(w, "other tuner: %s (pid %d) manages %s\n", t.GetName(), t.GetPid(), strings.Join(t.GetKnobs(), ", "))
	}
	if len(res.GetKnobs()) == 0 {
		fmt.Fprintln(w, "no knobs: this machine exposes nothing GAMESA can turn (no cpufreq, RAPL, backlight, ... — a VM?)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KNOB\tTARGET\tVALUE\tRANGE\tWRITABLE\tOWNER")
	for _, k := range res.GetKnobs() {
		rng := ""
		switch {
		case len(k.GetChoices()) > 0:
			rng = strings.Join(k.GetChoices(), "|")
		case k.GetMin() != "" || k.GetMax() != "":
			rng = k.GetMin() + ".." + k.GetMax()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\t%v\t%s\n", k.GetName(), k.GetTarget(), k.GetValue(), k.GetUnit(), rng, k.GetWritable(), k.GetOwner())
	}
	_ = tw.Flush() // a terminal write error has nowhere better to go
}

func newPlanCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show the node's latest plan: what enforce mode does, or would do, and why",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return clusterCall(cmd, cf, func(c *client, cmd *cobra.Command) error {
				ctx, cancel := cf.callCtx(cmd.Context())
				defer cancel()
				res, err := c.act.GetPlan(ctx, &gamesav1.GetPlanRequest{})
				if err != nil {
					return fmt.Errorf("GetPlan from %s: %w", cf.addr, err)
				}
				if cf.output == "json" {
					return printJSON(cmd.OutOrStdout(), res)
				}
				writePlan(cmd.OutOrStdout(), res)
				return nil
			})
		},
	}
	cf.register(cmd)
	return cmd
}

func writePlan(w io.Writer, res *gamesav1.GetPlanResponse) {
	verb := "would do (observe mode: nothing is changed)"
	if res.GetMode() == "enforce" {
		verb = "did (enforce mode)"
	}
	fmt.Fprintf(w, "power mode %s; plan at %s %s\n", res.GetPlan().GetMode(), res.GetEvaluatedAt().AsTime().Local().Format("15:04:05"), verb)
	if len(res.GetPlan().GetActions()) == 0 {
		fmt.Fprintln(w, "no changes: the machine already matches the plan, or has no knobs for it")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, a := range res.GetPlan().GetActions() {
		st := ""
		if i < len(res.GetResults()) {
			r := res.GetResults()[i]
			st = r.GetStatus()
			if r.GetNote() != "" {
				st += " (" + r.GetNote() + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t= %s\t%s\t%s\n", a.GetKnob(), a.GetTarget(), a.GetValue(), st, strings.Join(a.GetReasons(), "; "))
	}
	_ = tw.Flush() // a terminal write error has nowhere better to go
	for _, n := range res.GetNotes() {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func newRevertCmd(cf *clientFlags) *cobra.Command {
	var fromJournal, discard bool
	cmd := &cobra.Command{
		Use:   "revert",
		Short: "Undo every change GAMESA made that is still in place (admin)",
		Long: `Undo every change GAMESA made that is still in place: a value someone else
changed since is left alone. After a damaged journal, the node applies nothing
until you choose: --from-journal restores what the readable part holds,
--discard-journal forgets it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if fromJournal && discard {
				return usageError{fmt.Errorf("--from-journal and --discard-journal exclude each other")}
			}
			return clusterCall(cmd, cf, func(c *client, cmd *cobra.Command) error {
				ctx, cancel := cf.callCtx(cmd.Context())
				defer cancel()
				res, err := c.act.Revert(ctx, &gamesav1.RevertRequest{FromJournal: fromJournal, DiscardJournal: discard})
				if err != nil {
					return fmt.Errorf("revert via %s: %w", cf.addr, err)
				}
				if cf.output == "json" {
					return printJSON(cmd.OutOrStdout(), res)
				}
				for _, r := range res.GetResults() {
					fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %s -> %s (%s)\n", r.GetAction().GetKnob(), r.GetAction().GetTarget(), r.GetPrevious(), r.GetValue(), r.GetStatus())
				}
				fmt.Fprintf(cmd.OutOrStdout(), "reverted %d changes\n", len(res.GetResults()))
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&fromJournal, "from-journal", false, "after a damaged journal: restore what it holds")
	cmd.Flags().BoolVar(&discard, "discard-journal", false, "after a damaged journal: forget it, restore nothing")
	cf.register(cmd)
	return cmd
}

func newPowerCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "power",
		Short: "The node's power mode and the cluster's power budget",
	}
	mode := &cobra.Command{
		Use:   "mode [auto|max_battery|balanced|max_performance|gaming]",
		Short: "Show the power mode, or set it (admin; auto follows AC and battery)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return clusterCall(cmd, cf, func(c *client, cmd *cobra.Command) error {
				ctx, cancel := cf.callCtx(cmd.Context())
				defer cancel()
				if len(args) == 1 {
					res, err := c.act.SetPowerMode(ctx, &gamesav1.SetPowerModeRequest{Mode: args[0]})
					if err != nil {
						return fmt.Errorf("SetPowerMode via %s: %w", cf.addr, err)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "power mode %s (was %s); the next plan follows within a second\n", res.GetMode(), res.GetPrevious())
					return nil
				}
				res, err := c.act.GetPowerMode(ctx, &gamesav1.GetPowerModeRequest{})
				if err != nil {
					return fmt.Errorf("GetPowerMode from %s: %w", cf.addr, err)
				}
				if cf.output == "json" {
					return printJSON(cmd.OutOrStdout(), res)
				}
				how := "chosen by the user"
				if res.GetAutomatic() {
					how = "automatic"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s (%s): %s\n", res.GetMode(), how, res.GetReason())
				return nil
			})
		},
	}
	cf.register(mode)
	cmd.AddCommand(mode)
	return cmd
}
