package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// streamSnapshot is what the class view reads from one "workshop" event.
type streamSnapshot struct {
	Workshop      map[string]any   `json:"workshop"`
	Seats         []map[string]any `json:"seats"`
	Events        []map[string]any `json:"events"`
	Registrations []struct {
		ID        string  `json:"id"`
		Email     string  `json:"email"`
		RevokedAt *string `json:"revoked_at"`
	} `json:"registrations"`
	Lab *struct {
		Lab      map[string]any   `json:"lab"`
		Learners []map[string]any `json:"learners"`
		Hands    []map[string]any `json:"hands"`
	} `json:"lab"`
}

// openStream opens the class view's stream with the session cookie only (as
// the web app does: no bearer token) and returns a reader of its events.
func openStream(t *testing.T, e *testEnv, tok, id string) func() streamSnapshot {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", e.http.URL+"/api/workshops/"+id+"/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: "ct_session", Value: tok})
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() streamSnapshot {
		t.Helper()
		deadline := time.After(10 * time.Second)
		event := ""
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatal("the stream ended")
				}
				switch {
				case strings.HasPrefix(line, "event: "):
					event = strings.TrimPrefix(line, "event: ")
				case strings.HasPrefix(line, "data: ") && event == "workshop":
					var snap streamSnapshot
					if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &snap); err != nil {
						t.Fatalf("event data: %v", err)
					}
					return snap
				}
			case <-deadline:
				t.Fatal("no workshop event within 10 s")
			}
		}
	}
}

// TestStreamCarriesRegistrations: the class view's one source of updates
// sends the learners with the workshop and its seats, at once and again when
// someone registers or is revoked (the web app no longer polls
// GET /registrations), to a client holding only the session cookie.
func TestStreamCarriesRegistrations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	inst := e.instructor("teacher@example.com")
	id, code := e.workshop(inst, 2)
	register := func(email string) {
		t.Helper()
		if r := e.call("POST", "/api/register", "", map[string]string{"workshop_code": code, "name": "L", "email": email}); r.Status != http.StatusCreated {
			t.Fatalf("register %s: %d %s", email, r.Status, r.Body)
		}
	}
	register("ada@example.com")

	next := openStream(t, e, inst, id)
	snap := next()
	if snap.Workshop["id"] != id || len(snap.Registrations) != 1 || snap.Registrations[0].Email != "ada@example.com" {
		t.Fatalf("first event: workshop %v, registrations %+v", snap.Workshop["id"], snap.Registrations)
	}
	if snap.Seats == nil || snap.Events == nil {
		t.Fatalf("first event lacks seats or events: %+v", snap)
	}

	register("bob@example.com")
	snap = next()
	if len(snap.Registrations) != 2 {
		t.Fatalf("after a second registration: %+v", snap.Registrations)
	}

	ada := snap.Registrations[0].ID
	if snap.Registrations[0].Email != "ada@example.com" {
		ada = snap.Registrations[1].ID
	}
	if r := e.call("DELETE", "/api/workshops/"+id+"/registrations/"+ada, inst, nil); r.Status/100 != 2 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	for {
		snap = next()
		revoked := 0
		for _, rg := range snap.Registrations {
			if rg.ID == ada && rg.RevokedAt != nil {
				revoked++
			}
		}
		if revoked == 1 {
			break
		}
	}
}

// TestStreamNeedsSession: without a session the stream is refused (401), so
// the web app's EventSource sees a closed stream and asks why.
func TestStreamNeedsSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	inst := e.instructor("teacher@example.com")
	id, _ := e.workshop(inst, 1)
	if r := e.call("GET", "/api/workshops/"+id+"/stream", "", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("stream without a session: %d %s", r.Status, r.Body)
	}
}
