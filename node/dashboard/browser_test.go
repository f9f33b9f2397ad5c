package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// findBrowser returns the headless Chromium to drive: $GAMESA_CHROMIUM, or
// Debian's chromium on the PATH.
func findBrowser(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("GAMESA_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)"
	if os.Getenv("GAMESA_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + "; GAMESA_REQUIRE_BROWSER=1 requires the browser test")
	}
	t.Skip(msg + ": browser test skipped")
	return ""
}

// outDir is where the screenshots go: $GAMESA_TEST_OUT/dashboard, or the
// test's artifact directory (kept with go test -artifacts -outputdir DIR).
func outDir(t *testing.T) string {
	t.Helper()
	dir := t.ArtifactDir()
	if base := os.Getenv("GAMESA_TEST_OUT"); base != "" {
		dir = filepath.Join(base, "dashboard")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatalf("GAMESA_TEST_OUT: %v", err)
		}
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// bundled reports whether the node serves the built page rather than the
// page that says how to build it.
func bundled(t *testing.T, base string) bool {
	t.Helper()
	resp, err := http.Get(base + "/gamesa")
	if err != nil {
		t.Fatalf("GET /gamesa: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET /gamesa: %v", err)
	}
	return strings.Contains(string(b), "/gamesa/assets/app.js")
}

// page drives one tab and collects what the page reports as broken.
type page struct {
	t        *testing.T
	ctx      context.Context
	mu       sync.Mutex
	problems []string
}

func (p *page) problem(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.problems = append(p.problems, fmt.Sprintf(format, args...))
}

func (p *page) checkNoProblems() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.problems {
		p.t.Errorf("browser console: %s", pr)
	}
	p.problems = nil
}

func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// until evaluates expr until it is true, failing after 30 s with the value
// of show.
func (p *page) until(what, expr, show string) {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !eval[bool](p, expr) {
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: not within 30s (%s = %s)", what, show, eval[string](p, "JSON.stringify("+show+")"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *page) screenshot(dir, name string) {
	p.t.Helper()
	buf, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100)) // 100 means PNG; less, JPEG
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	p.t.Logf("wrote %s (%d bytes)", path, len(buf))
}

func newPage(t *testing.T, exe string) *page {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTime()
		cancelTab()
		cancelAlloc()
	})
	p := &page{t: t, ctx: ctx}
	p.do("starting the browser", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdplog.Enable, cdp.Empty{})
		return err
	}))
	// Subscribe before loading the page, so nothing it reports is missed.
	consoleEvents := chromedp.Events(ctx, runtime.ConsoleAPICalled)
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	entries := chromedp.Events(ctx, cdplog.EntryAdded)
	go func() {
		for ev, err := range consoleEvents {
			if err != nil {
				return
			}
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				p.problem("console.%s: %s", ev.Type, strings.Join(args, " "))
			}
		}
	}()
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			p.problem("uncaught: %s %s", ev.ExceptionDetails.Text, ev.ExceptionDetails.Exception.Description)
		}
	}()
	go func() {
		for ev, err := range entries {
			if err != nil {
				return
			}
			if ev.Entry.Level == cdplog.EntryLevelError {
				p.problem("%s: %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
			}
		}
	}()
	return p
}

// TestBrowser loads the dashboard of a running node in headless Chromium and
// checks what a person would: it loads cleanly, the charts show data, live
// updates advance, the theme follows the system and toggles, playback plays
// the recorder, an exported CSV matches the recorded history, and the layout
// fits a phone.
func TestBrowser(t *testing.T) {
	if raceEnabled {
		t.Skip("the browser test runs without -race; under it the node is too slow to be worth the minute")
	}
	exe := findBrowser(t)
	dir := outDir(t)
	n := startNode(t)
	base := "http://" + n.HTTPAddr().String()
	if !bundled(t, base) {
		msg := "the front end is not built into this test binary (run make dashboard, or make test)"
		if os.Getenv("GAMESA_REQUIRE_BROWSER") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg + ": browser test skipped")
	}
	p := newPage(t, exe) // after startNode: the browser closes before the node stops

	p.do("loading the page", chromedp.Navigate(base+"/gamesa?rate=10"))
	p.until("live samples", `+document.body.dataset.lastSeq > 0`, `document.body.dataset`)

	// Charts show data: each panel that has data for a simulated machine
	// draws a chart with points, and its canvas is painted.
	for _, id := range []string{"p-heatmap", "p-temps", "p-power", "p-util"} {
		p.until(id+" shows data", fmt.Sprintf(`(() => { const e = document.getElementById(%q);
			return e.dataset.state === 'data' && +e.dataset.points > 2 && !!e.querySelector('canvas'); })()`, id),
			fmt.Sprintf(`document.getElementById(%q).dataset`, id))
		painted := eval[int](p, fmt.Sprintf(`(() => { const c = document.querySelector('#%s canvas');
			const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
			let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })()`, id))
		if painted < 500 {
			t.Errorf("%s: %d painted pixels; want a drawn chart", id, painted)
		}
	}
	// The node's decisions (its policy runs on the simulated machine too)
	// fill the timeline; the allocation view fills once the simulated
	// scenario cycles to a game or a render, so either state is right.
	p.until("the decision timeline", `document.getElementById('p-decisions').dataset.state === 'data'`,
		`document.getElementById('p-decisions').textContent`)
	// Views without data say so, in words.
	for _, id := range []string{"p-fps", "p-anomaly", "p-settings", "p-jobs", "p-rounds"} {
		state := eval[string](p, fmt.Sprintf(`document.getElementById(%q).dataset.state`, id))
		text := eval[string](p, fmt.Sprintf(`document.querySelector('#%s .empty').textContent`, id))
		if state != "empty" || !strings.HasPrefix(text, "No ") {
			t.Errorf("%s: state %q, text %q; want an empty state that says so", id, state, text)
		}
	}
	p.until("the cluster card", `document.querySelectorAll('#members .member[data-node="dash-node"]').length === 1`,
		`document.getElementById('members').textContent`)

	// Live updates advance.
	seq := eval[int](p, `+document.body.dataset.lastSeq`)
	p.until("live updates to advance", fmt.Sprintf(`+document.body.dataset.lastSeq >= %d`, seq+5), `document.body.dataset.lastSeq`)
	p.until("the measured rate to show", `/live · \d/.test(document.getElementById('conn').textContent)`, `document.getElementById('conn').textContent`)
	p.screenshot(dir, "dashboard-desktop.png")

	// The theme follows the system, and the toggle overrides it.
	bg := func() string { return eval[string](p, `getComputedStyle(document.body).backgroundColor`) }
	light := bg()
	p.do("emulating a dark system", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
		})
		return err
	}))
	p.until("the page to follow the dark system", fmt.Sprintf(`getComputedStyle(document.body).backgroundColor !== %q`, light), `getComputedStyle(document.body).backgroundColor`)
	dark := bg()
	if th := eval[string](p, `document.documentElement.dataset.theme || ''`); th != "" {
		t.Errorf("following the system, data-theme = %q; want none", th)
	}
	p.screenshot(dir, "dashboard-desktop-dark.png")
	p.do("toggling the theme", chromedp.Click(chromedp.ID("theme")))
	if got := bg(); got != light {
		t.Errorf("after the toggle on a dark system: background %s; want the light %s", got, light)
	}
	if th := eval[string](p, `document.documentElement.dataset.theme`); th != "light" {
		t.Errorf("after the toggle: data-theme = %q; want light", th)
	}
	p.do("toggling back", chromedp.Click(chromedp.ID("theme")))
	if got := bg(); got != dark {
		t.Errorf("toggled back: background %s; want the dark %s", got, dark)
	}
	if th := eval[string](p, `document.documentElement.dataset.theme || ''`); th != "" {
		t.Errorf("toggled back to the system's theme: data-theme = %q; want none (following the system again)", th)
	}
	p.until("charts redrawn after the theme change", `document.getElementById('p-util').dataset.state === 'data'`, `document.getElementById('p-util').dataset`)

	// Export: the CSV the browser downloads is the node's recorded history.
	dl := t.TempDir()
	p.do("allowing downloads", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dl, EventsEnabled: new(true),
		})
		return err
	}))
	progress := chromedp.BrowserEvents(p.ctx, browser.DownloadProgress)
	p.do("exporting CSV", chromedp.Click(chromedp.ID("export-csv")))
	var guid string
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("waiting for the download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatal("the CSV download was cancelled")
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			guid = ev.GUID
			break
		}
	}
	csvData, err := os.ReadFile(filepath.Join(dl, guid))
	if err != nil {
		t.Fatalf("reading the download: %v", err)
	}
	href, err := url.Parse(eval[string](p, `document.getElementById('export-csv').href`))
	if err != nil {
		t.Fatalf("export link: %v", err)
	}
	fromMS, _ := strconv.ParseInt(href.Query().Get("from"), 10, 64)
	toMS, _ := strconv.ParseInt(href.Query().Get("to"), 10, 64)
	checkCSV(t, csvData, recorded(t, n, time.UnixMilli(fromMS), time.UnixMilli(toMS)))

	// Playback: load the last 15 minutes from the recorder, play, scrub.
	p.do("opening playback", chromedp.Click(chromedp.ID("mode-playback")))
	p.do("loading 15 minutes", chromedp.Click(chromedp.CSS(`.presets button[data-last="900"]`)))
	p.until("the range to load", `+document.body.dataset.playbackRows > 5 && !document.getElementById('pb-play').disabled`, `document.getElementById('pb-label').textContent`)
	head := eval[float64](p, `+document.getElementById('pb-scrub').value`)
	p.do("playing", chromedp.Click(chromedp.ID("pb-play")))
	p.until("the playhead to move", fmt.Sprintf(`+document.getElementById('pb-scrub').value > %v`, head), `document.getElementById('pb-scrub').value`)
	p.do("pausing", chromedp.Click(chromedp.ID("pb-play")))
	p.do("scrubbing to the start", chromedp.Evaluate[chromedp.Void](`(() => { const s = document.getElementById('pb-scrub');
		s.value = s.min; s.dispatchEvent(new Event('input')); })()`))
	p.until("the view to follow the scrub", `document.getElementById('p-util').dataset.state === 'empty' || +document.getElementById('p-util').dataset.points <= 2`,
		`document.getElementById('p-util').dataset`)
	p.do("scrubbing to the end", chromedp.Evaluate[chromedp.Void](`(() => { const s = document.getElementById('pb-scrub');
		s.value = s.max; s.dispatchEvent(new Event('input')); })()`))
	p.until("the playback charts to show the range", `document.getElementById('p-util').dataset.state === 'data'`, `document.getElementById('p-util').dataset`)
	p.do("back to live", chromedp.Click(chromedp.ID("mode-live")))

	// A phone: nothing wider than the screen, every chart within it.
	p.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	p.until("the charts to fit a phone", `(() => { const w = document.documentElement.clientWidth;
		return document.documentElement.scrollWidth <= w &&
			[...document.querySelectorAll('.panel, .tile, .member, canvas')].every(e => e.getBoundingClientRect().right <= w + 0.5); })()`,
		`[document.documentElement.clientWidth, document.documentElement.scrollWidth,
			[...document.querySelectorAll('.panel, .tile, .member, canvas')].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5).map(e => (e.id || e.className) + ':' + Math.round(e.getBoundingClientRect().right))]`)
	if cols := eval[int](p, `getComputedStyle(document.querySelector('#node .grid')).gridTemplateColumns.split(' ').length`); cols != 1 {
		t.Errorf("phone: the node grid has %d columns; want 1", cols)
	}
	seq = eval[int](p, `+document.body.dataset.lastSeq`)
	p.until("live updates on the phone", fmt.Sprintf(`+document.body.dataset.lastSeq > %d`, seq), `document.body.dataset.lastSeq`)
	p.screenshot(dir, "dashboard-phone.png")

	p.checkNoProblems()
}
