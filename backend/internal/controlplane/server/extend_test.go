package server_test

import (
	"net/http"
	"testing"
	"time"
)

// TestExtend: Extend adds time to an end that exists (minutes, counted from
// the end, or from now once it has passed; or a new ends_at) and leaves an
// open-ended workshop open-ended (409 open_ended).
func TestExtend(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	inst := e.instructor("teacher@example.com")
	extend := func(id string, body map[string]any) resp {
		return e.call("POST", "/api/workshops/"+id+"/extend", inst, body)
	}
	endsAt := func(r resp) time.Time {
		t.Helper()
		v, ok := r.json(t)["ends_at"].(string)
		if !ok {
			t.Fatalf("no ends_at in %s", r.Body)
		}
		at, err := time.Parse(time.RFC3339, v)
		if err != nil {
			t.Fatal(err)
		}
		return at
	}

	open, _ := e.workshop(inst, 1)
	for _, body := range []map[string]any{{"minutes": 60}, {"ends_at": e.clock().Add(time.Hour)}} {
		r := extend(open, body)
		if r.Status != http.StatusConflict || r.json(t)["error"].(map[string]any)["code"] != "open_ended" {
			t.Fatalf("extend an open-ended workshop with %v: %d %s", body, r.Status, r.Body)
		}
	}
	if r := e.call("GET", "/api/workshops/"+open, inst, nil); r.json(t)["ends_at"] != nil {
		t.Fatalf("an open-ended workshop got an end time: %s", r.Body)
	}

	end := e.clock().Add(30 * time.Minute).Truncate(time.Second)
	r := e.call("POST", "/api/workshops", inst, map[string]any{"name": "Timed", "seats": 1, "ends_at": end})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	id := r.json(t)["id"].(string)
	if got := endsAt(extend(id, map[string]any{"minutes": 15})); !got.Equal(end.Add(15 * time.Minute)) {
		t.Errorf("+15 min: ends at %s, want %s", got, end.Add(15*time.Minute))
	}
	later := end.Add(2 * time.Hour)
	if got := endsAt(extend(id, map[string]any{"ends_at": later})); !got.Equal(later) {
		t.Errorf("ends_at: %s, want %s", got, later)
	}
	// Once the end has passed, minutes count from now.
	e.advance(3 * time.Hour)
	if got := endsAt(extend(id, map[string]any{"minutes": 10})); !got.Equal(e.clock().Add(10 * time.Minute).Truncate(time.Microsecond)) {
		t.Errorf("+10 min after the end: %s, now %s", got, e.clock())
	}
	for _, body := range []map[string]any{{}, {"minutes": -5}, {"minutes": 100000}, {"minutes": 5, "ends_at": later}} {
		if r := extend(id, body); r.Status != http.StatusBadRequest {
			t.Errorf("extend %v: %d %s", body, r.Status, r.Body)
		}
	}
}
