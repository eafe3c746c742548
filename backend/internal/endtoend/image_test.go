package endtoend

import (
	"context"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/server"
	"github.com/clarateach/backend/internal/host/imagecache/imagetest"
)

// TestWorkshopOnImage creates a workshop whose environment is the busybox
// test image, pushed to an in-process registry, starts it with the local
// provisioner (its agent in this process, as `clarateach server` runs it)
// and joins: the pull is a provisioning step, and the learner's shell sees
// the image's files and tool, not the host's.
func TestWorkshopOnImage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := startLocal(ctx, t)
	out := runOnImage(ctx, t, e, false, "cat /etc/os-release; which clara-tool; clara-tool; echo img=$CLARA_IMAGE; id -u; echo en''d\n")
	for _, want := range []string{"ClaraTeach test image", "/usr/bin/clara-tool", imagetest.ToolOutput, "img=test", "\n1000\r\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("the learner's shell lacks %q: %q", want, out)
		}
	}
	host, _ := os.ReadFile("/etc/os-release")
	if first, _, _ := strings.Cut(string(host), "\n"); first != "" && strings.Contains(out, first) {
		t.Errorf("the seat shows the host's os-release %q: %q", first, out)
	}
}

// TestWorkshopLearnerRootOnImage: a workshop with learner_root on the test
// image gives the learner a root shell that can write under /usr.
func TestWorkshopLearnerRootOnImage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := startLocal(ctx, t)
	out := runOnImage(ctx, t, e, true, "id -u; echo made > /usr/bin/rootmade && cat /usr/bin/rootmade; echo en''d\n")
	if !strings.Contains(out, "\n0\r\nmade\r\n") {
		t.Errorf("the learner is not root writing /usr: %q", out)
	}
}

// runOnImage creates a workshop (learner_root as given) whose environment
// is the busybox test image, pushed to an in-process registry, starts it
// with the local provisioner (its agent in this process, as `clarateach
// server` runs it), checks the pull was a provisioning step, joins, types
// input into the learner's terminal and returns its output up to "end".
func runOnImage(ctx context.Context, t *testing.T, e *localEnv, learnerRoot bool, input string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("seats on an image need root")
	}
	if e.rtName != "sandbox" {
		t.Skipf("seats on an image need the sandbox runtime, not %s", e.rtName)
	}
	ref := imagetest.Push(t, imagetest.Registry(t), "course/busybox:1", imagetest.Image(t))
	if _, _, err := server.EnsureAdmin(ctx, e.st, "root@example.com", "a long password", "Root"); err != nil {
		t.Fatal(err)
	}
	_, m := e.c.do("POST", "/api/auth/login", "", map[string]string{"email": "root@example.com", "password": "a long password"})
	inst := m["token"].(string)
	status, m := e.c.do("POST", "/api/workshops", inst, map[string]any{"name": "On an image", "seats": 2, "environment": ref, "learner_root": learnerRoot})
	if status != 201 || m["environment"] != ref || m["learner_root"] != learnerRoot {
		t.Fatalf("create: %d %v", status, m)
	}
	wsID, code := m["id"].(string), m["code"].(string)
	t.Cleanup(func() { _ = e.prov.DeleteHost(context.Background(), wsID) })
	if status, _ := e.c.do("POST", "/api/workshops/"+wsID+"/start", inst, nil); status != 202 {
		t.Fatalf("start: %d", status)
	}
	if err := e.rec.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	_, m = e.c.do("GET", "/api/workshops/"+wsID, inst, nil)
	if m["status"] != "running" {
		t.Fatalf("after one pass: %v", m)
	}
	var names []string
	for _, s := range m["vm"].(map[string]any)["steps"].([]any) {
		st := s.(map[string]any)
		names = append(names, st["name"].(string)+":"+st["status"].(string))
	}
	if !strings.Contains(strings.Join(names, " "), "pull_image:done") {
		t.Errorf("steps %v: no pull_image done", names)
	}
	seat, tok := e.joinReady(t, e.learner(t, code, "lea@example.com"))
	base := "/api/workspaces/" + wsID + "/" + strconv.Itoa(seat)
	term := dialOpen(ctx, t, "ws"+strings.TrimPrefix(e.hs.URL, "http")+base+"/terminal?token="+url.QueryEscape(tok))
	if err := term.Send(ctx, []byte(input)); err != nil {
		t.Fatal(err)
	}
	out, err := term.ReadUntil(ctx, "end")
	if err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	return string(out)
}
