package dashboard

import (
	"encoding/json"
	"errors"
	"math"
	"net/url"
	"testing"
	"time"
)

// FuzzParseClientMessage: whatever a page sends, the parser returns a
// message the loop can act on or ErrBadRequest, never panics.
func FuzzParseClientMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"ack","n":1}`, `{"type":"ack","n":3}`, `{"type":"rate","rate":60}`, `{"type":"rate","rate":0.5}`,
		`{"type":"ack","n":-1}`, `{"type":"rate","rate":1e308}`, `{"type":"rate","rate":"x"}`, `{}`, `null`, `[`, ``,
		`{"type":"ack","n":1,"type":"rate"}`, `{"type":"ack","n":01}`, `{"type":"ack","n":+1}`, `{"type":"ack","n":2} `,
		`{"type":"ack","n":4}`, `{"type":"ack","n":10}`,
	} {
		f.Add([]byte(s))
	}
	const maxRate, inFlight = 60, 3
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseClientMessage(b, maxRate, inFlight)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("parseClientMessage(%q) = %v; want ErrBadRequest", b, err)
			}
			return
		}
		switch m.Type {
		case "ack":
			if m.N < 1 || m.N > inFlight {
				t.Fatalf("parseClientMessage(%q) accepted ack n=%d", b, m.N)
			}
			// The hand-written fast path must agree with the JSON decoder.
			var j clientMsg
			if err := json.Unmarshal(b, &j); err != nil || j.Type != "ack" || j.N != m.N {
				t.Fatalf("parseClientMessage(%q) = ack %d; json.Unmarshal says %+v, %v", b, m.N, j, err)
			}
		case "rate":
			if !(m.Rate >= 0.01 && m.Rate <= maxRate) || rateInterval(m.Rate) <= 0 {
				t.Fatalf("parseClientMessage(%q) accepted rate %v", b, m.Rate)
			}
		default:
			t.Fatalf("parseClientMessage(%q) accepted type %q", b, m.Type)
		}
	})
}

// FuzzParseRange: any query string yields a range the history can serve
// (from <= to, at most maxSpan, within int64 nanoseconds) or ErrBadRequest.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{
		"", "from=0&to=1000", "from=2026-03-01T12:00:00Z&to=2026-03-01T13:00:00.5Z", "to=-1",
		"from=9223372036854775807", "from=-9223372036854775808", "from=1e3", "to=2026-13-01T00:00:00Z",
		"from=1700000000000&to=1600000000000", "from=%zz",
	} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return // net/http has already refused such a query
		}
		from, to, err := parseRange(q, now)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("parseRange(%q) = %v; want ErrBadRequest", raw, err)
			}
			return
		}
		if to.Before(from) || to.Sub(from) > maxSpan {
			t.Fatalf("parseRange(%q) = [%v, %v]; want from <= to within %v", raw, from, to, maxSpan)
		}
		for _, x := range []time.Time{from, to} {
			if x.Before(time.Unix(0, math.MinInt64)) || x.After(time.Unix(0, math.MaxInt64)) {
				t.Fatalf("parseRange(%q): %v is outside int64 nanoseconds", raw, x)
			}
		}
	})
}
