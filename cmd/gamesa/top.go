package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func newTopCmd(cf *clientFlags) *cobra.Command {
	var (
		interval time.Duration
		count    int
		rows     int
	)
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Watch a node's telemetry live",
		Long: `Stream a node's telemetry (WatchTelemetry) and redraw a summary and the busiest
processes on every sample. With -o json, print one JSON sample per line instead.`,
		Example: `  gamesa top
  gamesa top --interval 250ms
  gamesa top -o json --count 10 | jq .cpu.utilization_percent`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if interval < 100*time.Millisecond {
				return usageError{fmt.Errorf("--interval must be at least 100ms; got %v", interval)}
			}
			if count < 0 {
				return usageError{fmt.Errorf("--count must not be negative; got %d", count)}
			}
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			stream, err := c.node.WatchTelemetry(ctx, &gamesav1.WatchTelemetryRequest{Interval: durationpb.New(interval)})
			if err != nil {
				return fmt.Errorf("WatchTelemetry from %s: %w", cf.addr, err)
			}
			var info *gamesav1.NodeInfo
			ictx, cancel := cf.callCtx(ctx)
			if r, err := c.node.GetInfo(ictx, &gamesav1.GetInfoRequest{}); err == nil {
				info = r.GetInfo()
			}
			cancel()
			out := cmd.OutOrStdout()
			redraw := isTerminal(out)
			for n := 0; count == 0 || n < count; n++ {
				msg, err := stream.Recv()
				if err != nil {
					if errors.Is(ctx.Err(), context.Canceled) || status.Code(err) == codes.Canceled {
						return nil // Ctrl-C
					}
					return fmt.Errorf("watching %s: %w", cf.addr, err)
				}
				if cf.output == "json" {
					if err := printJSON(out, msg.GetSample()); err != nil {
						return err
					}
					continue
				}
				if err := drawTop(out, info, msg.GetSample(), rows, redraw); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "time between updates (at least 100ms)")
	cmd.Flags().IntVar(&count, "count", 0, "stop after this many samples (0 = until interrupted)")
	cmd.Flags().IntVar(&rows, "processes", 15, "process rows to show")
	return cmd
}

// drawTop renders one frame. The frame is built in memory and written at once
// so the terminal never shows half a frame.
func drawTop(out io.Writer, info *gamesav1.NodeInfo, s *gamesav1.Sample, rows int, redraw bool) error {
	var b bytes.Buffer
	if redraw {
		b.WriteString("\x1b[H\x1b[2J") // home, clear screen
	} else {
		b.WriteString("----\n")
	}
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	now := time.Now()
	if info != nil {
		fmt.Fprintf(tw, "node\t%s  %s  %d cores  %s\n", info.GetNodeId(), info.GetCpuModel(), info.GetCpuCount(), info.GetVersion())
	}
	writeSample(tw, s, now)
	_ = tw.Flush() // a bytes.Buffer does not fail
	b.WriteByte('\n')
	writeProcesses(&b, s.GetProcesses().GetTop(), rows)
	_, err := out.Write(b.Bytes())
	return err
}

// isTerminal reports whether w is a terminal, where top redraws in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
