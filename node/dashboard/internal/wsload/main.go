// Command wsload connects many live dashboards to one agent, to measure what
// they cost it (node/dashboard/footprint.sh runs it). Each WebSocket client
// reads every update and acknowledges them as a page that draws instantly
// would (half of in_flight at a time); with -browser, real headless Chromium tabs load the page
// instead, drawing every update with the dashboard's own code.
//
//	wsload -addr 127.0.0.1:8080 -clients 10 -rate 10 -duration 60s
//	wsload -addr 127.0.0.1:8080 -clients 10 -rate 10 -duration 60s -browser /usr/bin/chromium
//
// It prints, per client, the updates received and their rate, and exits 1
// when a client's connection fails.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"sync"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "the agent's HTTP address")
	clients := flag.Int("clients", 10, "how many dashboards")
	rate := flag.Float64("rate", 10, "updates per second each asks for")
	duration := flag.Duration("duration", 60*time.Second, "how long to stay connected")
	browser := flag.String("browser", "", "a Chromium binary: load the page in that many tabs instead of plain WebSocket clients")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()

	var counts []int
	var err error
	if *browser != "" {
		counts, err = tabs(ctx, *browser, *addr, *clients, *rate)
	} else {
		counts, err = sockets(ctx, *addr, *clients, *rate)
	}
	report(counts, *duration)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsload:", err)
		os.Exit(1)
	}
}

func report(counts []int, d time.Duration) {
	if len(counts) == 0 {
		return
	}
	sorted := append([]int(nil), counts...)
	sort.Ints(sorted)
	total := 0
	for _, c := range counts {
		total += c
	}
	fmt.Printf("clients       %d\n", len(counts))
	fmt.Printf("updates       %d in %v (%.1f per client per second; slowest client %.1f, fastest %.1f)\n",
		total, d, float64(total)/float64(len(counts))/d.Seconds(),
		float64(sorted[0])/d.Seconds(), float64(sorted[len(sorted)-1])/d.Seconds())
}

// sockets runs n WebSocket clients until ctx ends and returns the samples
// each received.
func sockets(ctx context.Context, addr string, n int, rate float64) ([]int, error) {
	counts := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { counts[i], errs[i] = socket(ctx, addr, rate) })
	}
	wg.Wait()
	return counts, errors.Join(errs...)
}

func socket(ctx context.Context, addr string, rate float64) (int, error) {
	c, _, err := websocket.Dial(ctx, fmt.Sprintf("ws://%s/gamesa/ws?rate=%g", addr, rate), nil)
	if err != nil {
		return 0, err
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	// Acknowledge as the page does: half of in_flight at a time.
	every, unacked := 1, 0
	got := 0
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return got, nil // the run is over
			}
			return got, err
		}
		var m struct {
			Type     string
			InFlight int `json:"in_flight"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return got, err
		}
		if m.Type == "hello" {
			every = max(1, (m.InFlight+1)/2)
		}
		if m.Type != "sample" {
			continue
		}
		got++
		if unacked++; unacked < every {
			continue
		}
		ack := fmt.Appendf(nil, `{"type":"ack","n":%d}`, unacked)
		unacked = 0
		if err := c.Write(ctx, websocket.MessageText, ack); err != nil {
			if ctx.Err() != nil {
				return got, nil
			}
			return got, err
		}
	}
}

// tabs loads the dashboard in n tabs of one headless Chromium and returns
// how many live samples each tab received while ctx lasted.
func tabs(ctx context.Context, exe, addr string, n int, rate float64) ([]int, error) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.Flag("disable-dev-shm-usage", true))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	// The tabs outlive ctx's deadline by a little: the last reading needs them.
	bctx, cancel := chromedp.NewExecAllocator(context.WithoutCancel(ctx), opts...)
	defer cancel()
	root, cancelRoot := chromedp.NewContext(bctx)
	defer cancelRoot()
	if err := chromedp.Do(root); err != nil {
		return nil, err
	}
	url := fmt.Sprintf("http://%s/gamesa?rate=%g", addr, rate)
	seq := func(tab context.Context) (int, error) {
		return chromedp.Run(tab, chromedp.Evaluate[int](`+document.body.dataset.received || 0`))
	}
	tabCtxs := make([]context.Context, n)
	for i := range n {
		tab, cancelTab := chromedp.NewContext(root)
		defer cancelTab()
		if err := chromedp.Do(tab, chromedp.Navigate(url)); err != nil {
			return nil, err
		}
		tabCtxs[i] = tab
	}
	start := make([]int, n)
	for i, tab := range tabCtxs {
		s, err := seq(tab)
		if err != nil {
			return nil, err
		}
		start[i] = s
	}
	<-ctx.Done()
	counts := make([]int, n)
	for i, tab := range tabCtxs {
		s, err := seq(tab)
		if err != nil {
			return counts, err
		}
		counts[i] = s - start[i]
	}
	return counts, nil
}
