package gossip

import (
	"context"
	"log/slog"
	"sync"
	"testing"
)

func TestParseLine(t *testing.T) {
	for _, tc := range []struct {
		line      string
		wantLevel slog.Level
		wantMsg   string
	}{
		{"[DEBUG] memberlist: Stream connection from=1.2.3.4:5", slog.LevelDebug, "Stream connection from=1.2.3.4:5"},
		{"[INFO] memberlist: Marking b as failed", slog.LevelInfo, "Marking b as failed"},
		{"[WARN] memberlist: Refuting a dead message", slog.LevelWarn, "Refuting a dead message"},
		{"[ERR] memberlist: Failed to receive", slog.LevelError, "Failed to receive"},
		{"[ERROR] memberlist: x", slog.LevelError, "x"},
		{"[ERR] Failed to shutdown transport: x", slog.LevelError, "Failed to shutdown transport: x"},
		{"[TRACE] memberlist: y", slog.LevelDebug - 4, "y"},
		{"[NOTICE] memberlist: z", slog.LevelInfo, "[NOTICE] memberlist: z"},
		{"no prefix at all", slog.LevelInfo, "no prefix at all"},
		{"", slog.LevelInfo, ""},
	} {
		level, msg := parseLine(tc.line)
		if level != tc.wantLevel || msg != tc.wantMsg {
			t.Errorf("parseLine(%q) = %v, %q; want %v, %q", tc.line, level, msg, tc.wantLevel, tc.wantMsg)
		}
	}
}

// recorder is a slog.Handler that keeps records.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func TestStdLoggerRoutesToSlog(t *testing.T) {
	var rec recorder
	keyErrors := 0
	l := newStdLogger(slog.New(&rec), func() { keyErrors++ })
	l.Printf("[WARN] memberlist: Was able to connect to b over TCP but UDP probes failed")
	l.Printf("[ERR] memberlist: failed to receive: No installed keys could decrypt the message from=1.2.3.4:5")
	l.Printf("[ERR] memberlist: Decrypt packet failed: no installed keys could decrypt the message from=1.2.3.4:5")
	l.Printf("[ERR] memberlist: failed to receive: encryption is configured but remote state is not encrypted")
	l.Printf("[DEBUG] memberlist: no installed keys could decrypt the message") // not an error line: not counted

	if keyErrors != 3 {
		t.Errorf("key errors counted = %d; want 3", keyErrors)
	}
	want := []slog.Level{slog.LevelWarn, slog.LevelError, slog.LevelError, slog.LevelError, slog.LevelDebug}
	if len(rec.recs) != len(want) {
		t.Fatalf("records = %d; want %d", len(rec.recs), len(want))
	}
	for i, r := range rec.recs {
		if r.Level != want[i] {
			t.Errorf("record %d (%q) level = %v; want %v", i, r.Message, r.Level, want[i])
		}
		var component string
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "component" {
				component = a.Value.String()
			}
			return true
		})
		if component != "memberlist" {
			t.Errorf("record %d component = %q; want memberlist", i, component)
		}
	}
	if got := rec.recs[0].Message; got != "Was able to connect to b over TCP but UDP probes failed" {
		t.Errorf("message = %q; want the text without prefixes", got)
	}
}
