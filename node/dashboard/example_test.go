package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/krystalstack/gamesa/node/dashboard"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// oneSample is the smallest Source: a node that took one sample.
type oneSample struct{ s *gamesav1.Sample }

func (o oneSample) Info() *gamesav1.NodeInfo { return &gamesav1.NodeInfo{NodeId: "example"} }

func (o oneSample) Watch(ctx context.Context, _ time.Duration, deliver func(*gamesav1.Sample)) error {
	deliver(o.s)
	<-ctx.Done()
	return nil
}

func (o oneSample) History(_ context.Context, from, to time.Time, limit int) ([]*gamesav1.Sample, bool, error) {
	if t := o.s.GetTime().AsTime(); t.Before(from) || t.After(to) || limit < 1 {
		return nil, false, nil
	}
	return []*gamesav1.Sample{o.s}, false, nil
}

func (o oneSample) Cluster(context.Context) (*gamesav1.GetClusterStateResponse, error) {
	return &gamesav1.GetClusterStateResponse{SelfId: "example", LeaderId: "example"}, nil
}

func Example() {
	src := oneSample{&gamesav1.Sample{
		Time: timestamppb.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), NodeId: "example", Seq: 1,
		Cpu: &gamesav1.CPU{UtilizationPercent: 12.5},
	}}
	h, err := dashboard.New(dashboard.DefaultConfig(), src, slog.New(slog.DiscardHandler))
	if err != nil {
		panic(err)
	}
	defer h.Close() // ends live pages; register it with http.Server.RegisterOnShutdown

	mux := http.NewServeMux()
	mux.Handle("/gamesa", h)
	mux.Handle("/gamesa/", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/gamesa/api/export?format=csv&from=2026-03-01T11:59:00Z&to=2026-03-01T12:01:00Z")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	csv, _ := io.ReadAll(resp.Body)
	fmt.Print(string(csv[:64]) + "…\n")
	fmt.Println(resp.Header.Get("Content-Disposition"))
	// Output:
	// time,seq,node_id,source,cpu_utilization_percent,cpu_user_percent…
	// attachment; filename="gamesa-example-20260301T115900Z-20260301T120100Z.csv"
}
