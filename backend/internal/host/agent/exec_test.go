package agent

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
)

// The control plane runs a lab check in a seat through the agent; a learner
// cannot reach the daemon's /exec through the proxy.
func TestExecRunsInTheSeat(t *testing.T) {
	ta := newTestAgent(t, "", nil)
	ta.destroyAllOnCleanup(t)
	ctx := context.Background()
	c := ta.client()
	if _, _, err := c.CreateSeat(ctx, "ws1", 1, agentclient.SeatOptions{}); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(ta.rt.SeatDir("ws1", 1), "home")
	check := agentclient.ExecRequest{Script: "#!/bin/sh\ntest -f done.txt || { echo 'done.txt is missing'; exit 1; }\necho ok\n", TimeoutMS: 5000}
	res, err := c.Exec(ctx, "ws1", 1, check)
	if err != nil || res.ExitCode != 1 || res.Stdout != "done.txt is missing\n" {
		t.Fatalf("failing check: %+v %v", res, err)
	}
	if err := os.WriteFile(filepath.Join(home, "done.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err = c.Exec(ctx, "ws1", 1, check)
	if err != nil || res.ExitCode != 0 || res.Stdout != "ok\n" {
		t.Fatalf("passing check: %+v %v", res, err)
	}
	// A runtime without a seat root (the process runtime's only root would
	// be the host's) refuses root scripts, and nothing runs.
	_, err = c.Exec(ctx, "ws1", 1, agentclient.ExecRequest{Script: "touch as-root", User: "root"})
	if err == nil || !strings.Contains(err.Error(), "root_unsupported") && !strings.Contains(err.Error(), "cannot run scripts as the seat's root") {
		t.Fatalf("root script on the process runtime: %v", err)
	}
	if _, err := os.Stat(filepath.Join(home, "as-root")); err == nil {
		t.Fatal("a root script ran on the process runtime")
	}
	if _, err := c.Exec(ctx, "ws1", 1, agentclient.ExecRequest{Script: "true", User: "admin"}); err == nil {
		t.Fatal("an unknown user was accepted")
	}
	if _, err := c.Exec(ctx, "ws1", 2, check); !agentclient.IsNotFound(err) {
		t.Fatalf("no such seat: %v", err)
	}
	// Without the agent token: refused.
	if resp, _ := do(t, "POST", ta.srv.URL+"/vms/ws1/1/exec", "", `{"script":"true"}`); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("exec without the agent token: %d", resp.StatusCode)
	}
	// Through the learner proxy: not served, whatever the token.
	resp, body := do(t, "POST", ta.srv.URL+"/proxy/ws1/1/exec", "", `{"script":"touch pwned"}`)
	if resp.StatusCode == http.StatusOK {
		t.Fatalf("the learner proxy served /exec: %s", body)
	}
	if _, err := os.Stat(filepath.Join(home, "pwned")); err == nil {
		t.Fatal("a script ran through the learner proxy")
	}
}
