package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// The live protocol. The server sends JSON text messages:
//
//	{"type":"hello","node":NodeInfo,"rate":R,"max_rate":M,"in_flight":K,"plans":bool}
//	{"type":"sample","skipped":N,"sample":Sample}   N: samples replaced by this one, unsent
//	{"type":"cluster","cluster":GetClusterStateResponse}
//
// NodeInfo, Sample and GetClusterStateResponse are protojson with the .proto
// field names; a live Sample leaves out processes.top and collectors (see
// liveView). The page sends:
//
//	{"type":"ack","n":N}      N updates drawn: N more may be sent (the page
//	                          acknowledges every ceil(in_flight/2) updates)
//	{"type":"rate","rate":R}  R updates per second from now on
//
// At most InFlight samples are sent unacknowledged; meanwhile a newer sample
// replaces the one waiting, so a slow page gets fewer, newer updates.

// maxClientMessage bounds what a page may send in one message.
const maxClientMessage = 512

// pingInterval is how often an idle connection is checked: a page that
// stops acknowledging (a background tab draws nothing) sends nothing, so
// only a ping tells a live page from a vanished one.
const pingInterval = 30 * time.Second

// clientMsg is one message from a page.
type clientMsg struct {
	Type string  `json:"type"`
	N    int     `json:"n,omitempty"`
	Rate float64 `json:"rate,omitempty"`
}

// ackPrefix starts the acknowledgement the page sends a few times a second
// per connection: parsed by hand, it costs a tenth of json.Unmarshal.
const ackPrefix = `{"type":"ack","n":`

// parseClientMessage decodes and checks one message from a page.
func parseClientMessage(b []byte, maxRate float64, inFlight int) (clientMsg, error) {
	if rest, ok := bytes.CutPrefix(b, []byte(ackPrefix)); ok && len(rest) >= 2 && len(rest) <= 4 && rest[len(rest)-1] == '}' {
		if n, err := strconv.Atoi(string(rest[:len(rest)-1])); err == nil && n >= 1 && n <= inFlight && rest[0] != '+' && rest[0] != '-' && rest[0] != '0' {
			return clientMsg{Type: "ack", N: n}, nil
		}
		// Anything else falls through to the full parser and its message.
	}
	var m clientMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: message: %w", ErrBadRequest, err)
	}
	switch m.Type {
	case "ack":
		if m.N < 1 || m.N > inFlight {
			return m, fmt.Errorf("%w: ack n must be within 1..%d; got %d", ErrBadRequest, inFlight, m.N)
		}
	case "rate":
		if err := checkRate(m.Rate, maxRate); err != nil {
			return m, err
		}
	default:
		return m, fmt.Errorf("%w: message type must be ack or rate; got %q", ErrBadRequest, m.Type)
	}
	return m, nil
}

func checkRate(r, maxRate float64) error {
	// The lower bound keeps the interval within what a Duration holds and
	// what a person would wait for.
	if math.IsNaN(r) || r < 0.01 || r > maxRate {
		return fmt.Errorf("%w: rate must be within 0.01..%g updates per second; got %g", ErrBadRequest, maxRate, r)
	}
	return nil
}

// parseRate reads the rate query parameter.
func parseRate(q string, maxRate float64) (float64, error) {
	r, err := strconv.ParseFloat(q, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: rate: %w", ErrBadRequest, err)
	}
	return r, checkRate(r, maxRate)
}

func rateInterval(rate float64) time.Duration {
	return time.Duration(float64(time.Second) / rate)
}

// mailbox holds the newest sample not yet sent. put never blocks, so the
// source's delivery never waits on a page.
type mailbox struct {
	mu      sync.Mutex
	s       *gamesav1.Sample
	skipped int
	signal  chan struct{} // one token: "something arrived"
}

func newMailbox() *mailbox { return &mailbox{signal: make(chan struct{}, 1)} }

func (m *mailbox) put(s *gamesav1.Sample) {
	m.mu.Lock()
	if m.s != nil {
		m.skipped++
	}
	m.s = s
	m.mu.Unlock()
	select {
	case m.signal <- struct{}{}:
	default:
	}
}

// take empties the box: the sample (nil when none) and how many were
// replaced before it.
func (m *mailbox) take() (*gamesav1.Sample, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, n := m.s, m.skipped
	m.s, m.skipped = nil, 0
	return s, n
}

// liveConn is one page's WebSocket. Its goroutines: the handler's (the
// writer loop), a reader, a pinger and the source watch; all end when the
// handler's context is cancelled after the loop returns.
type liveConn struct {
	h   *Handler
	ws  *websocket.Conn
	box *mailbox
	buf []byte // reused frame buffer; writer loop only
	// clusterSent is the version of the cluster state last sent; writer
	// loop only.
	clusterSent uint64
}

// closeReason is how a connection ends: the status and text sent to the page.
type closeReason struct {
	code websocket.StatusCode
	text string
}

func (h *Handler) serveLive(w http.ResponseWriter, r *http.Request) {
	rate := h.cfg.DefaultRate
	if q := r.URL.Query().Get("rate"); q != "" {
		v, err := parseRate(q, h.cfg.MaxRate)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rate = v
	}
	c := &liveConn{h: h, box: newMailbox()}
	if ok, why := h.admit(c); !ok {
		http.Error(w, why, http.StatusServiceUnavailable)
		return
	}
	defer h.release(c)
	// The default origin check (same host only) stays on: another site's
	// page must not read this node's telemetry through a visitor's browser.
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		h.log.Debug("dashboard: websocket upgrade", "remote", r.RemoteAddr, "err", err)
		return // Accept has answered the request
	}
	ws.SetReadLimit(maxClientMessage)
	c.ws = ws

	// Hijacked: r.Context() no longer ends with the server; Close and the
	// peer do.
	ctx, cancel := context.WithCancel(r.Context())
	var wg sync.WaitGroup
	msgs := make(chan clientMsg, 4)
	ended := make(chan closeReason, 2) // the reader and the pinger each report once at most
	wg.Add(2)
	go func() { defer wg.Done(); c.read(ctx, msgs, ended) }()
	go func() { defer wg.Done(); c.ping(ctx, ended) }()

	why := c.loop(ctx, rate, msgs, ended)
	// Close before cancel: the reader must still run to receive the page's
	// answer to the close frame.
	if err := ws.Close(why.code, why.text); err != nil {
		h.log.Debug("dashboard: websocket close", "remote", r.RemoteAddr, "reason", why.text, "err", err)
	}
	cancel()
	wg.Wait()
}

// read passes the page's messages to the loop until the connection ends.
func (c *liveConn) read(ctx context.Context, msgs chan<- clientMsg, ended chan<- closeReason) {
	for {
		typ, b, err := c.ws.Read(ctx)
		if err != nil {
			// The page closed or vanished, or the loop is done: either way
			// the loop learns it here or from its context.
			ended <- closeReason{websocket.StatusNormalClosure, ""}
			return
		}
		if typ != websocket.MessageText {
			ended <- closeReason{websocket.StatusUnsupportedData, "messages must be JSON text"}
			return
		}
		m, err := parseClientMessage(b, c.h.cfg.MaxRate, c.h.cfg.InFlight)
		if err != nil {
			ended <- closeReason{websocket.StatusPolicyViolation, truncate(err.Error(), 120)}
			return
		}
		select {
		case msgs <- m:
		case <-ctx.Done():
			return
		}
	}
}

// ping ends the connection when the page stops answering pings.
func (c *liveConn) ping(ctx context.Context, ended chan<- closeReason) {
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, c.h.cfg.WriteTimeout)
			err := c.ws.Ping(pctx)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					ended <- closeReason{websocket.StatusGoingAway, "no answer to ping"}
				}
				return
			}
		}
	}
}

// watch runs one source watch at one rate; stop ends it and waits.
type watch struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (c *liveConn) startWatch(ctx context.Context, rate float64, failed chan<- error) watch {
	wctx, cancel := context.WithCancel(ctx)
	w := watch{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		err := c.h.src.Watch(wctx, rateInterval(rate), c.box.put)
		if wctx.Err() != nil {
			return // stopped by us
		}
		if err == nil {
			err = errors.New("the node stopped sending samples")
		}
		select {
		case failed <- err:
		default: // the loop already has a reason to end
		}
	}()
	return w
}

func (w watch) stop() {
	w.cancel()
	<-w.done
}

// loop is the writer: it sends the hello, then samples as credit allows and
// the cluster state as it changes (read at most every ClusterInterval),
// until something ends the connection; it returns why.
func (c *liveConn) loop(ctx context.Context, rate float64, msgs <-chan clientMsg, ended <-chan closeReason) closeReason {
	h := c.h
	failed := make(chan error, 1)
	w := c.startWatch(ctx, rate, failed)
	defer func() { w.stop() }() // w changes with the rate

	if why, ok := c.sendHello(ctx, rate); !ok {
		return why
	}
	if why, ok := c.sendCluster(ctx); !ok {
		return why
	}
	clusterTick := time.NewTicker(h.cfg.ClusterInterval)
	defer clusterTick.Stop()

	credit := h.cfg.InFlight
	var last *gamesav1.Sample
	for {
		select {
		case <-ctx.Done():
			return closeReason{websocket.StatusGoingAway, "request ended"}
		case <-h.closing:
			return closeReason{websocket.StatusGoingAway, "node shutting down"}
		case why := <-ended:
			return why
		case err := <-failed:
			if errors.Is(err, ErrTooSlow) {
				return closeReason{websocket.StatusTryAgainLater, "fell behind the node's samples"}
			}
			h.log.Warn("dashboard: live samples ended", "err", err)
			return closeReason{websocket.StatusInternalError, "samples ended"}
		case m := <-msgs:
			switch m.Type {
			case "ack":
				credit = min(credit+m.N, h.cfg.InFlight)
			case "rate":
				w.stop()
				w = c.startWatch(ctx, m.Rate, failed)
			}
		case <-c.box.signal:
		case <-clusterTick.C:
		}
		// Any wake-up sends a cluster state this page has not had, and
		// starts a refresh when the cached one is old; what that refresh
		// reads goes out at the next wake-up (a sample, or the tick).
		if why, ok := c.sendCluster(ctx); !ok {
			return why
		}
		if credit == 0 {
			continue
		}
		s, skipped := c.box.take()
		if s == nil || s == last {
			// A new watch starts with the latest sample, which this page
			// may already have.
			continue
		}
		if why, ok := c.sendSample(ctx, s, skipped); !ok {
			return why
		}
		last = s
		credit--
	}
}

func (c *liveConn) sendHello(ctx context.Context, rate float64) (closeReason, bool) {
	info, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(c.h.src.Info())
	if err != nil {
		return closeReason{websocket.StatusInternalError, "encoding node info"}, false
	}
	_, plans := c.h.src.(PlanSource)
	b := append(c.buf[:0], `{"type":"hello","node":`...)
	b = append(b, info...)
	b = append(b, `,"rate":`...)
	b = strconv.AppendFloat(b, rate, 'g', -1, 64)
	b = append(b, `,"max_rate":`...)
	b = strconv.AppendFloat(b, c.h.cfg.MaxRate, 'g', -1, 64)
	b = append(b, `,"in_flight":`...)
	b = strconv.AppendInt(b, int64(c.h.cfg.InFlight), 10)
	b = append(b, `,"plans":`...)
	b = strconv.AppendBool(b, plans)
	b = append(b, '}')
	return c.write(ctx, b)
}

func (c *liveConn) sendSample(ctx context.Context, s *gamesav1.Sample, skipped int) (closeReason, bool) {
	enc, err := c.h.enc.sample(s)
	if err != nil {
		c.h.log.Warn("dashboard: encoding sample", "seq", s.GetSeq(), "err", err)
		return closeReason{}, true // skip it; the next may encode
	}
	b := append(c.buf[:0], `{"type":"sample","skipped":`...)
	b = strconv.AppendInt(b, int64(skipped), 10)
	b = append(b, `,"sample":`...)
	b = append(b, enc...)
	b = append(b, '}')
	why, ok := c.write(ctx, b)
	if ok {
		c.h.sent.Add(1)
		c.h.skipped.Add(uint64(skipped))
	}
	return why, ok
}

// sendCluster sends the cluster state when the cache holds one this page
// has not had.
func (c *liveConn) sendCluster(ctx context.Context) (closeReason, bool) {
	enc, v := c.h.cluster.get(c.h.src)
	if enc == nil || v == c.clusterSent {
		return closeReason{}, true
	}
	c.clusterSent = v
	b := append(c.buf[:0], `{"type":"cluster","cluster":`...)
	b = append(b, enc...)
	b = append(b, '}')
	return c.write(ctx, b)
}

// write sends one message within WriteTimeout; a write that cannot finish
// in time means the page stopped reading, and the connection is over.
func (c *liveConn) write(ctx context.Context, b []byte) (closeReason, bool) {
	c.buf = b
	wctx, cancel := context.WithTimeout(ctx, c.h.cfg.WriteTimeout)
	defer cancel()
	if err := c.ws.Write(wctx, websocket.MessageText, b); err != nil {
		if ctx.Err() == nil && errors.Is(wctx.Err(), context.DeadlineExceeded) {
			c.h.slowClosed.Add(1)
			return closeReason{websocket.StatusPolicyViolation, "write timed out: the page stopped reading"}, false
		}
		return closeReason{websocket.StatusGoingAway, "write failed"}, false
	}
	return closeReason{}, true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary: a close reason must be valid UTF-8.
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n]
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// liveView is what a live frame carries: the sample without its process
// list and collector reports, which the page does not draw and which are
// half of a host sample's bytes (and of its encoding time). The history and
// export APIs carry samples whole. Fields are shared with s, not copied:
// the view is only marshalled. Every other field, present or future, is
// carried as it is.
func liveView(s *gamesav1.Sample) *gamesav1.Sample {
	v := &gamesav1.Sample{}
	src, dst := s.ProtoReflect(), v.ProtoReflect()
	src.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		switch fd.Number() {
		case processesField, collectorsField:
		default:
			dst.Set(fd, val)
		}
		return true
	})
	if p := s.GetProcesses(); p != nil {
		v.Processes = &gamesav1.Processes{Total: p.GetTotal(), Threads: p.GetThreads()}
	}
	return v
}

// The Sample fields liveView leaves out or shortens.
const (
	processesField  = 14
	collectorsField = 15
)

// encodeCache marshals each sample once for all pages: every page watching
// at the same rate is sent the same sample at the same moment.
type encodeCache struct {
	mu   sync.Mutex
	keys [8]*gamesav1.Sample
	vals [8][]byte
	next int
}

var sampleJSON = protojson.MarshalOptions{UseProtoNames: true}

func (e *encodeCache) sample(s *gamesav1.Sample) ([]byte, error) {
	// The lock is held while marshalling, so pages that ask for the same new
	// sample at once wait for one encoding instead of each doing it.
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, k := range e.keys {
		if k == s {
			return e.vals[i], nil
		}
	}
	b, err := sampleJSON.Marshal(liveView(s))
	if err != nil {
		return nil, err
	}
	e.keys[e.next], e.vals[e.next] = s, b
	e.next = (e.next + 1) % len(e.keys)
	return b, nil
}

// clusterCache reads the cluster state for all pages, at most once per
// half interval, in the background: a page's writer never waits for it (on
// a client node the read goes to a server over the network, and a slow
// server must not stall the node's own samples). Its one refresh goroutine
// ends within clusterReadTimeout.
type clusterCache struct {
	every time.Duration
	log   *slog.Logger

	mu         sync.Mutex
	at         time.Time // when the last refresh finished
	json       []byte
	version    uint64 // counts successful refreshes
	refreshing bool
}

// clusterReadTimeout bounds one read of the cluster state.
const clusterReadTimeout = 10 * time.Second

// get returns the newest state read (nil before the first) and its version,
// and starts a refresh when that is older than half the interval.
func (cc *clusterCache) get(src Source) ([]byte, uint64) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	// Half the interval: pages on slightly different schedules still share
	// one read instead of each finding it a moment too old.
	if !cc.refreshing && (cc.at.IsZero() || time.Since(cc.at) >= cc.every/2) {
		cc.refreshing = true
		go cc.refresh(src)
	}
	return cc.json, cc.version
}

func (cc *clusterCache) refresh(src Source) {
	ctx, cancel := context.WithTimeout(context.Background(), clusterReadTimeout)
	defer cancel()
	st, err := src.Cluster(ctx)
	var b []byte
	if err == nil {
		b, err = sampleJSON.Marshal(st)
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.refreshing, cc.at = false, time.Now()
	if err != nil {
		// A cluster that cannot be read now is no reason to drop the
		// node's own view; the pages keep the last state they had.
		cc.log.Debug("dashboard: cluster state", "err", err)
		return
	}
	cc.json = b
	cc.version++
}
