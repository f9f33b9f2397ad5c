package main

import (
	"context"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLANParty runs a short party: every tick lists the five PCs, the
// caps never sum above the budget, and once the caps have bitten the
// PCs draw within it.
func TestLANParty(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out strings.Builder
	const budget = 120
	if err := run(ctx, budget, 10, 500*time.Millisecond, &out, io.Discard); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	totals := regexp.MustCompile(`total draw +([0-9.]+) W, caps +([0-9.]+) W`).FindAllStringSubmatch(out.String(), -1)
	if len(totals) != 10 {
		t.Fatalf("%d ticks printed; want 10\n%s", len(totals), out.String())
	}
	for _, pc := range pcs {
		if strings.Count(out.String(), "  "+pc.id+" ") != 10 {
			t.Errorf("%s is not on every tick\n%s", pc.id, out.String())
		}
	}
	within := 0
	for i, m := range totals {
		draw, _ := strconv.ParseFloat(m[1], 64)
		caps, _ := strconv.ParseFloat(m[2], 64)
		if caps > budget {
			t.Errorf("tick %d: caps sum to %.1f W, above the %d W budget", i+1, caps, budget)
		}
		if i >= 5 && draw <= budget {
			within++
		}
	}
	if within == 0 {
		t.Errorf("the PCs never drew within the budget in the last five ticks\n%s", out.String())
	}
}
