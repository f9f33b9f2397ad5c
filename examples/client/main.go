// Command client is the smallest useful Go client of a GAMESA node: it
// prints what the node is, then streams a few samples.
//
//	go run ./examples/client --addr 127.0.0.1:7070 --samples 5
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7070", "the node's gRPC address")
	samples := flag.Int("samples", 5, "how many samples to stream")
	interval := flag.Duration("interval", 500*time.Millisecond, "time between samples (at least 100ms)")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, *addr, *samples, *interval, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string, samples int, interval time.Duration, out io.Writer) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	api := gamesav1.NewNodeServiceClient(conn)

	info, err := api.GetInfo(ctx, &gamesav1.GetInfoRequest{})
	if err != nil {
		return fmt.Errorf("GetInfo: %w", err)
	}
	i := info.GetInfo()
	fmt.Fprintf(out, "node %s: %s, %d cores, source %s\n", i.GetNodeId(), i.GetCpuModel(), i.GetCpuCount(), i.GetSource())

	stream, err := api.WatchTelemetry(ctx, &gamesav1.WatchTelemetryRequest{Interval: durationpb.New(interval)})
	if err != nil {
		return fmt.Errorf("WatchTelemetry: %w", err)
	}
	for n := 0; n < samples; n++ {
		msg, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("WatchTelemetry: %w", err)
		}
		s := msg.GetSample()
		hottest := 0.0
		for _, t := range s.GetThermal() {
			hottest = max(hottest, t.GetTemperatureCelsius())
		}
		fmt.Fprintf(out, "seq %d  cpu %5.1f%%  hottest %5.1f°C  power %5.1f W\n",
			s.GetSeq(), s.GetCpu().GetUtilizationPercent(), hottest, s.GetPower().GetTotalWatts())
	}
	return nil
}
