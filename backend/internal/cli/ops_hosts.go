package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/gce/gcename"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// hostRow is one host of a workshop as `hosts list --json` prints it (no
// agent token or certificate).
type hostRow struct {
	Host      int    `json:"host"`
	Name      string `json:"name"`
	State     string `json:"state"` // provisioning, ready, unhealthy, failed, stopped
	Reason    string `json:"reason,omitempty"`
	FirstSeat int    `json:"first_seat"`
	LastSeat  int    `json:"last_seat"`
	Seats     int    `json:"seats"`
	SeatsUsed int    `json:"seats_used"`
	Zone      string `json:"zone,omitempty"`
	IP        string `json:"ip,omitempty"`
}

func runHostsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newOpFlags("hosts list", "WORKSHOP [--json]", `
Lists the hosts of one workshop (its ID or join code) from the database
(DATABASE_URL): a workshop of N seats runs on ceil(N / SEATS_PER_HOST)
hosts, host 1 named clarateach-fc-ws-<ID> and the others -2, -3, ... on
GCP. For each: its state (provisioning, ready, unhealthy, failed with the
reason, e.g. the region's CPU quota; stopped), the seat numbers placed on
it, how many of those learners hold, and its zone and IP.`, stderr)
	pos, err := f.parse(args, 1)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		f.Usage()
		return errors.New("missing WORKSHOP (its ID or join code)")
	}
	_, st, err := opsDatabase(ctx, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	rows, w, err := workshopHostRows(ctx, st, pos[0])
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(stdout, map[string]any{"workshop": w.ID, "seats_per_host": w.SeatsPerHost, "hosts": rows})
	}
	t := newTable(stdout, "HOST", "NAME", "STATE", "SEATS", "USED", "ZONE", "IP", "REASON")
	for _, r := range rows {
		seats := "-"
		if r.Seats > 0 {
			seats = strconv.Itoa(r.FirstSeat) + "-" + strconv.Itoa(r.LastSeat)
		}
		t.row(strconv.Itoa(r.Host), r.Name, r.State, seats, strconv.Itoa(r.SeatsUsed), r.Zone, r.IP, truncate(r.Reason, 100))
	}
	return t.flush()
}

// workshopHostRows reads workshop ref (an ID or a join code) and its hosts.
func workshopHostRows(ctx context.Context, st store.Store, ref string) ([]hostRow, *store.Workshop, error) {
	w, err := st.GetWorkshop(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		w, err = st.GetWorkshopByCode(ctx, ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("no workshop has the ID or join code %q", ref)
	}
	if err != nil {
		return nil, nil, err
	}
	vms, err := st.ListWorkshopHosts(ctx, w.ID)
	if err != nil {
		return nil, nil, err
	}
	seats, err := st.ListSeats(ctx, w.ID)
	if err != nil {
		return nil, nil, err
	}
	used := map[int]int{}
	for _, s := range seats {
		used[w.HostOf(s.Seat)]++
	}
	name := func(n int) string {
		if w.Provisioner != config.ProvisionerGCP {
			return ""
		}
		return gcename.HostName(w.ID, n)
	}
	var rows []hostRow
	for _, h := range store.HostStates(w, vms, name) {
		rows = append(rows, hostRow{Host: h.Number, Name: h.Name, State: h.State, Reason: h.Reason,
			FirstSeat: h.FirstSeat, LastSeat: h.LastSeat, Seats: h.Seats(), SeatsUsed: used[h.Number], Zone: h.Zone, IP: h.IP})
	}
	return rows, w, nil
}
