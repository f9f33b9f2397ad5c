package dashboard_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/krystalstack/gamesa/node"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// startNode runs a real node on the simulated machine, on loopback ports the
// OS picks, until the test ends.
func startNode(t *testing.T) *node.Node {
	t.Helper()
	cfg := node.DevConfig()
	cfg.NodeID = "dash-node"
	cfg.DataDir = t.TempDir()
	cfg.GRPC.Address = "127.0.0.1:0"
	cfg.HTTP.Address = "127.0.0.1:0"
	cfg.Cluster.GossipAddress = "127.0.0.1:0"
	cfg.Cluster.RaftAddress = "127.0.0.1:0"
	cfg.Telemetry.Source = "sim"
	cfg.Sim.Scenario = "game"
	cfg.History.MinInterval = 0 // every sample on disk: the export reads the recorder
	cfg.ML.Enabled = false      // the models' bootstrap is not what these tests test
	cfg.Logger = slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := node.New(cfg, "test")
	if err != nil {
		t.Fatalf("node.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	select {
	case <-n.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("Run ended before ready: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("node not ready within 30s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v; want nil after cancel", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("node did not stop within 30s")
		}
	})
	return n
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// recorded asks the node's gRPC API for its history over [from, to].
func recorded(t *testing.T, n *node.Node, from, to time.Time) []*gamesav1.Sample {
	t.Helper()
	conn, err := grpc.NewClient(n.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := gamesav1.NewNodeServiceClient(conn).ListHistory(ctx, &gamesav1.ListHistoryRequest{
		Start: timestamppb.New(from), End: timestamppb.New(to), Limit: 10000,
	})
	if err != nil {
		t.Fatalf("ListHistory: %v", err)
	}
	if resp.GetTruncated() {
		t.Fatalf("ListHistory [%v, %v] truncated", from, to)
	}
	return resp.GetSamples()
}

// checkCSV checks an exported CSV against the recorded samples, row by row
// and exactly: the export must hold the node's numbers, not approximations.
func checkCSV(t *testing.T, data []byte, want []*gamesav1.Sample) {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("export does not parse as CSV: %v", err)
	}
	if len(recs) < 2 {
		t.Fatalf("export has %d records; want a header and rows", len(recs))
	}
	col := make(map[string]int)
	for i, name := range recs[0] {
		col[name] = i
	}
	rows := recs[1:]
	if len(rows) != len(want) {
		t.Fatalf("export has %d rows; the node recorded %d in the range", len(rows), len(want))
	}
	for i, row := range rows {
		s := want[i]
		if got := row[col["seq"]]; got != strconv.FormatUint(s.GetSeq(), 10) {
			t.Fatalf("row %d: seq %s; recorded %d", i, got, s.GetSeq())
		}
		if tm, err := time.Parse(time.RFC3339Nano, row[col["time"]]); err != nil || !tm.Equal(s.GetTime().AsTime()) {
			t.Errorf("row %d: time %q; recorded %v", i, row[col["time"]], s.GetTime().AsTime())
		}
		if got, err := strconv.ParseFloat(row[col["cpu_utilization_percent"]], 64); err != nil || got != s.GetCpu().GetUtilizationPercent() {
			t.Errorf("row %d: cpu %q; recorded %v", i, row[col["cpu_utilization_percent"]], s.GetCpu().GetUtilizationPercent())
		}
		for _, ts := range s.GetThermal() {
			name := "temp[" + ts.GetName() + "].celsius"
			j, ok := col[name]
			if !ok {
				t.Fatalf("export lacks column %q", name)
			}
			if got, err := strconv.ParseFloat(row[j], 64); err != nil || got != ts.GetTemperatureCelsius() {
				t.Errorf("row %d: %s = %q; recorded %v", i, name, row[j], ts.GetTemperatureCelsius())
			}
		}
		if got, err := strconv.ParseFloat(row[col["power_total_watts"]], 64); err != nil || got != s.GetPower().GetTotalWatts() {
			t.Errorf("row %d: power %q; recorded %v", i, row[col["power_total_watts"]], s.GetPower().GetTotalWatts())
		}
	}
}

// TestNodeServesDashboard drives the dashboard the node mounts with plain
// clients: the page, a live WebSocket at 10 updates a second, and an export
// that matches what the node recorded.
func TestNodeServesDashboard(t *testing.T) {
	n := startNode(t)
	base := "http://" + n.HTTPAddr().String()

	resp, err := http.Get(base + "/gamesa")
	if err != nil {
		t.Fatalf("GET /gamesa: %v", err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte("dash-node")) {
		t.Fatalf("GET /gamesa = %d %.200s; want the page naming the node", resp.StatusCode, page)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+n.HTTPAddr().String()+"/gamesa/ws?rate=10", nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.CloseNow()
	var samples []*gamesav1.Sample
	for len(samples) < 15 {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("Read after %d samples: %v", len(samples), err)
		}
		var m struct {
			Type   string
			Sample json.RawMessage
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("message: %v", err)
		}
		if m.Type != "sample" {
			continue
		}
		s := &gamesav1.Sample{}
		if err := protojson.Unmarshal(m.Sample, s); err != nil {
			t.Fatalf("sample: %v", err)
		}
		if k := len(samples); k > 0 && s.GetSeq() <= samples[k-1].GetSeq() {
			t.Fatalf("seq %d after %d; live updates must advance", s.GetSeq(), samples[k-1].GetSeq())
		}
		samples = append(samples, s)
		if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"ack","n":1}`)); err != nil {
			t.Fatalf("ack: %v", err)
		}
	}
	// A 10 Hz page makes the node sample at 10 Hz: 15 samples span well
	// under the 1 s tick's 14 s.
	if span := samples[14].GetTime().AsTime().Sub(samples[0].GetTime().AsTime()); span > 7*time.Second {
		t.Errorf("15 samples at rate 10 span %v; the node did not speed up for the page", span)
	}
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}

	from, to := samples[0].GetTime().AsTime(), samples[len(samples)-1].GetTime().AsTime()
	q := url.Values{"format": {"csv"}, "from": {from.Format(time.RFC3339Nano)}, "to": {to.Format(time.RFC3339Nano)}}
	resp, err = http.Get(base + "/gamesa/api/export?" + q.Encode())
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export = %d %s", resp.StatusCode, data)
	}
	checkCSV(t, data, recorded(t, n, from, to))
}
