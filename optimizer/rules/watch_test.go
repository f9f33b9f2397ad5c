package rules

import (
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"testing"
	"time"
)

func TestWatcherKeepsPreviousRulesOnBadReload(t *testing.T) {
	files := map[string]string{"a.yaml": "rules:\n  - name: a\n    when: cpu.utilization > 1\n    then: [{mode: gaming}]\n"}
	read := func(name string) ([]byte, error) {
		s, ok := files[name]
		if !ok {
			return nil, fs.ErrNotExist
		}
		return []byte(s), nil
	}
	cfg := DefaultWatcherConfig()
	cfg.Files = []string{"a.yaml"}
	w, err := NewWatcher(cfg, testSchema(t), read, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	rs, changed, err := w.Poll(now)
	if err != nil || !changed || rs.Len() != 1 {
		t.Fatalf("first Poll = %v, %v, %v; want 1 rule, changed", rs, changed, err)
	}
	files["a.yaml"] = "rules:\n  - name: a\n    when: cpu.utilisation > 1\n    then: [{mode: gaming}]\n"
	if _, changed, err := w.Poll(now.Add(time.Second)); changed || err != nil {
		t.Fatalf("Poll before the interval = %v, %v; want nothing", changed, err)
	}
	rs2, changed, err := w.Poll(now.Add(3 * time.Second))
	if !errors.Is(err, ErrUnknownFeature) || changed || rs2 != rs {
		t.Fatalf("Poll after a bad edit = %v, %v, %v; want the old rules and ErrUnknownFeature", rs2, changed, err)
	}
	if _, _, err := w.Poll(now.Add(6 * time.Second)); err != nil || w.Err() == nil {
		t.Fatalf("second Poll of the same bad file = %v (Err %v); want it reported once and kept in Err", err, w.Err())
	}
	files["a.yaml"] = "rules:\n  - name: b\n    when: cpu.utilization > 1\n    then: [{mode: gaming}]\n"
	rs3, changed, err := w.Poll(now.Add(9 * time.Second))
	if err != nil || !changed || rs3.Rules()[0].Name != "b" || w.Err() != nil {
		t.Fatalf("Poll after the fix = %v, %v, %v; want rule b", rs3, changed, err)
	}
}
