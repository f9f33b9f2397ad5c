package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// addPowerBudgetCmds puts the cluster's power budget under `gamesa power`.
func addPowerBudgetCmds(power *cobra.Command) *cobra.Command {
	power.AddCommand(newPowerBudgetCmd())
	return power
}

func newPowerBudgetCmd() *cobra.Command {
	cf := &clientFlags{}
	var stale bool
	cmd := &cobra.Command{
		Use:   "budget [WATTS|off]",
		Short: "Show the cluster's power budget and each node's cap, or set it (admin)",
		Long: `The cluster's power budget is the most its nodes may draw together (a circuit
breaker's rating less a margin). The leader splits it into a cap per node:
each node gets its floor, then what it wants by priority (a game in play
outweighs an idle machine), and the caps never sum above the budget. A
budget below the sum of the nodes' floors is refused.`,
		Example: `  gamesa power budget 3500W
  gamesa power budget 3.5kW
  gamesa power budget          # show the budget and the caps
  gamesa power budget off      # lift the budget and every cap`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var watts float64
			if len(args) == 1 {
				w, err := parseWatts(args[0])
				if err != nil {
					return usageError{err}
				}
				watts = w
			}
			return clusterCall(cmd, cf, func(c *client, cmd *cobra.Command) error {
				ctx, cancel := cf.callCtx(cmd.Context())
				defer cancel()
				if len(args) == 1 {
					res, err := allocClient(c).SetPowerBudget(ctx, &gamesav1.SetPowerBudgetRequest{BudgetWatts: watts})
					if err != nil {
						return fmt.Errorf("SetPowerBudget via %s: %w", cf.addr, err)
					}
					if cf.output == "json" {
						return printJSON(cmd.OutOrStdout(), res)
					}
					if watts == 0 {
						fmt.Fprintln(cmd.OutOrStdout(), "power budget lifted: the caps go within an allocation interval")
					} else {
						fmt.Fprintf(cmd.OutOrStdout(), "power budget %s: the leader splits it within an allocation interval\n", wattsText(watts))
					}
					return nil
				}
				res, err := allocClient(c).GetAllocation(ctx, &gamesav1.GetAllocationRequest{Stale: stale})
				if err != nil {
					return fmt.Errorf("GetAllocation from %s: %w", cf.addr, err)
				}
				if cf.output == "json" {
					return printJSON(cmd.OutOrStdout(), res)
				}
				writeBudget(cmd.OutOrStdout(), res)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&stale, "stale", false, "answer from a replica without asking the leader")
	cf.register(cmd)
	return cmd
}

// parseWatts reads a power such as 3500W, 3.5kW, 3500 or off (0).
func parseWatts(s string) (float64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "off" || t == "none" {
		return 0, nil
	}
	mult := 1.0
	switch {
	case strings.HasSuffix(t, "kw"):
		t, mult = strings.TrimSuffix(t, "kw"), 1000
	case strings.HasSuffix(t, "w"):
		t = strings.TrimSuffix(t, "w")
	}
	w, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
		return 0, fmt.Errorf("%q is not a power: write it like 3500W, 3.5kW or off", s)
	}
	return w * mult, nil
}

func wattsText(w float64) string { return strconv.FormatFloat(w, 'f', -1, 64) + " W" }

func writeBudget(w io.Writer, res *gamesav1.GetAllocationResponse) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	b := res.GetBudget().GetBudgetWatts()
	if b == 0 {
		fmt.Fprintln(tw, "budget\tnone")
	} else {
		fmt.Fprintf(tw, "budget\t%s\n", wattsText(b))
	}
	a := res.GetAllocation()
	fmt.Fprintf(tw, "epoch\t%d\n", a.GetEpoch())
	var total int64
	for _, c := range a.GetCaps() {
		total += c.GetCapMilliwatts()
		fmt.Fprintf(tw, "cap\t%s\t%.1f W\t%s\n", c.GetNodeId(), float64(c.GetCapMilliwatts())/1000, c.GetReason())
	}
	if len(a.GetCaps()) > 0 {
		fmt.Fprintf(tw, "total\t%.1f W of %s\n", float64(total)/1000, wattsText(b))
	}
	_ = tw.Flush() // a terminal write error has nowhere better to go
}
