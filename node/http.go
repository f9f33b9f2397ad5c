package node

import (
	"encoding/json"
	"fmt"
	"html/template"
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
//	/gamesa             the dashboard (a summary page until the dashboard issue)
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
	mux.HandleFunc("GET /gamesa", n.serveDashboard)
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

var dashboardTmpl = template.Must(template.New("dash").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="{{.Refresh}}">
<title>GAMESA · {{.Info.NodeId}}</title>
<style>body{font:14px system-ui,sans-serif;margin:2rem;max-width:60rem}table{border-collapse:collapse}td,th{padding:.2rem .8rem;text-align:left;border-bottom:1px solid #8884}@media(prefers-color-scheme:dark){body{background:#111;color:#ddd}}</style>
</head><body>
<h1>GAMESA node {{.Info.NodeId}}</h1>
<p>{{.Info.Hostname}} · {{.Info.CpuModel}} · {{.Info.CpuCount}} cores · source {{.Info.Source}} · mode {{.Info.Mode}} · version {{.Info.Version}}</p>
{{with .Sample}}<table>
<tr><th>CPU</th><td>{{printf "%.1f" .GetCpu.GetUtilizationPercent}} %</td></tr>
<tr><th>Load</th><td>{{printf "%.2f %.2f %.2f" .GetLoad.GetLoad1 .GetLoad.GetLoad5 .GetLoad.GetLoad15}}</td></tr>
<tr><th>Memory used</th><td>{{printf "%.1f" .GetMemory.GetUsedPercent}} %</td></tr>
<tr><th>Power</th><td>{{printf "%.1f" .GetPower.GetTotalWatts}} W</td></tr>
{{range .GetThermal}}<tr><th>{{.GetName}}</th><td>{{printf "%.1f" .GetTemperatureCelsius}} °C</td></tr>{{end}}
{{range .GetCollectors}}<tr><th>collector {{.GetName}}</th><td>{{.GetState}} {{.GetMessage}}</td></tr>{{end}}
</table>{{end}}
<p>The live dashboard arrives with its own issue. Meanwhile: <a href="/metrics">/metrics</a> · <a href="/gamesa/api/sample">latest sample (JSON)</a> · <a href="/healthz">/healthz</a></p>
</body></html>`))

func (n *Node) serveDashboard(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	refresh := max(int(n.cfg.Tick.Seconds()), 1)
	if err := dashboardTmpl.Execute(w, struct {
		Info    any
		Sample  any
		Refresh int
	}{n.info, n.latest.Load(), refresh}); err != nil {
		n.log.Debug("dashboard page", "err", err)
	}
}
