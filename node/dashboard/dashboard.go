package dashboard

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Errors the handler reports. Watch implementations return ErrTooSlow (or an
// error wrapping it) when they end a watch because the consumer fell behind.
var (
	// ErrTooSlow ends a watch whose consumer did not keep up.
	ErrTooSlow = errors.New("dashboard: consumer fell behind")
	// ErrBadRequest wraps every complaint about a request's parameters; the
	// handler answers it with 400.
	ErrBadRequest = errors.New("bad request")
)

// Source is what the dashboard reads: one node's description, its live
// samples, its recorded history and its view of the cluster. Every method is
// called from many goroutines at once and must be safe for that. Samples are
// shared, never modified by the dashboard.
type Source interface {
	// Info describes the node.
	Info() *gamesav1.NodeInfo
	// Watch calls deliver with the latest sample at once (when there is
	// one) and then with a sample at least interval apart, until ctx is done
	// (it then returns nil) or the source ends the watch (an error, wrapping
	// ErrTooSlow when deliver was too slow). A source may raise interval to
	// the fastest it can sample. deliver must not block.
	Watch(ctx context.Context, interval time.Duration, deliver func(*gamesav1.Sample)) error
	// History returns the samples with from <= time <= to, oldest first, at
	// most limit of them (limit > 0), and whether the range held more.
	History(ctx context.Context, from, to time.Time, limit int) ([]*gamesav1.Sample, bool, error)
	// Cluster is the cluster as this node sees it.
	Cluster(ctx context.Context) (*gamesav1.GetClusterStateResponse, error)
}

// PlanSource is an optional ability of a Source: the plans its optimizer
// made. With it the page draws the decision timeline and the resource
// allocation; without it those views say that no decisions exist yet.
type PlanSource interface {
	// Plans returns the plans made with from <= time <= to, oldest first,
	// at most limit of them.
	Plans(ctx context.Context, from, to time.Time, limit int) ([]*gamesav1.Plan, error)
}

// validPrefix keeps Prefix to plain path segments, so the routes built
// from it are valid ServeMux patterns.
var validPrefix = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)+$`)

// Config shapes the dashboard. Derive it from DefaultConfig.
type Config struct {
	// Prefix is the path the dashboard is mounted at, without a trailing
	// slash: the page is Prefix, the rest lives under Prefix + "/".
	Prefix string
	// DefaultRate is the updates per second a page gets until it asks for
	// another rate.
	DefaultRate float64
	// MaxRate is the most updates per second a page may ask for. A source
	// that samples less often sends each sample once, never repeats.
	MaxRate float64
	// InFlight is how many updates a page may have unacknowledged. A page
	// acknowledges updates once it has drawn them, half of InFlight at a
	// time, so a slow browser is sent fewer updates (the newest, skipping
	// the rest) and nothing queues.
	InFlight int
	// WriteTimeout ends a connection whose single write blocks this long:
	// the browser stopped reading its socket altogether.
	WriteTimeout time.Duration
	// ClusterInterval is how often a page gets the cluster's state.
	ClusterInterval time.Duration
	// MaxClients bounds the live connections; more are refused with 503.
	MaxClients int
	// MaxPoints bounds the samples one history request returns: a longer
	// range is thinned to MaxPoints evenly spaced samples.
	MaxPoints int
	// ExportPage is how many samples an export reads at a time; an export
	// of any length holds no more than this in memory.
	ExportPage int
}

// DefaultConfig returns the settings the node uses.
func DefaultConfig() Config {
	return Config{
		Prefix:          "/gamesa",
		DefaultRate:     1,
		MaxRate:         60,
		InFlight:        4,
		WriteTimeout:    10 * time.Second,
		ClusterInterval: 2 * time.Second,
		MaxClients:      100,
		MaxPoints:       2000,
		ExportPage:      500,
	}
}

// Validate reports every problem in c, naming the field.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, v any, why string) {
		errs = append(errs, fmt.Errorf("dashboard: %s = %v: %s", field, v, why))
	}
	if !validPrefix.MatchString(c.Prefix) {
		bad("Prefix", fmt.Sprintf("%q", c.Prefix), `must be one or more "/segment" of letters, digits, ".", "_", "~" or "-"`)
	}
	if !(c.MaxRate > 0 && c.MaxRate <= 1000) {
		bad("MaxRate", c.MaxRate, "must be within (0, 1000]")
	}
	if !(c.DefaultRate > 0 && c.DefaultRate <= c.MaxRate) {
		bad("DefaultRate", c.DefaultRate, "must be above 0 and at most MaxRate")
	}
	if c.InFlight < 1 || c.InFlight > 1000 {
		bad("InFlight", c.InFlight, "must be within 1..1000")
	}
	if c.WriteTimeout <= 0 {
		bad("WriteTimeout", c.WriteTimeout, "must be positive")
	}
	if c.ClusterInterval <= 0 {
		bad("ClusterInterval", c.ClusterInterval, "must be positive")
	}
	if c.MaxClients < 1 {
		bad("MaxClients", c.MaxClients, "must be at least 1")
	}
	if c.MaxPoints < 2 || c.MaxPoints > 100_000 {
		bad("MaxPoints", c.MaxPoints, "must be within 2..100000")
	}
	if c.ExportPage < 1 || c.ExportPage > 100_000 {
		bad("ExportPage", c.ExportPage, "must be within 1..100000")
	}
	return errors.Join(errs...)
}

// Handler serves the dashboard: the page, its assets, the live WebSocket and
// the history, export and cluster APIs. Create it with New; it is safe for
// concurrent use.
type Handler struct {
	cfg    Config
	src    Source
	log    *slog.Logger
	mux    *http.ServeMux
	page   *template.Template // the page, or the how-to-build page when the assets are missing
	assets assetSet
	enc    encodeCache

	mu      sync.Mutex
	conns   map[*liveConn]struct{}
	closing chan struct{} // closed by Close
	closed  bool

	sent, skipped, slowClosed atomic.Uint64
	cluster                   clusterCache
}

// Stats counts the live connections and what they were sent.
type Stats struct {
	// Clients is the number of open live connections.
	Clients int
	// Sent is the number of samples sent, ever.
	Sent uint64
	// Skipped is the number of samples not sent because a page had not
	// acknowledged the ones before: the newest replaced them.
	Skipped uint64
	// SlowClosed is the number of connections ended because a write
	// blocked for WriteTimeout.
	SlowClosed uint64
}

// New returns a Handler for src. log receives the handler's few messages
// (connections refused, writes that failed); it must not be nil.
func New(cfg Config, src Source, log *slog.Logger) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if src == nil {
		return nil, errors.New("dashboard: nil Source")
	}
	if log == nil {
		return nil, errors.New("dashboard: nil logger")
	}
	h := &Handler{
		cfg:     cfg,
		src:     src,
		log:     log,
		conns:   make(map[*liveConn]struct{}),
		closing: make(chan struct{}),
	}
	h.cluster.every, h.cluster.log = cfg.ClusterInterval, log
	h.assets = loadAssets()
	page, err := parsePage(h.assets)
	if err != nil {
		return nil, err
	}
	h.page = page
	p := cfg.Prefix
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+p+"/{$}", h.serveIndex)
	mux.HandleFunc("GET "+p, h.serveIndex)
	mux.Handle("GET "+p+"/assets/", http.StripPrefix(p+"/assets/", h.assets.handler()))
	mux.HandleFunc("GET "+p+"/ws", h.serveLive)
	mux.HandleFunc("GET "+p+"/api/info", h.serveInfo)
	mux.HandleFunc("GET "+p+"/api/history", h.serveHistory)
	mux.HandleFunc("GET "+p+"/api/export", h.serveExport)
	mux.HandleFunc("GET "+p+"/api/cluster", h.serveCluster)
	mux.HandleFunc("GET "+p+"/api/plans", h.servePlans)
	h.mux = mux
	return h, nil
}

// ServeHTTP routes a request under the prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Close asks every live connection to end (WebSocket status "going away")
// and refuses new ones. It returns at once: each connection's goroutines end
// within the WebSocket close handshake's bound (a few seconds). An
// http.Server does not close hijacked connections on Shutdown, so register
// Close with http.Server.RegisterOnShutdown. Close is idempotent.
func (h *Handler) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.closing)
	}
}

// Stats returns the live connection counters.
func (h *Handler) Stats() Stats {
	h.mu.Lock()
	n := len(h.conns)
	h.mu.Unlock()
	return Stats{Clients: n, Sent: h.sent.Load(), Skipped: h.skipped.Load(), SlowClosed: h.slowClosed.Load()}
}

// admit registers c unless the handler is closed or full.
func (h *Handler) admit(c *liveConn) (ok bool, why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return false, "the node is shutting down"
	case len(h.conns) >= h.cfg.MaxClients:
		return false, fmt.Sprintf("%d live dashboards are connected, the most this node serves", h.cfg.MaxClients)
	}
	h.conns[c] = struct{}{}
	return true, ""
}

func (h *Handler) release(c *liveConn) {
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
}
