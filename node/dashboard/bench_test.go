package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// BenchmarkEncodeSample: one simulated sample as protojson, whole (history,
// export) and as a live frame (once per sample for all pages).
func BenchmarkEncodeSample(b *testing.B) {
	tw := newTwin(b)
	s := tw.take(2, time.Second)[1]
	for _, bc := range []struct {
		name string
		view func(*gamesav1.Sample) *gamesav1.Sample
	}{
		{"whole", func(s *gamesav1.Sample) *gamesav1.Sample { return s }},
		{"live", liveView},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				out, err := sampleJSON.Marshal(bc.view(s))
				if err != nil {
					b.Fatal(err)
				}
				n = len(out)
			}
			b.ReportMetric(float64(n), "bytes/sample")
		})
	}
}

// BenchmarkExportCSV: the export's cost per sample (both passes).
func BenchmarkExportCSV(b *testing.B) {
	tw := newTwin(b)
	all := tw.publish(1000, time.Second)
	h, err := New(DefaultConfig(), tw, testLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	from, to := all[0].GetTime().AsTime(), all[len(all)-1].GetTime().AsTime()
	req, _ := http.NewRequest(http.MethodGet, "/gamesa/api/export?from="+from.Format(time.RFC3339Nano)+"&to="+to.Format(time.RFC3339Nano), nil)
	b.ReportAllocs()
	for b.Loop() {
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, req)
		if w.code != 0 && w.code != http.StatusOK {
			b.Fatalf("export = %d", w.code)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(all)), "ns/sample")
}

type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }

// BenchmarkFanout10: one sample to 10 live pages that acknowledge at once,
// end to end over loopback (the pages' own work included).
func BenchmarkFanout10(b *testing.B) {
	tw := newTwin(b)
	tw.publish(1, time.Second)
	h, err := New(DefaultConfig(), tw, testLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(h)
	defer ts.Close()
	defer h.Close()
	srv := ts.URL
	const pages = 10
	got := make(chan struct{}, pages*64)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for range pages {
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv, "http")+"/gamesa/ws?rate=60", nil)
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			defer c.CloseNow()
			for {
				_, m, err := c.Read(ctx)
				if err != nil {
					return
				}
				var msg struct{ Type string }
				if json.Unmarshal(m, &msg) == nil && msg.Type == "sample" {
					if c.Write(ctx, websocket.MessageText, []byte(`{"type":"ack","n":1}`)) != nil {
						return
					}
					got <- struct{}{}
				}
			}
		})
	}
	for range pages { // each page's first sample, the latest at connect
		<-got
	}
	samples := tw.take(b.N+1, 10*time.Millisecond)
	b.ResetTimer()
	for i := range b.N {
		tw.add(samples[i])
		for range pages {
			<-got
		}
	}
}
