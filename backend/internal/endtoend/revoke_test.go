package endtoend

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/server"
	"github.com/clarateach/backend/internal/seat/terminal"
)

// running signs in the first admin and starts a workshop of seats seats;
// it returns the admin's token, the workshop id and its code.
func (e *localEnv) running(ctx context.Context, t *testing.T, seats int) (inst, wsID, code string) {
	t.Helper()
	if _, _, err := server.EnsureAdmin(ctx, e.st, "root@example.com", "a long password", "Root"); err != nil {
		t.Fatal(err)
	}
	_, m := e.c.do("POST", "/api/auth/login", "", map[string]string{"email": "root@example.com", "password": "a long password"})
	inst = m["token"].(string)
	status, m := e.c.do("POST", "/api/workshops", inst, map[string]any{"name": "Revokes", "seats": seats})
	if status != 201 {
		t.Fatalf("create: %d %v", status, m)
	}
	wsID, code = m["id"].(string), m["code"].(string)
	t.Cleanup(func() { _ = e.prov.DeleteHost(context.Background(), wsID) })
	if status, _ := e.c.do("POST", "/api/workshops/"+wsID+"/start", inst, nil); status != 202 {
		t.Fatalf("start: %d", status)
	}
	if err := e.rec.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	return inst, wsID, code
}

// learner registers email and returns the access code.
func (e *localEnv) learner(t *testing.T, code, email string) string {
	t.Helper()
	status, m := e.c.do("POST", "/api/register", "", map[string]string{"workshop_code": code, "name": "L", "email": email})
	if status != 201 {
		t.Fatalf("register %s: %d %v", email, status, m)
	}
	return m["access_code"].(string)
}

// joinReady joins with an access code and returns the seat and token.
func (e *localEnv) joinReady(t *testing.T, access string) (int, string) {
	t.Helper()
	status, m := e.c.do("POST", "/api/join", "", map[string]string{"access_code": access})
	if status != 200 || m["status"] != "ready" {
		t.Fatalf("join: %d %v", status, m)
	}
	return int(m["seat"].(float64)), m["token"].(string)
}

// joinRaw is a join that is safe in any goroutine: the token, or "".
func joinRaw(base, access string) string {
	b, _ := json.Marshal(map[string]string{"access_code": access})
	res, err := http.Post(base+"/api/join", "application/json", bytes.NewReader(b))
	if err != nil {
		return ""
	}
	defer res.Body.Close()
	var m struct {
		Token string `json:"token"`
	}
	_ = json.NewDecoder(res.Body).Decode(&m)
	if res.StatusCode != 200 {
		return ""
	}
	return m.Token
}

// access is one way into seat 1: through the relay or straight to the agent.
type access struct {
	name string
	http func(tok string) string // files URL
	ws   func(tok string) string // terminal URL
}

func (e *localEnv) accesses(wsID string) []access {
	relay := e.hs.URL + "/api/workspaces/" + wsID + "/1/"
	direct := e.prov.URL() + "/proxy/" + wsID + "/1/"
	wsOf := func(base string) func(string) string {
		return func(tok string) string {
			return "ws" + strings.TrimPrefix(base, "http") + "terminal?token=" + url.QueryEscape(tok)
		}
	}
	return []access{
		{"relay", func(string) string { return relay + "files?path=." }, wsOf(relay)},
		{"agent", func(string) string { return direct + "files?path=." }, wsOf(direct)},
	}
}

func getStatus(t *testing.T, u, tok string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// waitClosed reads a terminal until its connection ends, or fails.
func waitClosed(ctx context.Context, t *testing.T, what string, term *terminal.Client) {
	t.Helper()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var err error
	for err == nil {
		_, err = term.ReadOutput(rctx)
	}
	if rctx.Err() != nil {
		t.Fatalf("%s: the old access's terminal is still open", what)
	}
}

func dialOpen(ctx context.Context, t *testing.T, u string) *terminal.Client {
	t.Helper()
	term, err := terminal.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { term.Close() })
	if err := term.Send(ctx, []byte("echo op''en\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := term.ReadUntil(ctx, "open"); err != nil {
		t.Fatal(err)
	}
	return term
}

// TestRevokeIsExact joins in a tight loop from several goroutines while
// the instructor revokes the learner; then the next learner takes the same
// seat. Not one token the revoked learner was ever given may open the seat,
// through the relay or straight at the agent, over HTTP or WebSocket; the
// revoked learner's open terminals are closed; the next learner gets in.
func TestRevokeIsExact(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := startLocal(ctx, t)
	inst, wsID, code := e.running(ctx, t, 1)
	lea := e.learner(t, code, "lea@example.com")
	seat, first := e.joinReady(t, lea)
	if seat != 1 {
		t.Fatalf("seat %d", seat)
	}
	ways := e.accesses(wsID)
	var open []*terminal.Client
	for _, a := range ways {
		open = append(open, dialOpen(ctx, t, a.ws(first)))
	}

	var (
		mu   sync.Mutex
		toks = []string{first}
		wg   sync.WaitGroup
		stop = make(chan struct{})
	)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if tok := joinRaw(e.hs.URL, lea); tok != "" {
					mu.Lock()
					toks = append(toks, tok)
					mu.Unlock()
				}
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(toks) }
	for deadline := time.Now().Add(30 * time.Second); count() < 40; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d joins in 30 s", count())
		}
		time.Sleep(time.Millisecond)
	}
	_, regs := e.c.do("GET", "/api/workshops/"+wsID+"/registrations", inst, nil)
	rid := regs["registrations"].([]any)[0].(map[string]any)["id"].(string)
	if status, m := e.c.do("DELETE", "/api/workshops/"+wsID+"/registrations/"+rid, inst, nil); status != 204 {
		t.Fatalf("revoke: %d %v", status, m)
	}
	close(stop)
	wg.Wait()
	for i, a := range ways {
		waitClosed(ctx, t, a.name, open[i])
	}

	// The next learner takes the freed seat, and gets in every way.
	bob := e.learner(t, code, "bob@example.com")
	seat, bobTok := e.joinReady(t, bob)
	if seat != 1 {
		t.Fatalf("next learner got seat %d, want the freed seat 1", seat)
	}
	for _, a := range ways {
		if s := getStatus(t, a.http(bobTok), bobTok); s != 200 {
			t.Fatalf("%s: next learner's files = %d", a.name, s)
		}
		dialOpen(ctx, t, a.ws(bobTok)).Close()
	}

	t.Logf("%d tokens issued to the revoked learner", len(toks))
	for _, tok := range toks {
		for _, a := range ways {
			if s := getStatus(t, a.http(tok), tok); s != http.StatusUnauthorized {
				t.Fatalf("%s: a token issued before the revoke opened the seat's files: %d", a.name, s)
			}
			if term, err := terminal.Dial(ctx, a.ws(tok), nil); err == nil {
				term.Close()
				t.Fatalf("%s: a token issued before the revoke opened the seat's terminal", a.name)
			}
		}
	}
}

// TestReissueClosesOldAccess: the instructor reissues a learner's code. The
// old code and every token from it stop working at once, through the relay
// and at the agent, and their open terminals close; the new code reaches the
// same seat with its files.
func TestReissueClosesOldAccess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := startLocal(ctx, t)
	inst, wsID, code := e.running(ctx, t, 2)
	lea := e.learner(t, code, "lea@example.com")
	_, old := e.joinReady(t, lea)
	ways := e.accesses(wsID)
	var open []*terminal.Client
	for _, a := range ways {
		open = append(open, dialOpen(ctx, t, a.ws(old)))
	}
	if err := open[0].Send(ctx, []byte("echo kept > notes.txt; echo wr''itten\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := open[0].ReadUntil(ctx, "written"); err != nil {
		t.Fatal(err)
	}

	_, regs := e.c.do("GET", "/api/workshops/"+wsID+"/registrations", inst, nil)
	rid := regs["registrations"].([]any)[0].(map[string]any)["id"].(string)
	status, m := e.c.do("POST", "/api/workshops/"+wsID+"/registrations/"+rid+"/reissue", inst, nil)
	if status != 200 || m["revoke_pending"] != false {
		t.Fatalf("reissue: %d %v", status, m)
	}
	fresh := m["access_code"].(string)
	if fresh == "" || fresh == lea {
		t.Fatalf("reissued code %q (old %q)", fresh, lea)
	}
	for i, a := range ways {
		waitClosed(ctx, t, a.name, open[i])
	}
	if status, _ := e.c.do("POST", "/api/join", "", map[string]string{"access_code": lea}); status != http.StatusNotFound {
		t.Fatalf("old code after reissue: %d", status)
	}
	for _, a := range ways {
		if s := getStatus(t, a.http(old), old); s != http.StatusUnauthorized {
			t.Fatalf("%s: old token after reissue: %d", a.name, s)
		}
	}
	seat, tok := e.joinReady(t, fresh)
	if seat != 1 {
		t.Fatalf("new code reached seat %d, want 1", seat)
	}
	status, body := e.c.do("GET", "/api/workspaces/"+wsID+"/1/files/content?path=notes.txt", tok, nil)
	if status != 200 || !strings.Contains(body["raw"].(string), "kept") {
		t.Fatalf("the learner's file after reissue: %d %v", status, body)
	}
	for _, a := range ways {
		dialOpen(ctx, t, a.ws(tok)).Close()
	}
}
