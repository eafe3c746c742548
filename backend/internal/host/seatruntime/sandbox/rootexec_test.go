//go:build linux

package sandbox

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatinit"
)

// A root script runs as the seat's root: uid 0 inside, able to write the
// seat's /etc and the learner's home, but an unprivileged uid on the host
// (what it writes in the home is owned there by the seat's range, not by
// root), with a deadline, capped output, and no way for the learner to
// reach the socket that runs it.
func TestExecRoot(t *testing.T) {
	needRoot(t)
	r := newRuntime(t, testConfig(t))
	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-root", Seat: 1})
	ctx := context.Background()
	res, err := r.ExecRoot(ctx, s, seatruntime.ExecRequest{Script: "#!/bin/sh\nid -u\necho lab > /etc/lab-setup\necho from-root > \"$LEARNER_HOME/from-root\"\ncat /etc/lab-setup\necho oops >&2\nexit 3\n"})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 || res.Stdout != "0\nlab\n" || res.Stderr != "oops\n" || res.TimedOut {
		t.Fatalf("root script: %+v", res)
	}
	// The learner sees what root made, and is still not root.
	if got := seatSh(t, s, "cat /etc/lab-setup ~/from-root; id -u"); got != "lab\nfrom-root\n1000" {
		t.Fatalf("the learner sees %q", got)
	}
	// On the host, the file belongs to the seat's uid range, never to root.
	var st syscall.Stat_t
	if err := syscall.Stat(seatHomePath(s, "from-root"), &st); err != nil {
		t.Fatal(err)
	}
	if base := seatExtra(t, s).UIDBase; st.Uid == 0 || int(st.Uid) != base {
		t.Fatalf("from-root is owned by host uid %d, want the seat's root %d", st.Uid, base)
	}
	// Nothing outside the seat: the host's /etc is untouched.
	if _, err := os.Stat("/etc/lab-setup"); err == nil {
		os.Remove("/etc/lab-setup")
		t.Fatal("a root script wrote the host's /etc")
	}
	// Deadline and output cap.
	res, err = r.ExecRoot(ctx, s, seatruntime.ExecRequest{Script: "sleep 30 & sleep 30", TimeoutMS: 300})
	if err != nil || !res.TimedOut || res.ExitCode != 137 {
		t.Fatalf("a script past its deadline: %+v %v", res, err)
	}
	res, err = r.ExecRoot(ctx, s, seatruntime.ExecRequest{Script: "head -c 100000 /dev/zero | tr '\\0' x"})
	if err != nil || !res.Truncated || len(res.Stdout) != seatruntime.MaxRootOutput {
		t.Fatalf("a loud script: truncated %v, %d bytes, %v", res.Truncated, len(res.Stdout), err)
	}
	// The learner cannot find or reach the root socket.
	sock := seatinit.RootSockPath(s.Address)
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("no root socket on the host at %s: %v", sock, err)
	}
	if got := seatSh(t, s, "ls -a / /run /run/clarateach 2>/dev/null | grep -c root.sock || true"); got != "0" {
		t.Fatalf("the seat can see a root.sock (%s)", got)
	}
	if res := seatExec(t, s, "/bin/sh", "-c", "test -e "+sock+" || test -e "+filepath.Dir(sock)); res.Code == 0 {
		t.Fatal("the root socket's path exists in the seat")
	}
	// The daemon's user is not root either: its seat exec still runs as the learner.
	if got := seatSh(t, s, "id -u"); got != strconv.Itoa(learnerUID) {
		t.Fatalf("learner uid %s", got)
	}
}

// The seat's init (package seatinit, which links none of the agent's
// packages) keeps its own copy of the root scripts' limits and wire types:
// they must be the agent's.
func TestRootScriptLimitsAgree(t *testing.T) {
	if seatinit.MaxRootScript != seatruntime.MaxRootScript || seatinit.MaxRootOutput != seatruntime.MaxRootOutput ||
		seatinit.DefaultRootTime != seatruntime.DefaultRootTime || seatinit.MaxRootTime != seatruntime.MaxRootTime {
		t.Error("seatinit's root script limits differ from seatruntime's")
	}
	req := seatruntime.ExecRequest{Script: "id", TimeoutMS: 5}
	b, _ := json.Marshal(req)
	var got seatinit.RootRequest
	if err := json.Unmarshal(b, &got); err != nil || got.Script != req.Script || got.TimeoutMS != req.TimeoutMS {
		t.Errorf("request %s read by the init as %+v (%v)", b, got, err)
	}
	res := seatinit.RootResult{ExitCode: 3, Stdout: "o", Stderr: "e", Truncated: true, TimedOut: true, DurationMS: 9, Error: "x"}
	b, _ = json.Marshal(res)
	var back seatruntime.ExecResult
	if err := json.Unmarshal(b, &back); err != nil || back != (seatruntime.ExecResult(res)) {
		t.Errorf("result %s read by the agent as %+v (%v)", b, back, err)
	}
}
