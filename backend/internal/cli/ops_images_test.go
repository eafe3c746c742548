package cli

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/imagecache"
	"github.com/clarateach/backend/internal/host/imagecache/imagetest"
	"github.com/clarateach/backend/internal/host/seatruntime/process"
)

// imageAgent serves an agent with an image cache (the process runtime:
// the cache does not depend on it) holding the busybox test image.
func imageAgent(t *testing.T, tok string) (string, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("unpacking an image keeps its owners: needs root")
	}
	dir := t.TempDir()
	rt, err := process.New(process.Config{DaemonCommand: []string{"/bin/true"}, BaseDir: filepath.Join(dir, "p"), Shell: "/bin/sh", Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	images, err := imagecache.New(imagecache.Config{Dir: filepath.Join(dir, "images"), MinFreeBytes: 1 << 20, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{Listen: "127.0.0.1:0", Token: tok, StateDir: dir, Runtime: rt, Images: images,
		WorkspaceSecret: []byte("test-workspace-secret-0123456789"), Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	ref := imagetest.Push(t, imagetest.Registry(t), "course/busybox:1", imagetest.Image(t))
	ac := agentclient.New(srv.URL, tok, nil)
	ctx := context.Background()
	st, err := ac.PullImage(ctx, agentclient.PullImageRequest{Ref: ref})
	for deadline := time.Now().Add(time.Minute); err == nil && st.State == "pulling" && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		st, err = ac.PullStatus(ctx, ref)
	}
	if err != nil || st.State != "done" {
		t.Fatalf("pull: %+v %v", st, err)
	}
	return srv.URL, ref
}

// TestImagesListAndPrune: `clarateach images list|prune` against an agent
// with a cached image, and their errors.
func TestImagesListAndPrune(t *testing.T) {
	setup(t, localMode)
	url, ref := imageAgent(t, "agent-token-1")

	out := mustRun(t, "images", "list", url, "--token", "agent-token-1")
	row := rowOf(out, ref)
	if len(row) != 9 || !strings.HasPrefix(row[1], "sha256:") || row[3] != "MB" || row[8] != "0" {
		t.Errorf("images list: row %v\n%s", row, out)
	}
	js := decode[struct{ Agents []agentImages }](t, mustRun(t, "images", "list", "--json", url, "--token", "agent-token-1"))
	if len(js.Agents) != 1 || len(js.Agents[0].Images) != 1 || js.Agents[0].Images[0].Ref != ref || js.Agents[0].Images[0].Bytes <= 0 {
		t.Errorf("images list --json = %+v", js)
	}

	// Used a moment ago: the default --unused-for (7 days) keeps it.
	if out := mustRun(t, "images", "prune", url, "--token", "agent-token-1"); !strings.Contains(out, "Nothing to prune.") {
		t.Errorf("prune with the default age:\n%s", out)
	}
	if out := mustRun(t, "images", "prune", url, "--token", "agent-token-1", "--all"); rowOf(out, ref) == nil {
		t.Errorf("prune --all does not name the image:\n%s", out)
	}
	if out := mustRun(t, "images", "list", url, "--token", "agent-token-1"); !strings.Contains(out, "No images in the cache.") {
		t.Errorf("after prune:\n%s", out)
	}

	// Errors say what is wrong.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"images", "list", url}, "no agent token: give --token or set FC_AGENT_TOKEN"},
		{[]string{"images", "list", url, "--token", "wrong"}, "missing or wrong agent token"},
		{[]string{"images", "list"}, "no running workshops with an agent in the database: give AGENT_URL"},
		{[]string{"images", "prune", url, "--token", "agent-token-1", "--unused-for", "-1h"}, "--unused-for must not be negative"},
		{[]string{"images", "list", "ftp://x", "--token", "t"}, "must look like http://HOST:9090"},
		{[]string{"images", "rm"}, `unknown command "rm" (one of: list, prune)`},
	} {
		if _, errOut, code := run(t, c.args...); code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("clarateach %s: exit %d, stderr %q, want %q", strings.Join(c.args, " "), code, errOut, c.want)
		}
	}
	// An agent without an image cache (seats on its root only).
	daemon := buildDaemon(t)
	plain, _ := startAgent(t, daemon, "agent-token-2")
	if _, errOut, code := run(t, "images", "list", plain, "--token", "agent-token-2"); code == 0 || !strings.Contains(errOut, "images_unsupported") {
		t.Errorf("agent without images: exit %d, stderr %q", code, errOut)
	}
	if out, _, code := run(t, "images", "--help"); code != 0 || !strings.Contains(out, "prune") {
		t.Errorf("images --help: exit %d\n%s", code, out)
	}
	if _, errOut, code := run(t, "images", "prune", "--help"); code != 0 || !strings.Contains(errOut, "--unused-for") || !strings.Contains(errOut, "never removed") {
		t.Errorf("images prune --help: exit %d\n%s", code, errOut)
	}
}
