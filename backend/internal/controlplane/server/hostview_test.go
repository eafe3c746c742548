package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/server"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// hostsOf is the "hosts" of a workshop detail (the API's or the stream's),
// each as "number name state seats first-last reason".
func hostsOf(t *testing.T, detail map[string]any) []string {
	t.Helper()
	raw, err := json.Marshal(detail["hosts"])
	if err != nil {
		t.Fatal(err)
	}
	var hosts []struct {
		Number, Seats                 int
		FirstSeat                     int `json:"first_seat"`
		LastSeat                      int `json:"last_seat"`
		Name, State, Reason, Zone, IP string
	}
	if err := json.Unmarshal(raw, &hosts); err != nil {
		t.Fatalf("hosts %s: %v", raw, err)
	}
	var out []string
	for _, h := range hosts {
		out = append(out, strings.TrimSpace(fmt.Sprintf("%d %s %s %d %d-%d %s", h.Number, h.Name, h.State, h.Seats, h.FirstSeat, h.LastSeat, h.Reason)))
	}
	return out
}

// A workshop of 8 seats at 2 per host needs 4 hosts. Host 1 runs, host 2
// runs, host 3 was refused for the region's CPU quota, host 4 has no record
// yet, and host 5 is left over from before the workshop shrank (no seats;
// being drained). The workshop's detail shows each with its name, state,
// reason and seats, and so does the class stream; a change of one host's
// record (host 3 repaired) and the removal of a drained host reach an open
// class view at once, pushed by the store's signal (the feed's tick is an
// hour).
func TestWorkshopHostStates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", func(c *config.Config) { c.Provisioner = config.ProvisionerGCP; c.SeatsPerHost = 2 })
	inst := e.instructor("hosts-view@example.com")
	id, _ := e.workshop(inst, 8)
	e.start(inst, id)
	ctx := context.Background()
	quota := "region CPU quota: host 3 needs 16 vCPUs; us-central1 has 32 of 32 CPUS in use"
	rows := []*store.WorkshopVM{
		{WorkshopID: id, HostIndex: 2, Name: "clarateach-fc-ws-" + id + "-2", Zone: "us-central1-b", IP: "10.0.0.2", Status: store.HostRunning, AgentURL: e.agent.srv.URL},
		{WorkshopID: id, HostIndex: 3, Name: "pending", Status: "failed",
			Steps: []store.Step{{Name: "create_host", Status: store.StepFailed, StartedAt: e.clock(), Error: quota}}},
		{WorkshopID: id, HostIndex: 5, Name: "clarateach-fc-ws-" + id + "-5", Status: store.HostRunning, AgentURL: e.agent.srv.URL},
	}
	for _, vm := range rows {
		if err := e.st.UpsertWorkshopVM(ctx, vm); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"1 fake-" + id + " ready 2 1-2",
		"2 clarateach-fc-ws-" + id + "-2 ready 2 3-4",
		"3 clarateach-fc-ws-" + id + "-3 failed 2 5-6 " + quota,
		"4 clarateach-fc-ws-" + id + "-4 provisioning 2 7-8",
		"5 clarateach-fc-ws-" + id + "-5 ready 0 9-8",
	}
	r := e.call("GET", "/api/workshops/"+id, inst, nil)
	if got := hostsOf(t, r.json(t)); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("GET /api/workshops/{id} hosts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if h := r.json(t)["hosts"].([]any)[1].(map[string]any); h["zone"] != "us-central1-b" || h["ip"] != "10.0.0.2" {
		t.Errorf("host 2's zone and IP: %v", h)
	}

	srv := server.New(server.Deps{Config: e.cfg, Store: e.st, Now: e.clock, Version: "test", ClassTick: time.Hour})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	next := openStreamAt(t, hs.URL, inst, id)
	if got := hostsOf(t, next().Class.Workshop); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the class stream's hosts:\n%s", strings.Join(got, "\n"))
	}

	rows[1].Name, rows[1].Status, rows[1].Steps, rows[1].AgentURL = "clarateach-fc-ws-"+id+"-3", store.HostRunning, nil, e.agent.srv.URL
	if _, err := e.st.Transition(ctx, id, store.Transition{Host: rows[1]}); err != nil {
		t.Fatal(err)
	}
	want[2] = "3 clarateach-fc-ws-" + id + "-3 ready 2 5-6"
	waitHosts(t, next, want)
	if err := e.st.DeleteWorkshopHost(ctx, id, 5); err != nil {
		t.Fatal(err)
	}
	waitHosts(t, next, want[:4])
}

// waitHosts reads the stream until its hosts are want (each read waits at
// most 10 s for an event).
func waitHosts(t *testing.T, next func() streamEvent, want []string) {
	t.Helper()
	for {
		ev := next()
		got := hostsOf(t, ev.Class.Workshop)
		if strings.Join(got, "\n") == strings.Join(want, "\n") {
			return
		}
		t.Logf("%s event: hosts %v", ev.Name, got)
	}
}
