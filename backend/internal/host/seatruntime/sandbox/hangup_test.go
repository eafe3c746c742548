//go:build linux

package sandbox

import (
	"context"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/clarateach/backend/internal/host/seatruntime"
)

// An agent started with SIGHUP or SIGINT ignored (under nohup, or as a
// script's background job) started its seats' inits so, and an ignored
// signal stays ignored across exec: the daemon, the root-script helper and
// the scripts ignored them too. The C init gives them the default action
// back, and so does the Go init (the fallback without a static C
// compiler).
func TestSeatProgramsGetTheDefaultHangUp(t *testing.T) {
	needRoot(t)
	// Not parallel: it changes this test process's SIGHUP and SIGINT,
	// which the seats it starts inherit.
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT)
	defer signal.Reset(syscall.SIGHUP, syscall.SIGINT)
	for _, kind := range []string{"C", "Go"} {
		t.Run(kind+" init", func(t *testing.T) {
			cfg := testConfig(t)
			if kind == "Go" {
				cfg.PID1Path = ""
			} else if cfg.PID1Path == "" {
				t.Skip("no C init here (CTSB_TEST_INIT=go)")
			}
			r := newRuntime(t, cfg)
			s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-hup", Seat: 1})
			res, err := r.ExecRoot(context.Background(), s, seatruntime.ExecRequest{Script: "#!/bin/sh\ngrep SigIgn /proc/self/status\n"})
			if err != nil {
				t.Fatal(err)
			}
			v, ok := strings.CutPrefix(strings.TrimSpace(res.Stdout), "SigIgn:")
			if !ok {
				t.Fatalf("root script: %+v", res)
			}
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT} {
				if mask&(1<<(sig-1)) != 0 {
					t.Errorf("a root script ignores %v (SigIgn %s), inherited from the agent", sig, strings.TrimSpace(v))
				}
			}
		})
	}
}
