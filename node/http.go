package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/encoding/protojson"
)

// httpHandler serves the node's HTTP endpoints:
//
//	/healthz            200 while samples are fresh, 503 otherwise (JSON body)
//	/metrics            Prometheus text format
//	/gamesa             the live dashboard (node/dashboard) and its APIs under /gamesa/
//	/gamesa/api/sample  the latest sample as JSON (protojson)
//	/debug/pprof/       Go's profiler, only with http.pprof
func (n *Node) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", n.serveHealthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{
		// One odd label set must not blank the whole scrape.
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /gamesa/api/sample", n.serveSample)
	dash := n.dashboardHandler()
	mux.Handle("/gamesa", dash)
	mux.Handle("/gamesa/", dash)
	if n.cfg.HTTP.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/gamesa", http.StatusFound)
	})
	return mux
}

// staleAfter is how many missed ticks make the node unhealthy.
const staleAfter = 5

func (n *Node) serveHealthz(w http.ResponseWriter, _ *http.Request) {
	body := struct {
		Status          string  `json:"status"`
		Node            string  `json:"node"`
		LastSampleAgeS  float64 `json:"last_sample_age_seconds"`
		LastSampleSeq   uint64  `json:"last_sample_seq"`
		StaleAfterTicks int     `json:"stale_after_ticks"`
	}{Status: "ok", Node: n.cfg.NodeID, StaleAfterTicks: staleAfter}
	code := http.StatusOK
	s := n.latest.Load()
	if s == nil {
		body.Status, code = "no sample yet", http.StatusServiceUnavailable
	} else {
		age := time.Since(s.GetTime().AsTime())
		body.LastSampleAgeS, body.LastSampleSeq = age.Seconds(), s.GetSeq()
		if age > staleAfter*n.cfg.Tick {
			body.Status, code = "stale: the local loop has not sampled for "+age.Round(time.Millisecond).String(), http.StatusServiceUnavailable
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body) // the client may be gone; nothing to do about it
}

func (n *Node) serveSample(w http.ResponseWriter, _ *http.Request) {
	s := n.latest.Load()
	if s == nil {
		http.Error(w, "no sample yet", http.StatusServiceUnavailable)
		return
	}
	b, err := protojson.Marshal(s)
	if err != nil {
		http.Error(w, fmt.Sprintf("encoding sample: %v", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b) // as above
}
