package dashboard

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Range limits. Samples carry int64 nanoseconds (the years 1678 to 2262);
// a range longer than maxSpan is a mistake (the recorder keeps days).
const (
	maxSpan       = 366 * 24 * time.Hour
	defaultWindow = 5 * time.Minute
)

var (
	minTime = time.Unix(0, -1<<63+1)
	maxTime = time.Unix(0, 1<<63-1)
)

// parseTime reads an instant as Unix milliseconds or RFC 3339.
func parseTime(name, s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		// Bound before converting: UnixMilli wraps silently far out.
		if ms < minTime.UnixMilli() || ms > maxTime.UnixMilli() {
			return time.Time{}, fmt.Errorf("%w: %s %d ms is outside the years 1678-2262", ErrBadRequest, name, ms)
		}
		return time.UnixMilli(ms), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s must be Unix milliseconds or RFC 3339; got %q", ErrBadRequest, name, truncate(s, 40))
	}
	if t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, fmt.Errorf("%w: %s %s is outside the years 1678-2262", ErrBadRequest, name, s)
	}
	return t, nil
}

// parseRange reads from and to (inclusive). to defaults to now, from to
// five minutes before to.
func parseRange(q url.Values, now time.Time) (from, to time.Time, err error) {
	to = now
	if s := q.Get("to"); s != "" {
		if to, err = parseTime("to", s); err != nil {
			return
		}
	}
	from = to.Add(-defaultWindow)
	if s := q.Get("from"); s != "" {
		if from, err = parseTime("from", s); err != nil {
			return
		}
	}
	switch {
	case to.Before(from):
		err = fmt.Errorf("%w: to %s is before from %s", ErrBadRequest, to.UTC().Format(time.RFC3339), from.UTC().Format(time.RFC3339))
	case to.Sub(from) > maxSpan:
		err = fmt.Errorf("%w: a range of %v is longer than the %v the dashboard serves", ErrBadRequest, to.Sub(from).Round(time.Hour), maxSpan)
	}
	return
}

// writeError answers err: 400 for a bad request, 500 otherwise.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	if errors.Is(err, ErrBadRequest) {
		code = http.StatusBadRequest
	} else {
		h.log.Warn("dashboard: request failed", "path", r.URL.Path, "err", err)
	}
	http.Error(w, err.Error(), code)
}

func (h *Handler) serveInfo(w http.ResponseWriter, r *http.Request) {
	b, err := sampleJSON.Marshal(h.src.Info())
	if err != nil {
		h.writeError(w, r, fmt.Errorf("encoding node info: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b) // the page may have gone; nothing to do about it
}

func (h *Handler) serveCluster(w http.ResponseWriter, r *http.Request) {
	st, err := h.src.Cluster(r.Context())
	if err != nil {
		h.writeError(w, r, fmt.Errorf("reading cluster state: %w", err))
		return
	}
	b, err := sampleJSON.Marshal(st)
	if err != nil {
		h.writeError(w, r, fmt.Errorf("encoding cluster state: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b) // as above
}

// servePlans answers {"available":bool,"plans":[Plan...]}; available is
// false when the node makes no plans (yet).
func (h *Handler) servePlans(w http.ResponseWriter, r *http.Request) {
	from, to, err := parseRange(r.URL.Query(), time.Now())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var plans []*gamesav1.Plan
	ps, ok := h.src.(PlanSource)
	if ok {
		if plans, err = ps.Plans(r.Context(), from, to, h.cfg.MaxPoints); err != nil {
			h.writeError(w, r, fmt.Errorf("reading plans: %w", err))
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, `{"available":%t,"plans":[`, ok)
	for i, p := range plans {
		if i > 0 {
			bw.WriteByte(',')
		}
		b, err := sampleJSON.Marshal(p)
		if err != nil {
			abort(h, r, fmt.Errorf("encoding plan: %w", err))
		}
		bw.Write(b)
	}
	bw.WriteString("]}")
	_ = bw.Flush() // as above
}

// abort ends a response that has begun: the client sees a broken transfer
// rather than a silently shortened document.
func abort(h *Handler, r *http.Request, err error) {
	h.log.Warn("dashboard: response aborted", "path", r.URL.Path, "err", err)
	panic(http.ErrAbortHandler)
}

// serveHistory answers {"from":ms,"to":ms,"thinned":bool,"samples":[Sample...]}
// for the range. A range holding more than points samples (default and most
// MaxPoints) is thinned: the first sample of each of points equal slices.
func (h *Handler) serveHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, to, err := parseRange(q, time.Now())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	points := h.cfg.MaxPoints
	if s := q.Get("points"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 2 || n > h.cfg.MaxPoints {
			h.writeError(w, r, fmt.Errorf("%w: points must be within 2..%d; got %q", ErrBadRequest, h.cfg.MaxPoints, truncate(s, 20)))
			return
		}
		points = n
	}
	samples, thinned, err := h.thinned(r.Context(), from, to, points)
	if err != nil {
		h.writeError(w, r, fmt.Errorf("reading history: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, `{"from":%d,"to":%d,"thinned":%t,"samples":[`, from.UnixMilli(), to.UnixMilli(), thinned)
	for i, s := range samples {
		if i > 0 {
			bw.WriteByte(',')
		}
		b, err := sampleJSON.Marshal(s)
		if err != nil {
			abort(h, r, fmt.Errorf("encoding sample %d: %w", s.GetSeq(), err))
		}
		bw.Write(b)
	}
	bw.WriteString("]}")
	_ = bw.Flush() // as above
}

// thinned returns every sample in [from, to] when there are at most points,
// else the first sample of each of points equal slices of the range: one
// short read per slice, so a week is as cheap to show as a minute.
func (h *Handler) thinned(ctx context.Context, from, to time.Time, points int) ([]*gamesav1.Sample, bool, error) {
	all, more, err := h.src.History(ctx, from, to, points)
	if err != nil || !more {
		return all, false, err
	}
	step := to.Sub(from) / time.Duration(points)
	if step <= 0 {
		return all, true, nil // more samples than nanoseconds: the first ones will do
	}
	out := make([]*gamesav1.Sample, 0, points)
	for i := range points {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		a := from.Add(time.Duration(i) * step)
		b := a.Add(step - 1)
		if i == points-1 {
			b = to
		}
		got, _, err := h.src.History(ctx, a, b, 1)
		if err != nil {
			return nil, false, err
		}
		out = append(out, got...)
	}
	return out, true, nil
}

// eachSample calls f with every sample in [from, to], oldest first, reading
// ExportPage at a time. Pages continue from the last time seen; samples
// sharing that time are counted so none is repeated or lost.
func (h *Handler) eachSample(ctx context.Context, from, to time.Time, f func(*gamesav1.Sample) error) error {
	cursor, seen := from, 0 // seen: samples at exactly cursor already passed to f
	for {
		page, more, err := h.src.History(ctx, cursor, to, h.cfg.ExportPage+seen)
		if err != nil {
			return err
		}
		skip := 0
		for skip < len(page) && skip < seen && page[skip].GetTime().AsTime().Equal(cursor) {
			skip++
		}
		for _, s := range page[skip:] {
			if err := f(s); err != nil {
				return err
			}
		}
		if !more || len(page) == 0 {
			return nil
		}
		last := page[len(page)-1].GetTime().AsTime()
		n := 0
		for i := len(page) - 1; i >= 0 && page[i].GetTime().AsTime().Equal(last); i-- {
			n++
		}
		if last.Equal(cursor) {
			n = len(page) // the whole page sits at cursor: read a longer one
		}
		cursor, seen = last, n
	}
}

// serveExport streams [from, to] at full resolution as CSV (format=csv, the
// default) or JSON (format=json), as a download.
func (h *Handler) serveExport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, to, err := parseRange(q, time.Now())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	format := q.Get("format")
	if format == "" {
		format = "csv"
	}
	if format != "csv" && format != "json" {
		h.writeError(w, r, fmt.Errorf("%w: format must be csv or json; got %q", ErrBadRequest, truncate(format, 20)))
		return
	}
	ctx := r.Context()
	name := exportName(h.src.Info().GetNodeId(), from, to, format)
	if format == "json" {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
		bw := bufio.NewWriterSize(w, 64<<10)
		fmt.Fprintf(bw, `{"node_id":%q,"from":%q,"to":%q,"samples":[`, h.src.Info().GetNodeId(),
			from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano))
		n := 0
		err := h.eachSample(ctx, from, to, func(s *gamesav1.Sample) error {
			b, err := sampleJSON.Marshal(s)
			if err != nil {
				return fmt.Errorf("encoding sample %d: %w", s.GetSeq(), err)
			}
			if n > 0 {
				bw.WriteByte(',')
			}
			n++
			_, err = bw.Write(b)
			return err
		})
		if err != nil {
			abort(h, r, err)
		}
		bw.WriteString("]}\n")
		_ = bw.Flush() // as above
		return
	}

	// CSV needs its columns before the first row: a first pass finds every
	// sensor, core and domain the range holds (a GPU may appear midway).
	var cols columns
	if err := h.eachSample(ctx, from, to, func(s *gamesav1.Sample) error { cols.add(s); return nil }); err != nil {
		h.writeError(w, r, fmt.Errorf("reading history: %w", err))
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	cw := csv.NewWriter(w)
	if err := cw.Write(cols.header()); err != nil {
		return // the client is gone
	}
	row := make([]string, 0, len(cols.header()))
	err = h.eachSample(ctx, from, to, func(s *gamesav1.Sample) error {
		row = cols.row(row[:0], s)
		return cw.Write(row)
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	if err != nil {
		abort(h, r, err)
	}
}

// exportName is the download's file name: node, range and format, in
// characters every file system accepts.
func exportName(node string, from, to time.Time, format string) string {
	const stamp = "20060102T150405Z"
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, node)
	if clean == "" {
		clean = "node"
	}
	return fmt.Sprintf("gamesa-%s-%s-%s.%s", clean, from.UTC().Format(stamp), to.UTC().Format(stamp), format)
}
