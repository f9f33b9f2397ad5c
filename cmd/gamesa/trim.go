package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"
)

// trimAfter is how long the agent runs before it gives back the memory
// that only starting up needed: the models are built and the first ticks
// have run every steady-state code path by then.
const trimAfter = 30 * time.Second

// trimStartupMemory waits until ready is closed and trimAfter has passed,
// then returns the heap that start-up used to the kernel and asks it to page
// out the executable's code and read-only data (see releaseImage). Pages the
// agent still runs fault back in from the page cache; what only start-up
// touched (package initialisers, flag parsing, the models' bootstrap, ...)
// stops counting in the agent's resident set. It gives up quietly when ctx
// ends first.
func trimStartupMemory(ctx context.Context, ready <-chan struct{}, log *slog.Logger) {
	select {
	case <-ctx.Done():
		return
	case <-ready:
	}
	t := time.NewTimer(trimAfter)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	debug.FreeOSMemory()
	n, err := releaseImage()
	if err != nil {
		log.Debug("start-up pages not released", "err", err)
		return
	}
	log.Debug("released start-up pages", "bytes", n)
}
