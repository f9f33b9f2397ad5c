package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/krystalstack/gamesa/node"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func newHistoryCmd(cf *clientFlags) *cobra.Command {
	var (
		since time.Duration
		limit uint32
	)
	cmd := &cobra.Command{
		Use:     "history",
		Short:   "List a node's recorded samples",
		Example: "  gamesa history --since 10m\n  gamesa history --since 1h -o json --limit 5000",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since <= 0 {
				return usageError{fmt.Errorf("--since must be positive; got %v", since)}
			}
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := cf.callCtx(cmd.Context())
			defer cancel()
			now := time.Now()
			resp, err := c.node.ListHistory(ctx, &gamesav1.ListHistoryRequest{
				Start: timestamppb.New(now.Add(-since)), End: timestamppb.New(now), Limit: limit,
			})
			if err != nil {
				return fmt.Errorf("ListHistory from %s: %w", cf.addr, err)
			}
			out := cmd.OutOrStdout()
			if cf.output == "json" {
				return printJSON(out, resp)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "TIME\tSEQ\tCPU%\tMEM%\tMAX°C\tWATTS\t")
			for _, s := range resp.GetSamples() {
				sum := node.Summarize(s)
				fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n", s.GetTime().AsTime().Local().Format("15:04:05.0"), s.GetSeq(),
					sum.GetCpuUtilizationPercent(), sum.GetMemoryUsedPercent(), sum.GetMaxTemperatureCelsius(), sum.GetPowerWatts())
			}
			if resp.GetTruncated() {
				fmt.Fprintf(tw, "(more samples match; raise --limit or shorten --since)\t\t\t\t\t\t\n")
			}
			return tw.Flush()
		},
	}
	cf.register(cmd)
	cmd.Flags().DurationVar(&since, "since", 5*time.Minute, "how far back to list")
	cmd.Flags().Uint32Var(&limit, "limit", 0, "most samples to list (0 = the node's default, 1000)")
	return cmd
}
