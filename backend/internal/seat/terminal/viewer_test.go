package terminal

import (
	"bytes"
	"testing"
	"time"
)

// A read-only viewer that pauses, or never reads (an instructor's background
// tab), must not hold the PTY reader: the learner's output keeps flowing, and
// the viewer, once it reads again, skips forward with RESET.
func TestReadOnlyViewerNeverHoldsTheReader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		pause bool
	}{{"paused", true}, {"not-reading", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const ringSize = 64 << 10
			// A stall timeout far beyond the test's deadline: if the viewer
			// held the reader, the learner would wait for it.
			m, url := newTestManager(t, Config{RingSize: ringSize, StallTimeout: time.Hour})
			ctx := testCtx(t)
			learner := dial(t, ctx, url, nil)
			run(t, ctx, learner, "echo ready-$((1+1))", "ready-2")
			s, _ := m.Get(learner.Hello.Session)
			viewer := dial(t, ctx, url, &DialOptions{Session: learner.Hello.Session, Offset: learner.Offset(), Mode: ModeRO})
			if tc.pause {
				if err := viewer.Pause(ctx); err != nil {
					t.Fatal(err)
				}
				if err := viewer.Ping(ctx, nil); err != nil { // PAUSE handled
					t.Fatal(err)
				}
			}
			// 16 MiB of output: 256 times the ring, and four times what the
			// socket buffers between the daemon and a viewer that does not
			// read can hold (a TCP send buffer autotunes up to tcp_wmem's
			// maximum, 4 MiB on Debian: with 4 MiB of output the viewer was
			// at times never overtaken, and the test failed).
			out := run(t, ctx, learner, "head -c 16777216 /dev/zero | tr '\\\\0' x; echo; echo done-$((2+3))", "done-5")
			if len(out) < 16<<20 {
				t.Fatalf("learner got %d bytes", len(out))
			}
			if st := s.Stats(); st.Allocated > ringSize {
				t.Fatalf("ring grew to %d", st.Allocated)
			}
			// The viewer catches up by skipping, not by replaying 16 MiB.
			if tc.pause {
				if err := viewer.Resume(ctx); err != nil {
					t.Fatal(err)
				}
			}
			got, err := viewer.ReadUntil(ctx, "done-5")
			if err != nil {
				t.Fatal(err)
			}
			if viewer.Resets() == 0 {
				t.Fatal("the overtaken viewer got no RESET")
			}
			if i := bytes.Index(got, []byte("done-5")); i < 0 {
				t.Fatal("viewer missed the end")
			}
			// The learner's session is still interactive.
			run(t, ctx, learner, "echo after-$((5+5))", "after-10")
		})
	}
}

// A read-write client far behind (it did not read during a flood) asks to
// SKIP after Ctrl-C: it drops what is in flight, gets RESET to the newest
// output, and sees the prompt after at most a few screens of output instead
// of the whole backlog.
func TestSkipBoundsTheBacklogAfterCtrlC(t *testing.T) {
	t.Parallel()
	const ringSize = 1 << 20
	m, url := newTestManager(t, Config{RingSize: ringSize, StallTimeout: time.Hour})
	ctx := testCtx(t)
	c := dial(t, ctx, url, nil)
	run(t, ctx, c, "echo ready-$((1+1))", "ready-2")
	s, _ := m.Get(c.Hello.Session)
	if err := c.Send(ctx, []byte("yes skip-test-line\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the PTY reader to block on the client that does not read", func() bool { return s.Stats().ReaderBlocked })
	// Reading again, the client soon learns from BEHIND how far back it is
	// (the whole ring) — what a browser uses to decide to SKIP.
	for {
		f, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f.Op == OpBehind {
			break
		}
	}
	if lag := c.Behind() - c.Offset(); lag < behindMin {
		t.Fatalf("BEHIND says %d bytes behind, want at least %d", lag, behindMin)
	}
	if err := c.Send(ctx, []byte{0x03}); err != nil {
		t.Fatal(err)
	}
	if err := c.Skip(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(ctx, []byte("echo after-$((5+5))\n")); err != nil {
		t.Fatal(err)
	}
	// Everything up to the RESET is dropped; after it, only the newest
	// output is rendered.
	var rendered int
	for c.Resets() == 0 {
		f, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f.Op == OpOutput {
			rendered += len(f.Data)
		}
	}
	if rendered != 0 {
		t.Fatalf("%d bytes rendered before the RESET", rendered)
	}
	got, err := c.ReadUntil(ctx, "after-10")
	if err != nil {
		t.Fatal(err)
	}
	// After the RESET: at most skipTail of old output, the rest of yes's
	// output still in the PTY, the echo and the prompt. Without SKIP the
	// client had the whole 1 MiB ring plus the socket buffers to render.
	if len(got) > skipTail+256<<10 {
		t.Fatalf("rendered %d bytes after the RESET, want a bounded tail", len(got))
	}
	t.Logf("dropped %d bytes in flight, rendered %d after the RESET", c.Dropped(), len(got))
}
