package consensus

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestHclogAdapter(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	a := newHclogAdapter(l, "raft")
	tests := []struct {
		name string
		log  func()
		want string // the line written; empty when filtered out
	}{
		{"info", func() { a.Info("entering follower state", "term", 3) }, `level=INFO msg="entering follower state" logger=raft term=3`},
		{"trace below the handler's level", func() { a.Trace("noise") }, ""},
		{"error", func() { a.Error("failed", "error", "boom") }, `level=ERROR msg=failed logger=raft error=boom`},
		{"named and with", func() { a.Named("transport").With("peer", "n2").Warn("slow") }, `level=WARN msg=slow logger=raft.transport peer=n2`},
		{"standard writer infers levels", func() {
			a.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}).Print("[WARN] raft: old style")
		}, `level=WARN msg="raft: old style" logger=raft`},
		{"off", func() { a.Log(hclog.Off, "never") }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf.Reset()
			tt.log()
			if got := strings.TrimSpace(buf.String()); got != tt.want {
				t.Errorf("%s logged %q; want %q", tt.name, got, tt.want)
			}
		})
	}
	if a.IsTrace() || !a.IsDebug() {
		t.Errorf("IsTrace() = %v, IsDebug() = %v; want false, true for a Debug handler", a.IsTrace(), a.IsDebug())
	}
	a.SetLevel(hclog.Warn)
	buf.Reset()
	a.Info("filtered")
	if buf.Len() != 0 || a.GetLevel() != hclog.Warn || a.IsInfo() {
		t.Errorf("after SetLevel(Warn), Info wrote %q", buf.String())
	}
}
