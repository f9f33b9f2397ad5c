package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// message is any message the server sends.
type message struct {
	Type     string          `json:"type"`
	Skipped  int             `json:"skipped"`
	Sample   json.RawMessage `json:"sample"`
	Cluster  json.RawMessage `json:"cluster"`
	Node     json.RawMessage `json:"node"`
	Rate     float64         `json:"rate"`
	MaxRate  float64         `json:"max_rate"`
	InFlight int             `json:"in_flight"`
	Plans    bool            `json:"plans"`
}

func dial(t *testing.T, url, query string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/gamesa/ws"+query, nil)
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.Fatalf("Dial(%q) = HTTP %d, %v", query, code, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func read(t *testing.T, c *websocket.Conn) message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	typ, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("Read: message type %v; want text", typ)
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("message %.200s: %v", b, err)
	}
	return m
}

// nextSample reads past cluster messages to the next sample.
func nextSample(t *testing.T, c *websocket.Conn) (*gamesav1.Sample, int) {
	t.Helper()
	for {
		m := read(t, c)
		if m.Type == "cluster" {
			continue
		}
		if m.Type != "sample" {
			t.Fatalf("message type %q; want sample", m.Type)
		}
		s := &gamesav1.Sample{}
		if err := protojson.Unmarshal(m.Sample, s); err != nil {
			t.Fatalf("sample: %v", err)
		}
		return s, m.Skipped
	}
}

func send(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("Write(%s): %v", msg, err)
	}
}

// closeStatus reads until the connection ends and returns its close status.
func closeStatus(t *testing.T, c *websocket.Conn) (websocket.StatusCode, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Reason
		}
		t.Fatalf("Read ended with %v; want a close frame", err)
	}
}

func TestLiveHelloAndSamples(t *testing.T) {
	tw := newTwin(t)
	tw.publish(1, time.Second)
	h, srv := serve(t, tw, func(c *Config) { c.InFlight = 2 })
	c := dial(t, srv.URL, "?rate=20")

	hello := read(t, c)
	if hello.Type != "hello" || hello.Rate != 20 || hello.MaxRate != 60 || hello.InFlight != 2 || hello.Plans {
		t.Fatalf("hello = %+v; want rate 20, max 60, in_flight 2, no plans", hello)
	}
	info := &gamesav1.NodeInfo{}
	if err := protojson.Unmarshal(hello.Node, info); err != nil || info.GetNodeId() != "twin" {
		t.Fatalf("hello node = %s (%v); want twin", hello.Node, err)
	}
	// The latest sample comes at once, and the cluster's state as soon as
	// it has been read; then each published sample, in order, as long as
	// the page acknowledges.
	var first *gamesav1.Sample
	for sawCluster := false; !sawCluster || first == nil; {
		switch m := read(t, c); m.Type {
		case "cluster":
			if !strings.Contains(string(m.Cluster), `"leader_id":"twin"`) {
				t.Fatalf("cluster = %s; want twin leading", m.Cluster)
			}
			sawCluster = true
		case "sample":
			if first != nil {
				t.Fatal("a second sample before any acknowledgement and with nothing published")
			}
			first = &gamesav1.Sample{}
			if err := protojson.Unmarshal(m.Sample, first); err != nil {
				t.Fatalf("sample: %v", err)
			}
		default:
			t.Fatalf("message type %q; want cluster or sample", m.Type)
		}
	}
	if first.GetSeq() != 1 {
		t.Fatalf("first sample seq = %d; want 1 (the latest at connect)", first.GetSeq())
	}
	send(t, c, `{"type":"ack","n":1}`)
	for want := uint64(2); want <= 6; want++ {
		tw.publish(1, 50*time.Millisecond)
		s, skipped := nextSample(t, c)
		if s.GetSeq() != want || skipped != 0 {
			t.Fatalf("sample seq %d, skipped %d; want %d, 0", s.GetSeq(), skipped, want)
		}
		send(t, c, `{"type":"ack","n":1}`)
	}
	_, _, intervals := tw.stats()
	if len(intervals) != 1 || intervals[0] != 50*time.Millisecond {
		t.Errorf("Watch intervals = %v; want [50ms] for rate 20", intervals)
	}
	// The count follows the write the page has already read.
	waitFor(t, "Stats to count 6 samples sent to 1 client", func() bool {
		st := h.Stats()
		return st.Clients == 1 && st.Sent == 6
	})
}

// TestLiveSlowPage: a page that does not acknowledge gets InFlight samples
// and then none, however many the node takes; when it acknowledges, it gets
// the newest, told how many it missed. Nothing queues in between.
func TestLiveSlowPage(t *testing.T) {
	tw := newTwin(t)
	tw.publish(1, time.Second)
	h, srv := serve(t, tw, func(c *Config) {
		c.InFlight = 3
		c.ClusterInterval = 20 * time.Millisecond
	})
	c := dial(t, srv.URL, "?rate=60")
	if m := read(t, c); m.Type != "hello" {
		t.Fatalf("first message %q; want hello", m.Type)
	}
	// The watch starts with the connection, in its own goroutine: count
	// from the moment it holds the latest sample.
	waitFor(t, "the watch to start", func() bool { w, d, _ := tw.stats(); return w == 1 && d == 1 })
	var got []uint64
	published, totalSkipped := 0, 0
	for len(got) < 3 {
		tw.publish(1, 10*time.Millisecond)
		published++
		s, skipped := nextSample(t, c)
		got = append(got, s.GetSeq())
		totalSkipped += skipped
	}
	// No credit left: the node takes 40 samples; the page sees cluster
	// updates go by, but no sample.
	tw.publish(40, 10*time.Millisecond)
	published += 40
	waitFor(t, "the watch to hand over every sample", func() bool {
		_, delivered, _ := tw.stats()
		return delivered == uint64(1+published) // 1: the latest, at connect
	})
	for clusters := 0; clusters < 5; {
		m := read(t, c)
		if m.Type == "sample" {
			t.Fatalf("sample sent with no credit left (after %v)", got)
		}
		clusters++
	}
	send(t, c, `{"type":"ack","n":3}`)
	s, skipped := nextSample(t, c)
	latest := tw.last.GetSeq()
	if s.GetSeq() != latest {
		t.Errorf("after the ack: seq %d; want the newest, %d", s.GetSeq(), latest)
	}
	// Every sample after the last one sent went to the box, which kept the
	// newest only.
	if wantSkipped := int(latest) - int(got[len(got)-1]) - 1; skipped != wantSkipped {
		t.Errorf("skipped = %d; want %d", skipped, wantSkipped)
	}
	// The counts follow the write the page has already read.
	waitFor(t, fmt.Sprintf("Stats to count %d skipped", totalSkipped+skipped), func() bool {
		return h.Stats().Skipped == uint64(totalSkipped+skipped)
	})
	if st := h.Stats(); st.SlowClosed != 0 || st.Clients != 1 {
		t.Errorf("Stats = %+v; want the page still connected", st)
	}
}

// TestLiveStalledReader: a client that acknowledges without reading fills
// its socket; the blocked write times out and the connection is closed,
// ending its watch.
func TestLiveStalledReader(t *testing.T) {
	tw := newTwin(t)
	tw.publish(1, time.Second)
	h, srv := serve(t, tw, func(c *Config) { c.WriteTimeout = 300 * time.Millisecond })
	c := dial(t, srv.URL, "?rate=60")
	read(t, c) // the hello
	waitFor(t, "the watch to start", func() bool { w, d, _ := tw.stats(); return w == 1 && d == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Publish and acknowledge blindly, never reading, until the server
		// gives up on this client. Each burst waits for the watch to take
		// it, as a node's samples come at a finite rate.
		published := uint64(1)
		for ctx.Err() == nil && h.Stats().SlowClosed == 0 {
			tw.publish(5, time.Millisecond)
			published += 5
			for {
				if _, d, _ := tw.stats(); d >= published || ctx.Err() != nil || h.Stats().Clients == 0 {
					break
				}
				time.Sleep(time.Millisecond)
			}
			if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"ack","n":3}`)); err != nil {
				return // the server closed the connection
			}
		}
	}()
	waitFor(t, "the stalled client to be closed", func() bool { return h.Stats().SlowClosed == 1 })
	waitFor(t, "its watch to end", func() bool {
		w, _, _ := tw.stats()
		return w == 0 && h.Stats().Clients == 0
	})
}

func TestLiveDisconnect(t *testing.T) {
	tw := newTwin(t)
	tw.publish(1, time.Second)
	h, srv := serve(t, tw, nil)
	c := dial(t, srv.URL, "")
	if m := read(t, c); m.Type != "hello" || m.Rate != 1 {
		t.Fatalf("hello = %+v; want the default rate 1", m)
	}
	waitFor(t, "the watch to start", func() bool { w, _, _ := tw.stats(); return w == 1 })
	c.CloseNow() // no close frame: the browser tab was killed
	waitFor(t, "the server to notice", func() bool {
		w, _, _ := tw.stats()
		return w == 0 && h.Stats().Clients == 0
	})
	// The handler still serves the next page.
	c2 := dial(t, srv.URL, "")
	if m := read(t, c2); m.Type != "hello" {
		t.Fatalf("after a disconnect, hello = %+v", m)
	}
}

func TestLiveRateChange(t *testing.T) {
	tw := newTwin(t)
	tw.publish(1, time.Second)
	_, srv := serve(t, tw, nil)
	c := dial(t, srv.URL, "?rate=2")
	read(t, c)
	first, _ := nextSample(t, c)
	send(t, c, `{"type":"rate","rate":10}`)
	waitFor(t, "a watch at the new rate", func() bool {
		w, _, iv := tw.stats()
		return w == 1 && len(iv) == 2 && iv[1] == 100*time.Millisecond
	})
	// The new watch starts with the latest sample, which the page has: it
	// is not sent again. The next one is.
	send(t, c, `{"type":"ack","n":1}`)
	tw.publish(1, 100*time.Millisecond)
	s, _ := nextSample(t, c)
	if s.GetSeq() != first.GetSeq()+1 {
		t.Errorf("after the rate change: seq %d; want %d, once", s.GetSeq(), first.GetSeq()+1)
	}
}

func TestLiveRefusals(t *testing.T) {
	tw := newTwin(t)
	tw.publish(1, time.Second)
	h, srv := serve(t, tw, func(c *Config) { c.MaxClients = 1 })
	status := func(query string) int {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/gamesa/ws"+query, nil)
		if err == nil {
			c.CloseNow()
			return http.StatusSwitchingProtocols
		}
		if resp == nil {
			t.Fatalf("Dial(%q): %v", query, err)
		}
		return resp.StatusCode
	}
	for _, q := range []string{"?rate=0", "?rate=61", "?rate=NaN", "?rate=fast"} {
		if got := status(q); got != http.StatusBadRequest {
			t.Errorf("Dial(%q) = %d; want 400", q, got)
		}
	}
	c := dial(t, srv.URL, "")
	read(t, c)
	if got := status(""); got != http.StatusServiceUnavailable {
		t.Errorf("a second page with MaxClients 1: %d; want 503", got)
	}
	h.Close()
	if code, reason := closeStatus(t, c); code != websocket.StatusGoingAway || !strings.Contains(reason, "shutting down") {
		t.Errorf("after Close: %v %q; want going away, shutting down", code, reason)
	}
	waitFor(t, "the closed page to leave", func() bool { return h.Stats().Clients == 0 })
	if got := status(""); got != http.StatusServiceUnavailable {
		t.Errorf("a page after Close: %d; want 503", got)
	}
}

func TestLiveBadMessages(t *testing.T) {
	tw := newTwin(t)
	tw.publish(1, time.Second)
	_, srv := serve(t, tw, nil)
	for _, tc := range []struct {
		name string
		typ  websocket.MessageType
		msg  string
		want websocket.StatusCode
	}{
		{"not JSON", websocket.MessageText, `ack`, websocket.StatusPolicyViolation},
		{"unknown type", websocket.MessageText, `{"type":"reset"}`, websocket.StatusPolicyViolation},
		{"ack too large", websocket.MessageText, `{"type":"ack","n":1000}`, websocket.StatusPolicyViolation},
		{"rate too high", websocket.MessageText, `{"type":"rate","rate":1000}`, websocket.StatusPolicyViolation},
		{"binary", websocket.MessageBinary, `{"type":"ack","n":1}`, websocket.StatusUnsupportedData},
		{"too long", websocket.MessageText, `{"type":"ack","n":1,"pad":"` + strings.Repeat("x", maxClientMessage) + `"}`, websocket.StatusMessageTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, srv.URL, "")
			read(t, c)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.Write(ctx, tc.typ, []byte(tc.msg)); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if code, _ := closeStatus(t, c); code != tc.want {
				t.Errorf("closed with %v; want %v", code, tc.want)
			}
		})
	}
}

func TestLiveSourceCutOff(t *testing.T) {
	tw := newTwin(t)
	tw.failWatch = ErrTooSlow
	_, srv := serve(t, tw, nil)
	c := dial(t, srv.URL, "")
	if code, _ := closeStatus(t, c); code != websocket.StatusTryAgainLater {
		t.Errorf("a watch cut off by the source: closed with %v; want try again later", code)
	}
}

// TestLiveView: a live frame is the sample less its process list and
// collector reports, every other field carried, the sample untouched.
func TestLiveView(t *testing.T) {
	fields := (&gamesav1.Sample{}).ProtoReflect().Descriptor().Fields()
	if fields.ByNumber(processesField).Name() != "processes" || fields.ByNumber(collectorsField).Name() != "collectors" {
		t.Fatal("processesField/collectorsField do not name Sample.processes and Sample.collectors")
	}
	tw := newTwin(t)
	s := tw.take(2, time.Second)[1]
	s.Insights = &gamesav1.Insights{WorkloadClass: "game"}
	before := clone(s)
	if len(s.GetProcesses().GetTop()) == 0 || len(s.GetCollectors()) == 0 {
		t.Fatal("the simulated sample lists no processes or collectors: the test would prove nothing")
	}
	got := liveView(s)
	want := clone(s)
	want.Processes.Top = nil
	want.Collectors = nil
	if !proto.Equal(got, want) {
		t.Errorf("liveView = %v; want the sample less processes.top and collectors", got)
	}
	if !proto.Equal(s, before) {
		t.Error("liveView changed the sample it was given")
	}
}
