package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/server"
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

// streamDelta is one "delta" event: only what changed.
type streamDelta struct {
	Workshop             map[string]any    `json:"workshop"`
	Events               *[]map[string]any `json:"events"`
	Seats                []map[string]any  `json:"seats"`
	SeatsRemoved         []float64         `json:"seats_removed"`
	Registrations        []json.RawMessage `json:"registrations"`
	RegistrationsRemoved []string          `json:"registrations_removed"`
	Lab                  json.RawMessage   `json:"lab"`
	LabRemoved           bool              `json:"lab_removed"`
}

// apply folds a delta into the snapshot, as the web app does.
func (snap *streamSnapshot) apply(t *testing.T, d streamDelta) {
	t.Helper()
	if d.Workshop != nil {
		snap.Workshop = d.Workshop
	}
	if d.Events != nil {
		snap.Events = *d.Events
	}
	for _, v := range d.Seats {
		found := false
		for i, old := range snap.Seats {
			if old["seat"] == v["seat"] {
				snap.Seats[i], found = v, true
			}
		}
		if !found {
			snap.Seats = append(snap.Seats, v)
		}
	}
	for _, n := range d.SeatsRemoved {
		for i, old := range snap.Seats {
			if old["seat"] == n {
				snap.Seats = append(snap.Seats[:i], snap.Seats[i+1:]...)
				break
			}
		}
	}
	var regs streamSnapshot
	for _, raw := range d.Registrations {
		regs.Registrations = regs.Registrations[:0]
		if err := json.Unmarshal([]byte(`{"registrations":[`+string(raw)+`]}`), &regs); err != nil {
			t.Fatalf("delta registration: %v", err)
		}
		found := false
		for i, old := range snap.Registrations {
			if old.ID == regs.Registrations[0].ID {
				snap.Registrations[i], found = regs.Registrations[0], true
			}
		}
		if !found {
			snap.Registrations = append(snap.Registrations, regs.Registrations[0])
		}
	}
	for _, id := range d.RegistrationsRemoved {
		for i, old := range snap.Registrations {
			if old.ID == id {
				snap.Registrations = append(snap.Registrations[:i], snap.Registrations[i+1:]...)
				break
			}
		}
	}
	if d.LabRemoved {
		snap.Lab = nil
	}
	if len(d.Lab) > 0 && string(d.Lab) != "null" {
		if err := json.Unmarshal([]byte(`{"lab":`+string(d.Lab)+`}`), snap); err != nil {
			t.Fatalf("delta lab: %v", err)
		}
	}
}

// streamEvent is one event of the class stream: its name, its data, and the
// class as the web app holds it after the event.
type streamEvent struct {
	Name  string
	Data  []byte
	Class streamSnapshot
}

// openStream opens the class view's stream with the session cookie only (as
// the web app does: no bearer token) and returns a reader of the class as
// each event leaves it (a "workshop" event replaces it, a "delta" event
// changes it).
func openStream(t *testing.T, e *testEnv, tok, id string) func() streamSnapshot {
	t.Helper()
	next := openStreamAt(t, e.http.URL, tok, id)
	return func() streamSnapshot {
		t.Helper()
		return next().Class
	}
}

// openStreamAt opens the stream on the server at base and returns a reader
// of its events.
func openStreamAt(t *testing.T, base, tok, id string) func() streamEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/workshops/"+id+"/stream", nil)
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
	var class streamSnapshot
	started := false
	return func() streamEvent {
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
					data := []byte(strings.TrimPrefix(line, "data: "))
					class = streamSnapshot{}
					if err := json.Unmarshal(data, &class); err != nil {
						t.Fatalf("event data: %v", err)
					}
					started = true
					return streamEvent{Name: event, Data: data, Class: class}
				case strings.HasPrefix(line, "data: ") && event == "delta":
					data := []byte(strings.TrimPrefix(line, "data: "))
					if !started {
						t.Fatalf("a delta before the whole class: %s", data)
					}
					var d streamDelta
					if err := json.Unmarshal(data, &d); err != nil {
						t.Fatalf("delta data: %v", err)
					}
					class.apply(t, d)
					return streamEvent{Name: event, Data: data, Class: class}
				}
			case <-deadline:
				t.Fatal("no event within 10 s")
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

// TestStreamSharedByViewers: ten class views of one workshop cost the store
// one read of the class, not ten (one producer per workshop feeds every
// stream), and each view still gets its own access (owner, assistant).
func TestStreamSharedByViewers(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		owner := e.instructor("owner@example.com")
		ta := e.instructor("ta@example.com")
		id, code := e.workshop(owner, 3)
		e.start(owner, id)
		if r := e.call("POST", "/api/workshops/"+id+"/members", owner, map[string]any{"email": "ta@example.com"}); r.Status != http.StatusCreated {
			t.Fatalf("share: %d %s", r.Status, r.Body)
		}
		e.learner(owner, id, code, "ada@example.com")
		counter := newCountingStore(e.st)
		// The class is read once an hour here: every stream after the first
		// must be served from the first one's read.
		srv := server.New(server.Deps{Config: e.cfg, Store: counter, Now: e.clock, Version: "test", ClassTick: time.Hour})
		hs := httptest.NewServer(srv.Handler())
		t.Cleanup(hs.Close)
		for i := 0; i < 10; i++ {
			tok := owner
			if i%2 == 1 {
				tok = ta
			}
			ev := openStreamAt(t, hs.URL, tok, id)()
			want := map[string]string{owner: "owner", ta: "assistant"}[tok]
			if ev.Name != "workshop" || ev.Class.Workshop["access"] != want || len(ev.Class.Seats) != 3 || len(ev.Class.Registrations) != 1 {
				t.Fatalf("view %d: %s %v, %d seats, %d registrations; want workshop %s, 3 seats, 1 registration",
					i, ev.Name, ev.Class.Workshop["access"], len(ev.Class.Seats), len(ev.Class.Registrations), want)
			}
		}
		_, calls := counter.take()
		if calls["ListSeats"] != 1 || calls["ListEvents"] != 1 {
			t.Fatalf("10 class views read the seats %d times and the events %d times; want once each", calls["ListSeats"], calls["ListEvents"])
		}
	})
}

// TestStreamSendsDeltas: after the whole class, the stream sends only what
// changed: a new learner's registration without the others, the seat a
// learner takes without the other seats, and nothing about the workshop
// when it did not change.
func TestStreamSendsDeltas(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		inst := e.instructor("teacher@example.com")
		id, code := e.workshop(inst, 5)
		e.start(inst, id)
		e.learner(inst, id, code, "ada@example.com")
		srv := server.New(server.Deps{Config: e.cfg, Store: e.st, Now: e.clock, Version: "test", ClassTick: 10 * time.Millisecond})
		hs := httptest.NewServer(srv.Handler())
		t.Cleanup(hs.Close)
		next := openStreamAt(t, hs.URL, inst, id)
		first := next()
		if first.Name != "workshop" || len(first.Class.Seats) != 5 {
			t.Fatalf("first event: %s with %d seats", first.Name, len(first.Class.Seats))
		}
		if ev, ok := first.Class.Workshop["events"].([]any); !ok || len(ev) != 0 {
			t.Fatalf("the workshop part repeats the events: %v", first.Class.Workshop["events"])
		}

		// A registration is several writes and a class read several queries,
		// so one tick may see its event before the registration itself: read
		// deltas until bob's registration comes. None may carry a seat or
		// ada's registration, which did not change.
		_, access := e.learner(inst, id, code, "bob@example.com")
		var ev streamEvent
		var d streamDelta
		for len(d.Registrations) == 0 {
			ev = next()
			d = streamDelta{}
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				t.Fatal(err)
			}
			if ev.Name != "delta" || d.Seats != nil {
				t.Fatalf("after a registration: %s %s; want deltas without seats", ev.Name, ev.Data)
			}
		}
		if len(d.Registrations) != 1 || !strings.Contains(string(d.Registrations[0]), "bob@example.com") {
			t.Fatalf("after a registration: %s; want a delta with bob's registration only", ev.Data)
		}
		if len(ev.Class.Registrations) != 2 {
			t.Fatalf("the class after the delta has %d registrations, want 2", len(ev.Class.Registrations))
		}

		seat := int(e.join(access)["seat"].(float64))
		for {
			ev = next()
			d = streamDelta{}
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				t.Fatal(err)
			}
			if ev.Name != "delta" {
				t.Fatalf("after a join: a %s event, want a delta", ev.Name)
			}
			if len(d.Seats) > 0 {
				break
			}
		}
		if len(d.Seats) != 1 || d.Seats[0]["seat"] != float64(seat) || d.Seats[0]["learner_email"] != "bob@example.com" {
			t.Fatalf("after bob took seat %d the delta's seats are %v; want that seat only", seat, d.Seats)
		}
		if len(ev.Data) >= len(first.Data) {
			t.Fatalf("a delta of %d bytes for a class of %d", len(ev.Data), len(first.Data))
		}
	})
}

// TestStreamAfterLastViewerLeft: when the last class view of a workshop
// closes, its producer stops; a class view opened later reads the class
// afresh instead of being handed what the old producer last read (here the
// class is read once an hour, so a stale producer would never show the new
// learner).
func TestStreamAfterLastViewerLeft(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	inst := e.instructor("teacher@example.com")
	id, code := e.workshop(inst, 2)
	srv := server.New(server.Deps{Config: e.cfg, Store: e.st, Now: e.clock, Version: "test", ClassTick: time.Hour})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", hs.URL+"/api/workshops/"+id+"/stream", nil)
	req.AddCookie(&http.Cookie{Name: "ct_session", Value: inst})
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(res.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cancel()
	res.Body.Close()

	e.learner(inst, id, code, "late@example.com")
	deadline := time.Now().Add(10 * time.Second)
	for {
		sctx, scancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(sctx, "GET", hs.URL+"/api/workshops/"+id+"/stream", nil)
		req.AddCookie(&http.Cookie{Name: "ct_session", Value: inst})
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(res.Body)
		_, _ = r.ReadString('\n') // event: workshop
		data, err := r.ReadString('\n')
		scancel()
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(data, "late@example.com") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a class view opened after the last one closed still shows the old class: %.200s", data)
		}
	}
}

// TestStreamPushesChanges: with the class read once an hour, a learner's
// registration and join still reach an open class view at once, on both
// engines: the store signals the change (Store.WatchClass) and the feed
// reads the class then, instead of on its next tick.
func TestStreamPushesChanges(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		inst := e.instructor("teacher@example.com")
		id, code := e.workshop(inst, 3)
		e.start(inst, id)
		srv := server.New(server.Deps{Config: e.cfg, Store: e.st, Now: e.clock, Version: "test", ClassTick: time.Hour})
		hs := httptest.NewServer(srv.Handler())
		t.Cleanup(hs.Close)
		next := openStreamAt(t, hs.URL, inst, id)
		if first := next(); first.Name != "workshop" || len(first.Class.Registrations) != 0 {
			t.Fatalf("first event: %s with %d registrations", first.Name, len(first.Class.Registrations))
		}

		// Each next() waits at most 10 s: far less than the tick.
		_, access := e.learner(inst, id, code, "ada@example.com")
		ev := next()
		for len(ev.Class.Registrations) == 0 {
			ev = next()
		}
		if ev.Class.Registrations[0].Email != "ada@example.com" {
			t.Fatalf("after a registration: %+v", ev.Class.Registrations)
		}
		seat := e.join(access)["seat"].(float64)
		for taken := false; !taken; {
			ev = next()
			for _, s := range ev.Class.Seats {
				taken = taken || (s["seat"] == seat && s["learner_email"] == "ada@example.com")
			}
		}
	})
}
