package endtoend

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
)

// waitHome polls the learner's live facts (what their open workspace does;
// it delivers pushed files) until path in their home reads want.
func (e *localEnv) waitHome(t *testing.T, wsID string, seat int, tok, path, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if status, m := e.c.do("GET", "/api/workspaces/"+wsID+"/"+strconv.Itoa(seat)+"/live", tok, nil); status != 200 {
			t.Fatalf("live: %d %v", status, m)
		}
		got := e.readHome(t, wsID, seat, tok, path)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("~/%s of seat %d reads %q after %s, want %q", path, seat, got, within, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// push pushes a text file to every seat (seat 0) or one, and returns how
// many seats it was written to.
func (e *localEnv) push(t *testing.T, inst, wsID, path, content string, seat int) float64 {
	t.Helper()
	status, m := e.c.do("POST", "/api/workshops/"+wsID+"/files", inst, map[string]any{"path": path, "content": content, "seat": seat})
	if status != 200 {
		t.Fatalf("push %s: %d %v", path, status, m)
	}
	return m["written"].(float64)
}

// TestPushLaterJoiner: a file the instructor pushed reaches, in real seats,
// a learner who joins after the push, once: a learner who deleted it does
// not get it back from later pushes of other files, only when it is pushed
// again. A seat rebuilt with an empty home gets the pushed files again.
func TestPushLaterJoiner(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := startLocal(ctx, t)
	inst, wsID, code := e.running(ctx, t, 3)
	seatA, tokA := e.joinReady(t, e.learner(t, code, "early@example.com"))
	if n := e.push(t, inst, wsID, "notes/pushed.txt", "first push\n", 0); n != 1 {
		t.Fatalf("the push reached %v seats, want the 1 seated learner", n)
	}
	if got := e.readHome(t, wsID, seatA, tokA, "notes/pushed.txt"); got != "first push\n" {
		t.Fatalf("the seated learner's home: %q", got)
	}

	// A learner who joins later finds the file once their workspace opens.
	seatB, tokB := e.joinReady(t, e.learner(t, code, "late@example.com"))
	e.waitHome(t, wsID, seatB, tokB, "notes/pushed.txt", "first push\n", time.Minute)

	// Both delete it. A later push of another file to every seat reaches
	// them (with any push their home has not had) and the deleted file
	// stays deleted. A push to one seat reaches that seat only, and no
	// learner who joins later.
	ac := agentclient.New(e.prov.URL(), e.prov.Token(), nil)
	for _, seat := range []int{seatA, seatB} {
		res, err := ac.Exec(ctx, wsID, seat, agentclient.ExecRequest{Script: "rm ~/notes/pushed.txt", TimeoutMS: 10000})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("delete the file in seat %d: %v %+v", seat, err, res)
		}
	}
	if n := e.push(t, inst, wsID, "only-a.txt", "for A\n", seatA); n != 1 {
		t.Fatalf("the push to seat %d reached %v seats", seatA, n)
	}
	if n := e.push(t, inst, wsID, "other.txt", "second push\n", 0); n != 2 {
		t.Fatalf("the second push reached %v seats, want 2", n)
	}
	seatC, tokC := e.joinReady(t, e.learner(t, code, "later@example.com"))
	e.waitHome(t, wsID, seatC, tokC, "other.txt", "second push\n", time.Minute)
	for _, c := range []struct {
		seat      int
		tok, path string
		want      string
	}{
		{seatA, tokA, "notes/pushed.txt", "(404)"}, {seatB, tokB, "notes/pushed.txt", "(404)"}, {seatC, tokC, "notes/pushed.txt", "first push\n"},
		{seatA, tokA, "other.txt", "second push\n"}, {seatB, tokB, "other.txt", "second push\n"},
		{seatA, tokA, "only-a.txt", "for A\n"}, {seatB, tokB, "only-a.txt", "(404)"}, {seatC, tokC, "only-a.txt", "(404)"},
	} {
		if got := e.readHome(t, wsID, c.seat, c.tok, c.path); got != c.want {
			t.Errorf("seat %d: ~/%s reads %q, want %q", c.seat, c.path, got, c.want)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Pushed again, it comes back.
	if n := e.push(t, inst, wsID, "notes/pushed.txt", "pushed again\n", 0); n != 3 {
		t.Fatalf("the second push reached %v seats, want 3", n)
	}
	e.waitHome(t, wsID, seatB, tokB, "notes/pushed.txt", "pushed again\n", time.Minute)

	// B's seat is rebuilt with an empty home: the pushed files are there
	// again, the newest version of each path.
	if err := ac.DeleteSeat(ctx, wsID, seatB); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; {
		if err := e.rec.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := ac.GetSeat(ctx, wsID, seatB); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reconciler did not create the seat again")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The server compares the seat's creation time every 30 s.
	e.waitHome(t, wsID, seatB, tokB, "notes/pushed.txt", "pushed again\n", 2*time.Minute)
	if got := e.readHome(t, wsID, seatB, tokB, "other.txt"); got != "second push\n" {
		t.Fatalf("the rebuilt seat's other.txt: %q", got)
	}
	if got := e.readHome(t, wsID, seatB, tokB, "only-a.txt"); got != "(404)" {
		t.Fatalf("the rebuilt seat got another learner's push: %q", got)
	}
}
