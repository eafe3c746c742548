package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// phases collects the sandbox's per-step timings of each seat start: its
// debug record "seat created" carries the time since the start's t0 at the
// end of each step (queued, cgroups, dirs, disk, rootfs, started, joined,
// network, init-done, ready), which phases turns into time spent per step.
type phases struct {
	mu    sync.Mutex
	order []string
	seats []map[string]time.Duration
}

func (p *phases) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelDebug }
func (p *phases) WithAttrs([]slog.Attr) slog.Handler           { return p }
func (p *phases) WithGroup(string) slog.Handler                { return p }

// Handle keeps the step durations of a "seat created" record.
func (p *phases) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "seat created" {
		return nil
	}
	steps := map[string]time.Duration{}
	var prev time.Duration
	var order []string
	r.Attrs(func(a slog.Attr) bool {
		if a.Value.Kind() != slog.KindDuration {
			return true
		}
		d := a.Value.Duration()
		if a.Key == "queued" { // before t0: its own length
			steps[a.Key] = d
		} else { // since t0, cumulative
			steps[a.Key] = d - prev
			prev = d
		}
		order = append(order, a.Key)
		return true
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(order) > len(p.order) {
		p.order = order
	}
	p.seats = append(p.seats, steps)
	return nil
}

// take returns a line of each step's p50 over the seats since the last
// take ("" when none was recorded), and forgets them.
func (p *phases) take() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.seats) == 0 {
		return ""
	}
	var b strings.Builder
	for _, step := range p.order {
		var ds []time.Duration
		for _, s := range p.seats {
			if d, ok := s[step]; ok {
				ds = append(ds, d)
			}
		}
		if len(ds) == 0 {
			continue
		}
		slices.Sort(ds)
		fmt.Fprintf(&b, " %s %s", step, ds[len(ds)/2].Round(100*time.Microsecond))
	}
	p.seats = nil
	return "step p50 (time in each step):" + b.String()
}
