package dashboard

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func get(t *testing.T, srv string, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv+path, nil)
	if err != nil {
		t.Fatalf("NewRequest(%q): %v", path, err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	// A bare transport: the default one would ask for gzip and undo it.
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s body: %v", path, err)
	}
	return resp, b
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v; want nil", err)
	}
	for _, tc := range []struct {
		field  string
		mutate func(*Config)
	}{
		{"Prefix", func(c *Config) { c.Prefix = "" }},
		{"Prefix", func(c *Config) { c.Prefix = "/gamesa/" }},
		{"Prefix", func(c *Config) { c.Prefix = "/{x}" }},
		{"Prefix", func(c *Config) { c.Prefix = "/a b" }},
		{"MaxRate", func(c *Config) { c.MaxRate = 0 }},
		{"DefaultRate", func(c *Config) { c.DefaultRate = 61 }},
		{"InFlight", func(c *Config) { c.InFlight = 0 }},
		{"WriteTimeout", func(c *Config) { c.WriteTimeout = 0 }},
		{"ClusterInterval", func(c *Config) { c.ClusterInterval = -time.Second }},
		{"MaxClients", func(c *Config) { c.MaxClients = 0 }},
		{"MaxPoints", func(c *Config) { c.MaxPoints = 1 }},
		{"ExportPage", func(c *Config) { c.ExportPage = 0 }},
	} {
		c := DefaultConfig()
		tc.mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("Validate(%+v) = %v; want an error naming %s", c, err, tc.field)
		}
	}
	if _, err := New(DefaultConfig(), nil, testLogger(t)); err == nil {
		t.Error("New(nil source) = nil error; want one")
	}
}

func TestPage(t *testing.T) {
	tw := newTwin(t)
	tw.publish(1, time.Second)
	h, srv := serve(t, tw, nil)
	resp, body := get(t, srv.URL, "/gamesa")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "twin") {
		t.Fatalf("GET /gamesa = %d %.300s; want 200 naming the node", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy = %q; want default-src 'self'", csp)
	}
	if resp2, body2 := get(t, srv.URL, "/gamesa/"); resp2.StatusCode != http.StatusOK || !bytes.Equal(body2, body) {
		t.Errorf("GET /gamesa/ = %d; want the same page as /gamesa", resp2.StatusCode)
	}
	if !h.assets.built() {
		if !strings.Contains(string(body), "make build") {
			t.Errorf("unbuilt page = %.300s; want it to say how to build", body)
		}
		t.Skip("the front end is not built (make dashboard): asset checks skipped")
	}
	for _, name := range []string{"app.js", "app.css"} {
		v := h.assets.version(name)
		ref := fmt.Sprintf("/gamesa/assets/%s?v=%s", name, v)
		if !strings.Contains(string(body), ref) {
			t.Errorf("page does not load %s", ref)
		}
		resp, plain := get(t, srv.URL, ref)
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || len(plain) == 0 {
			t.Errorf("GET %s = %d, Cache-Control %q, %d bytes; want 200, immutable, a body", ref, resp.StatusCode, resp.Header.Get("Cache-Control"), len(plain))
		}
		resp, zipped := get(t, srv.URL, ref, "Accept-Encoding", "br, gzip")
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("GET %s with gzip: Content-Encoding = %q; want gzip", ref, resp.Header.Get("Content-Encoding"))
		} else if zr, err := gzip.NewReader(bytes.NewReader(zipped)); err != nil {
			t.Errorf("gzip.NewReader: %v", err)
		} else if un, err := io.ReadAll(zr); err != nil || !bytes.Equal(un, plain) {
			t.Errorf("gunzipped %s differs from the plain body (err %v)", name, err)
		}
		resp, _ = get(t, srv.URL, "/gamesa/assets/"+name, "If-None-Match", `"`+v+`"`)
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s If-None-Match = %d; want 304", name, resp.StatusCode)
		}
		resp, _ = get(t, srv.URL, "/gamesa/assets/"+name+"?v=stale")
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s?v=stale: Cache-Control = %q; want no-cache", name, cc)
		}
	}
	for _, p := range []string{"/gamesa/assets/README.md", "/gamesa/assets/nope.js", "/gamesa/nope"} {
		if resp, _ := get(t, srv.URL, p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d; want 404", p, resp.StatusCode)
		}
	}
}

// TestUnbuiltPage: a binary built before its assets serves a page that says
// how to build them, whatever this checkout holds.
func TestUnbuiltPage(t *testing.T) {
	tmpl, err := parsePage(assetSet{files: map[string]*asset{}})
	if err != nil {
		t.Fatalf("parsePage: %v", err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, pageData{Prefix: "/p", NodeID: "n1"}); err != nil {
		t.Fatalf("Execute: %v", err)
	}
	for _, want := range []string{"npm ci", "make build", `href="/p/api/export?format=csv"`, "n1"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("unbuilt page lacks %q", want)
		}
	}
}

type historyBody struct {
	From, To int64
	Thinned  bool
	Samples  []json.RawMessage
}

func decodeHistory(t *testing.T, b []byte) (historyBody, []*gamesav1.Sample) {
	t.Helper()
	var hb historyBody
	if err := json.Unmarshal(b, &hb); err != nil {
		t.Fatalf("history body: %v: %.200s", err, b)
	}
	var out []*gamesav1.Sample
	for _, raw := range hb.Samples {
		s := &gamesav1.Sample{}
		if err := protojson.Unmarshal(raw, s); err != nil {
			t.Fatalf("history sample: %v", err)
		}
		out = append(out, s)
	}
	return hb, out
}

func TestHistory(t *testing.T) {
	tw := newTwin(t)
	all := tw.publish(120, time.Second)
	_, srv := serve(t, tw, func(c *Config) { c.MaxPoints = 500 })
	first, last := all[0].GetTime().AsTime(), all[len(all)-1].GetTime().AsTime()

	resp, b := get(t, srv.URL, "/gamesa/api/history?from="+ms(first)+"&to="+url.QueryEscape(last.Format(time.RFC3339Nano)))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("history = %d %s", resp.StatusCode, b)
	}
	hb, got := decodeHistory(t, b)
	if hb.Thinned || len(got) != len(all) {
		t.Fatalf("history: %d samples, thinned %v; want all %d, not thinned", len(got), hb.Thinned, len(all))
	}
	for i := range got {
		if !proto.Equal(got[i], all[i]) {
			t.Fatalf("history sample %d differs from the recorded one", i)
		}
	}

	// Thinned: one sample from each tenth of the range, in order.
	_, b = get(t, srv.URL, "/gamesa/api/history?points=10&from="+ms(first)+"&to="+ms(last))
	hb, got = decodeHistory(t, b)
	if !hb.Thinned || len(got) != 10 {
		t.Fatalf("history points=10: %d samples, thinned %v; want 10, thinned", len(got), hb.Thinned)
	}
	slice := last.Sub(first) / 10
	for i, s := range got {
		lo := first.Add(time.Duration(i) * slice)
		if st := s.GetTime().AsTime(); st.Before(lo) || !st.Before(lo.Add(slice+time.Millisecond)) {
			t.Errorf("thinned sample %d at %v; want within [%v, %v)", i, st, lo, lo.Add(slice))
		}
	}

	for _, tc := range []struct{ query, want string }{
		{"from=" + ms(last) + "&to=" + ms(first), "before"},
		{"from=yesterday", "RFC 3339"},
		{"to=99999999999999999", "1678-2262"},
		{"from=" + ms(first.AddDate(-2, 0, 0)) + "&to=" + ms(first), "longer"},
		{"points=1", "points"},
		{"points=501", "points"},
		{"points=x", "points"},
	} {
		resp, b := get(t, srv.URL, "/gamesa/api/history?"+tc.query)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), tc.want) {
			t.Errorf("history?%s = %d %q; want 400 mentioning %q", tc.query, resp.StatusCode, b, tc.want)
		}
	}
}

// exportSamples builds a range that exercises every CSV rule: a GPU that
// appears midway, insights from some samples on, samples sharing a time
// across a page boundary.
func exportSamples(t *testing.T, tw *twin) []*gamesav1.Sample {
	t.Helper()
	var out []*gamesav1.Sample
	for i, s := range tw.take(23, time.Second) {
		s = clone(s)
		s.Seq += 1000
		if i < 8 {
			s.Gpus = nil // the GPU shows up at the ninth sample
		}
		if i >= 12 {
			s.Insights = &gamesav1.Insights{
				AnomalyScore: 0.25 + float64(i)/100, AnomalyThreshold: 0.5, Anomalous: i == 20,
				WorkloadClass: "game", WorkloadConfidence: 0.875,
				ThermalForecast: []*gamesav1.ThermalForecast{{HorizonSeconds: 10, Celsius: 70.125 + float64(i)}},
			}
		}
		out = append(out, s)
	}
	// Four samples at one instant, straddling the export pages (5 and 6 samples).
	same := out[len(out)-1].GetTime().AsTime().Add(time.Second)
	for k := range 4 {
		s := clone(out[len(out)-1])
		s.Time = timestamppb.New(same)
		s.Seq = 2000 + uint64(k)
		out = append(out, s)
	}
	tail := clone(out[len(out)-1])
	tail.Time = timestamppb.New(same.Add(time.Second))
	tail.Seq = 3000
	out = append(out, tail)
	return out
}

func TestExportCSV(t *testing.T) {
	tw := newTwin(t)
	tw.publish(3, time.Second) // before the range: must not be exported
	want := exportSamples(t, tw)
	for _, s := range want {
		tw.add(s)
	}
	tw.publish(2, time.Hour) // after it
	_, srv := serve(t, tw, func(c *Config) { c.ExportPage = 6 })
	from, to := want[0].GetTime().AsTime(), want[len(want)-1].GetTime().AsTime()

	resp, b := get(t, srv.URL, "/gamesa/api/export?from="+url.QueryEscape(from.Format(time.RFC3339Nano))+"&to="+url.QueryEscape(to.Format(time.RFC3339Nano)))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export = %d %s", resp.StatusCode, b)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, `filename="gamesa-twin-`) || !strings.HasSuffix(cd, `.csv"`) {
		t.Errorf("Content-Disposition = %q; want an attachment gamesa-twin-….csv", cd)
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v", err)
	}
	head, rows := recs[0], recs[1:]
	if len(rows) != len(want) {
		t.Fatalf("export has %d rows; want %d", len(rows), len(want))
	}
	col := make(map[string]int)
	for i, name := range head {
		col[name] = i
	}
	for _, name := range []string{"time", "seq", "cpu_utilization_percent", "core[7].utilization_percent",
		"temp[sim/Package id 0].celsius", "rapl[intel-rapl:0/package-0].watts", "gpu[0].temperature_celsius",
		"forecast[10s].celsius", "anomaly_score", "workload_class"} {
		if _, ok := col[name]; !ok {
			t.Fatalf("export header lacks %q: %v", name, head)
		}
	}
	cell := func(row []string, name string) string { return row[col[name]] }
	float := func(row []string, name string) float64 {
		t.Helper()
		v, err := strconv.ParseFloat(cell(row, name), 64)
		if err != nil {
			t.Fatalf("%s = %q: %v", name, cell(row, name), err)
		}
		return v
	}
	for i, row := range rows {
		s := want[i]
		if len(row) != len(head) {
			t.Fatalf("row %d has %d cells; header %d", i, len(row), len(head))
		}
		if got := cell(row, "seq"); got != strconv.FormatUint(s.GetSeq(), 10) {
			t.Fatalf("row %d seq = %s; want %d (rows lost, repeated or out of order)", i, got, s.GetSeq())
		}
		if tm, err := time.Parse(time.RFC3339Nano, cell(row, "time")); err != nil || !tm.Equal(s.GetTime().AsTime()) {
			t.Errorf("row %d time = %q; want %v", i, cell(row, "time"), s.GetTime().AsTime())
		}
		// Exact, not approximate: the CSV must round-trip the recorded value.
		if got, w := float(row, "cpu_utilization_percent"), s.GetCpu().GetUtilizationPercent(); got != w {
			t.Errorf("row %d cpu = %v; want %v", i, got, w)
		}
		if got, w := float(row, "temp[sim/Package id 0].celsius"), s.GetThermal()[0].GetTemperatureCelsius(); got != w {
			t.Errorf("row %d package temp = %v; want %v", i, got, w)
		}
		if got, w := float(row, "rapl[intel-rapl:0/package-0].long_term_limit_watts"), s.GetPower().GetRapl()[0].GetLongTermLimitWatts(); got != w {
			t.Errorf("row %d RAPL limit = %v; want %v", i, got, w)
		}
		gpu := cell(row, "gpu[0].temperature_celsius")
		if len(s.GetGpus()) == 0 {
			if gpu != "" {
				t.Errorf("row %d: GPU temperature %q for a sample without a GPU; want empty", i, gpu)
			}
		} else if got := float(row, "gpu[0].temperature_celsius"); got != s.GetGpus()[0].GetTemperatureCelsius() {
			t.Errorf("row %d GPU temp = %v; want %v", i, got, s.GetGpus()[0].GetTemperatureCelsius())
		}
		in := s.GetInsights()
		if in == nil {
			for _, name := range []string{"anomaly_score", "anomalous", "workload_class", "forecast[10s].celsius"} {
				if cell(row, name) != "" {
					t.Errorf("row %d: %s = %q without insights; want empty", i, name, cell(row, name))
				}
			}
			continue
		}
		if got := float(row, "anomaly_score"); got != in.GetAnomalyScore() {
			t.Errorf("row %d anomaly_score = %v; want %v", i, got, in.GetAnomalyScore())
		}
		if got := cell(row, "anomalous"); got != strconv.FormatBool(in.GetAnomalous()) {
			t.Errorf("row %d anomalous = %s; want %v", i, got, in.GetAnomalous())
		}
		if got := float(row, "forecast[10s].celsius"); got != in.GetThermalForecast()[0].GetCelsius() {
			t.Errorf("row %d forecast = %v; want %v", i, got, in.GetThermalForecast()[0].GetCelsius())
		}
	}
}

func TestExportJSON(t *testing.T) {
	tw := newTwin(t)
	want := exportSamples(t, tw)
	for _, s := range want {
		tw.add(s)
	}
	_, srv := serve(t, tw, func(c *Config) { c.ExportPage = 5 })
	from, to := want[0].GetTime().AsTime(), want[len(want)-1].GetTime().AsTime()
	resp, b := get(t, srv.URL, "/gamesa/api/export?format=json&from="+ms(from)+"&to="+ms(to.Add(time.Millisecond)))
	if resp.StatusCode != http.StatusOK || !strings.HasSuffix(resp.Header.Get("Content-Disposition"), `.json"`) {
		t.Fatalf("export json = %d %q", resp.StatusCode, resp.Header.Get("Content-Disposition"))
	}
	var doc struct {
		NodeID  string `json:"node_id"`
		Samples []json.RawMessage
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("export json: %v", err)
	}
	if doc.NodeID != "twin" || len(doc.Samples) != len(want) {
		t.Fatalf("export json: node %q, %d samples; want twin, %d", doc.NodeID, len(doc.Samples), len(want))
	}
	for i, raw := range doc.Samples {
		s := &gamesav1.Sample{}
		if err := protojson.Unmarshal(raw, s); err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		if !proto.Equal(s, want[i]) {
			t.Errorf("sample %d (seq %d) differs from the recorded one", i, s.GetSeq())
		}
	}
	if resp, b := get(t, srv.URL, "/gamesa/api/export?format=xml"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("export format=xml = %d %s; want 400", resp.StatusCode, b)
	}
}

func TestClusterAndPlans(t *testing.T) {
	tw := newTwin(t)
	tw.publish(1, time.Second)
	_, srv := serve(t, tw, nil)
	_, b := get(t, srv.URL, "/gamesa/api/cluster")
	st := &gamesav1.GetClusterStateResponse{}
	if err := protojson.Unmarshal(b, st); err != nil || st.GetLeaderId() != "twin" || len(st.GetMembers()) != 1 {
		t.Fatalf("cluster = %s (err %v); want twin leading alone", b, err)
	}
	_, b = get(t, srv.URL, "/gamesa/api/plans")
	if string(b) != `{"available":false,"plans":[]}` {
		t.Errorf("plans without a PlanSource = %s; want available false, none", b)
	}

	now := time.Now()
	pt := planTwin{twin: tw, plans: []*gamesav1.Plan{
		plan(now.Add(-2*time.Hour), "BALANCED"),
		plan(now.Add(-time.Minute), "GAMING", &gamesav1.Action{Knob: "cgroup.cpuset", Target: "foreground", Value: "0-5", Reasons: []string{"game in foreground"}}),
	}}
	_, srv2 := serve(t, pt, nil)
	_, b = get(t, srv2.URL, "/gamesa/api/plans")
	var got struct {
		Available bool
		Plans     []json.RawMessage
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("plans: %v", err)
	}
	if !got.Available || len(got.Plans) != 1 || !strings.Contains(string(got.Plans[0]), "game in foreground") {
		t.Errorf("plans for the last 5 min = %s; want available, the GAMING plan alone", b)
	}
}
