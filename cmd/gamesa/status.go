package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func newStatusCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a node and its latest telemetry",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := cf.callCtx(cmd.Context())
			defer cancel()
			info, err := c.node.GetInfo(ctx, &gamesav1.GetInfoRequest{})
			if err != nil {
				return fmt.Errorf("GetInfo from %s: %w", cf.addr, err)
			}
			tel, err := c.node.GetTelemetry(ctx, &gamesav1.GetTelemetryRequest{})
			if err != nil {
				return fmt.Errorf("GetTelemetry from %s: %w", cf.addr, err)
			}
			out := cmd.OutOrStdout()
			if cf.output == "json" {
				ib, err := jsonOpts.Marshal(info.GetInfo())
				if err != nil {
					return err
				}
				sb, err := jsonOpts.Marshal(tel.GetSample())
				if err != nil {
					return err
				}
				return json.NewEncoder(out).Encode(map[string]json.RawMessage{"info": ib, "sample": sb})
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			now := time.Now()
			writeInfo(tw, info.GetInfo(), now)
			writeSample(tw, tel.GetSample(), now)
			if top := tel.GetSample().GetProcesses().GetTop(); len(top) > 0 {
				_ = tw.Flush() // as in writeProcesses
				fmt.Fprintln(out)
				writeProcesses(out, top, 10)
			}
			return tw.Flush()
		},
	}
	cf.register(cmd)
	return cmd
}
