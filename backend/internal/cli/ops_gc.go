package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/gce"
	"github.com/clarateach/backend/internal/controlplane/provision"
	"github.com/clarateach/backend/internal/controlplane/provision/gcevm"
	"github.com/clarateach/backend/internal/controlplane/reconcile"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// The gc command runs the reconciler's own garbage collection
// (reconcile.Reconciler.GC), so the rule for what is orphaned lives in one
// place: a host is orphaned when its workshop is missing, or neither wants to
// run nor is stopping; a seat when its workshop is missing, does not want to
// run, or has fewer seats. Two adapters give GC what the command needs: a
// provisioner whose hosts are the ClaraTeach-labelled VMs of every zone, and
// agents that record (and, in a dry run, skip) seat deletions.

// gcVM is a VM the collection deleted (or would delete).
type gcVM struct {
	Name       string `json:"name"`
	Zone       string `json:"zone"`
	Status     string `json:"status"`
	WorkshopID string `json:"workshop_id"`
	Why        string `json:"why"`
	Deleted    bool   `json:"deleted"`
	Error      string `json:"error,omitempty"`
}

// gcSeat is a seat the collection deleted (or would delete).
type gcSeat struct {
	AgentURL   string `json:"agent_url"`
	WorkshopID string `json:"workshop_id"`
	Seat       int    `json:"seat"`
	Why        string `json:"why"`
	Deleted    bool   `json:"deleted"`
	Error      string `json:"error,omitempty"`
}

// gcReport is what `clarateach gc` found and did.
type gcReport struct {
	DryRun       bool     `json:"dry_run"`
	Provisioner  string   `json:"provisioner"`
	VMsChecked   int      `json:"vms_checked"`
	AgentsSeen   int      `json:"agents_checked"`
	SeatsChecked int      `json:"seats_checked"`
	VMs          []gcVM   `json:"vms"`
	Seats        []gcSeat `json:"seats"`
	Notes        []string `json:"notes,omitempty"`
	Errors       []string `json:"errors,omitempty"`
}

// why explains, from the database, why a workshop's host or seat goes.
func why(ctx context.Context, st store.Store, workshopID string, seat int) string {
	w, err := st.GetWorkshop(ctx, workshopID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if workshopID == "" {
			return "no workshop label"
		}
		return "no such workshop"
	case err != nil:
		return "workshop lookup failed: " + err.Error()
	case w.DesiredState == store.DesiredRunning && seat > w.Seats:
		return fmt.Sprintf("workshop has %d seats", w.Seats)
	case w.DesiredState == store.DesiredRunning && seat > 0:
		return fmt.Sprintf("seat %d belongs on host %d of the workshop, not on this agent", seat, w.HostOf(seat))
	default:
		return fmt.Sprintf("workshop is %s (wanted %s)", w.Status, w.DesiredState)
	}
}

// gcHosts is the provisioner GC sees with the gcp provisioner: the
// ClaraTeach-labelled VMs of every zone (gce.Clients.ListVMs), deleted with
// gce.Clients.DeleteVM unless dry.
type gcHosts struct {
	c   *gce.Clients
	st  store.Store
	dry bool
	rep *gcReport

	listed []gce.VM
	done   map[string]bool // VM names handled
}

func (h *gcHosts) Name() string { return config.ProvisionerGCP }

func (h *gcHosts) EnsureHost(context.Context, provision.Request) (*provision.Host, error) {
	return nil, errors.New("gc: EnsureHost is not available")
}

func (h *gcHosts) GetHost(context.Context, string) (*provision.Host, error) {
	return nil, errors.New("gc: GetHost is not available")
}

func (h *gcHosts) ListHosts(ctx context.Context) ([]provision.Host, error) {
	vms, err := h.c.ListVMs(ctx)
	if err != nil {
		return nil, err
	}
	h.listed = vms
	h.rep.VMsChecked = len(vms)
	hosts := make([]provision.Host, 0, len(vms))
	seen := map[string]bool{}
	for _, vm := range vms {
		id := vmWorkshopID(vm)
		if seen[id] {
			continue // DeleteHost(id) takes every VM of the workshop
		}
		seen[id] = true
		hosts = append(hosts, provision.Host{WorkshopID: id, Name: vm.Name, Zone: vm.Zone,
			State: gcevm.HostState(vm.Status), Status: vm.Status, CreatedAt: vm.Created})
	}
	return hosts, nil
}

// DeleteHost deletes every listed VM of the workshop, in whatever zone.
func (h *gcHosts) DeleteHost(ctx context.Context, workshopID string) error {
	var errs []error
	reason := why(ctx, h.st, workshopID, 0)
	for _, vm := range h.listed {
		if vmWorkshopID(vm) != workshopID || h.done[vm.Name] {
			continue
		}
		h.done[vm.Name] = true
		g := gcVM{Name: vm.Name, Zone: vm.Zone, Status: vm.Status, WorkshopID: workshopID, Why: reason}
		if !h.dry {
			if err := h.c.DeleteVM(ctx, vm.Zone, vm.Name); err != nil {
				g.Error = err.Error()
				errs = append(errs, err)
			} else {
				g.Deleted = true
			}
		}
		h.rep.VMs = append(h.rep.VMs, g)
	}
	return errors.Join(errs...)
}

// noHosts is the provisioner GC sees with the local provisioner: its agent
// lives inside the server, which collects its hosts itself.
type noHosts struct{}

func (noHosts) Name() string { return config.ProvisionerLocal }
func (noHosts) EnsureHost(context.Context, provision.Request) (*provision.Host, error) {
	return nil, errors.New("gc: EnsureHost is not available")
}
func (noHosts) GetHost(context.Context, string) (*provision.Host, error) {
	return nil, provision.ErrNotFound
}
func (noHosts) DeleteHost(context.Context, string) error            { return nil }
func (noHosts) ListHosts(context.Context) ([]provision.Host, error) { return nil, nil }

// gcAgent is an agent as GC sees it: seat listings are real (or skipped
// with --no-seats), deletions are recorded and, in a dry run, not made.
type gcAgent struct {
	*agentclient.Client
	st   store.Store
	dry  bool
	skip bool
	rep  *gcReport
	mu   *sync.Mutex // guards rep
}

func (a *gcAgent) ListSeats(ctx context.Context) ([]agentclient.Seat, error) {
	if a.skip {
		return nil, nil
	}
	seats, err := a.Client.ListSeats(ctx)
	a.mu.Lock()
	a.rep.AgentsSeen++
	a.rep.SeatsChecked += len(seats)
	if err != nil {
		a.rep.Notes = append(a.rep.Notes, "could not list the seats on "+a.BaseURL()+
			"; if agents are not reachable from here (the firewall opens port 9090 to the control plane only), run with --no-seats")
	}
	a.mu.Unlock()
	return seats, err
}

func (a *gcAgent) DeleteSeat(ctx context.Context, workshopID string, seat int) error {
	s := gcSeat{AgentURL: a.BaseURL(), WorkshopID: workshopID, Seat: seat, Why: why(ctx, a.st, workshopID, seat)}
	var err error
	if !a.dry {
		if err = a.Client.DeleteSeat(ctx, workshopID, seat); err != nil {
			s.Error = err.Error()
		} else {
			s.Deleted = true
		}
	}
	a.mu.Lock()
	a.rep.Seats = append(a.rep.Seats, s)
	a.mu.Unlock()
	return err
}

// StopSeat is DeleteSeat for a stopped workshop's seat: it ends, its home
// is kept. Recorded like a deletion; a dry run does nothing.
func (a *gcAgent) StopSeat(ctx context.Context, workshopID string, seat int) error {
	s := gcSeat{AgentURL: a.BaseURL(), WorkshopID: workshopID, Seat: seat, Why: why(ctx, a.st, workshopID, seat) + "; home kept"}
	var err error
	if !a.dry {
		if err = a.Client.StopSeat(ctx, workshopID, seat); err != nil {
			s.Error = err.Error()
		} else {
			s.Deleted = true
		}
	}
	a.mu.Lock()
	a.rep.Seats = append(a.rep.Seats, s)
	a.mu.Unlock()
	return err
}

func runGC(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newOpFlags("gc", "[--dry-run] [--no-seats] [--json]", `
Garbage-collects what belongs to no live workshop, with the same rule as the
server's reconciler (which runs it every minute or so):
  1. with the gcp provisioner, VMs labelled clarateach=workshop-host, in every
     zone, whose workshop is missing, or neither wants to run nor is stopping,
     are deleted (the seed's 'gcloud compute instances delete clarateach-fc-ws-<ID>');
  2. on the agent of every running host (each host of a multi-host workshop),
     seats of a missing or not-running workshop, beyond its seat count, or on
     a host other than the one their number belongs on, are deleted.
With the local provisioner the agent runs inside the server, which collects
its own hosts; only step 2 runs here. Agents must be reachable from where this
runs (the firewall opens port 9090 to the control plane only): use --no-seats
elsewhere. --dry-run lists what would go and deletes nothing.`, stderr)
	dry := f.Bool("dry-run", false, "list what would be deleted, delete nothing")
	noSeats := f.Bool("no-seats", false, "skip step 2 (agents not reachable from here)")
	timeout := f.Duration("timeout", 30*time.Second, "how long to wait for each agent call")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	cfg, st, err := opsDatabase(ctx, stderr)
	if err != nil {
		return err
	}
	defer st.Close()

	rep := &gcReport{DryRun: *dry, Provisioner: cfg.Provisioner, VMs: []gcVM{}, Seats: []gcSeat{}}
	var prov provision.Provisioner = noHosts{}
	if cfg.Provisioner == config.ProvisionerGCP {
		c, err := gcpClients(ctx, cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		prov = &gcHosts{c: c, st: st, dry: *dry, rep: rep, done: map[string]bool{}}
	} else {
		rep.Notes = append(rep.Notes, "local provisioner: the server collects its own hosts; only seats were checked here")
	}
	if *noSeats {
		rep.Notes = append(rep.Notes, "seats were not checked (--no-seats)")
	}
	var mu sync.Mutex
	rec := reconcile.New(reconcile.Config{
		Store:       st,
		Provisioner: prov,
		Holder:      "clarateach-gc",
		// The reconciler logs each deletion; the report below says it
		// better (and a dry run deletes nothing).
		Logger: slog.New(slog.DiscardHandler),
		Dial: func(ep agentclient.Endpoint) reconcile.Agent {
			return &gcAgent{Client: agentclient.Connect(ep, nil, *timeout), st: st, dry: *dry, skip: *noSeats, rep: rep, mu: &mu}
		},
	})
	_, gcErr := rec.GC(ctx)
	if gcErr != nil {
		rep.Errors = append(rep.Errors, gcErr.Error())
	}
	sort.Slice(rep.Seats, func(i, j int) bool {
		a, b := rep.Seats[i], rep.Seats[j]
		if a.AgentURL != b.AgentURL {
			return a.AgentURL < b.AgentURL
		}
		if a.WorkshopID != b.WorkshopID {
			return a.WorkshopID < b.WorkshopID
		}
		return a.Seat < b.Seat
	})

	if f.json {
		if err := writeJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		printGC(stdout, rep)
	}
	if gcErr != nil {
		return fmt.Errorf("garbage collection incomplete: %w", gcErr)
	}
	return nil
}

func printGC(w io.Writer, rep *gcReport) {
	done := func(deleted bool, errText string) string {
		switch {
		case errText != "":
			return "FAILED: " + truncate(errText, 80)
		case deleted:
			return "deleted"
		default:
			return "would delete"
		}
	}
	if rep.Provisioner == config.ProvisionerGCP {
		if len(rep.VMs) == 0 {
			fmt.Fprintf(w, "No orphaned workshop VMs (%s checked).\n", plural(rep.VMsChecked, "VM", "VMs"))
		} else {
			fmt.Fprintln(w, "Orphaned workshop VMs:")
			t := newTable(w, "NAME", "ZONE", "STATUS", "WORKSHOP", "WHY", "RESULT")
			for _, v := range rep.VMs {
				t.row(v.Name, v.Zone, v.Status, v.WorkshopID, v.Why, done(v.Deleted, v.Error))
			}
			_ = t.flush()
		}
	}
	if rep.Provisioner == config.ProvisionerGCP && len(rep.VMs) > 0 {
		fmt.Fprintln(w)
	}
	if len(rep.Seats) == 0 {
		fmt.Fprintf(w, "No orphaned seats (%s on %s checked).\n", plural(rep.SeatsChecked, "seat", "seats"), plural(rep.AgentsSeen, "agent", "agents"))
	} else {
		fmt.Fprintln(w, "Orphaned seats:")
		t := newTable(w, "AGENT", "WORKSHOP", "SEAT", "WHY", "RESULT")
		for _, s := range rep.Seats {
			t.row(s.AgentURL, s.WorkshopID, strconv.Itoa(s.Seat), s.Why, done(s.Deleted, s.Error))
		}
		_ = t.flush()
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "Note:", n)
	}
	if rep.DryRun && len(rep.VMs)+len(rep.Seats) > 0 {
		fmt.Fprintln(w, "Dry run: nothing was deleted. Run without --dry-run to delete the above.")
	}
}
