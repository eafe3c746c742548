package server_test

import (
	"net/http"
	"slices"
	"testing"
)

// A workshop's egress allowlist is validated, stored, shown, and handed to
// the agent with every seat it creates.
func TestWorkshopEgressAllowlist(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	tok := e.instructor("lab@example.com")
	for _, bad := range []any{
		[]string{"10.1.2.3:99999"},
		[]string{"not-an-address"},
		[]string{"0.0.0.0/0"},
		[]string{"::1"},
		"10.0.0.1",
	} {
		r := e.call("POST", "/api/workshops", tok, map[string]any{"name": "Lab", "seats": 2, "egress_allow": bad})
		if r.Status != http.StatusBadRequest {
			t.Errorf("egress_allow %v: %d %s, want 400", bad, r.Status, r.Body)
		}
	}
	r := e.call("POST", "/api/workshops", tok, map[string]any{"name": "Lab", "seats": 2, "egress_allow": []string{"10.1.2.3:5432", " 172.16.0.9/24 "}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	m := r.json(t)
	id := m["id"].(string)
	want := []string{"10.1.2.3/32:5432", "172.16.0.0/24"}
	got := func(v any) []string {
		var out []string
		for _, x := range v.([]any) {
			out = append(out, x.(string))
		}
		return out
	}
	if g := got(m["egress_allow"]); !slices.Equal(g, want) {
		t.Fatalf("egress_allow %v, want %v", g, want)
	}
	if g := got(e.call("GET", "/api/workshops/"+id, tok, nil).json(t)["egress_allow"]); !slices.Equal(g, want) {
		t.Fatalf("GET egress_allow %v, want %v", g, want)
	}
	e.start(tok, id)
	e.agent.mu.Lock()
	defer e.agent.mu.Unlock()
	for _, seat := range []string{id + "/1", id + "/2"} {
		if g := e.agent.egress[seat]; !slices.Equal(g, want) {
			t.Errorf("agent create for %s: egress_allow %v, want %v", seat, g, want)
		}
	}
}
