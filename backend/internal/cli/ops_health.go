package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// agentHealth is one agent's /health answer (or why there is none).
type agentHealth struct {
	WorkshopID   string              `json:"workshop_id,omitempty"`
	WorkshopName string              `json:"workshop_name,omitempty"`
	Seats        int                 `json:"workshop_seats,omitempty"` // the workshop's seats (database mode)
	AgentURL     string              `json:"agent_url"`
	OK           bool                `json:"ok"`
	Error        string              `json:"error,omitempty"`
	Health       *agentclient.Health `json:"health,omitempty"`
	// SeatList is the agent's GET /vms (with --seats).
	SeatList  []agentclient.Seat `json:"seats,omitempty"`
	SeatError string             `json:"seats_error,omitempty"`
}

// agentURL accepts "https://10.0.0.5:9090", "10.0.0.5:9090" or "10.0.0.5"
// (the agent's port 9090 is the default; without a scheme, http for a
// loopback host and https for any other, since agents serve plain HTTP on
// loopback only).
func agentURL(s string) (string, error) {
	if !strings.Contains(s, "://") {
		host := s
		if _, _, err := net.SplitHostPort(s); err != nil {
			host = net.JoinHostPort(strings.Trim(s, "[]"), "9090")
		}
		scheme := "https://"
		if h, _, err := net.SplitHostPort(host); err == nil && agentclient.IsLoopbackHost(h) {
			scheme = "http://"
		}
		s = scheme + host
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("agent URL %q must look like http://HOST:9090", s)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func runHealth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newOpFlags("health", "[AGENT_URL] [--token T] [--timeout D] [--json]", `
Calls an agent's GET /health and shows status, version, vm_count (seats whose
workspace daemon runs), capacity, runtime and uptime; the seed's
  curl http://<VM_IP>:9090/health | jq .vm_count
(workshop VMs now serve only TLS with their own pinned certificate)
AGENT_URL may be https://HOST:9090, HOST:PORT or a bare IP (port 9090);
a workshop VM's agent serves TLS with its own certificate, which --cert FILE
pins (gcloud compute instances describe VM --format='value(metadata.items.agent-tls-cert)').
Without AGENT_URL, checks the agent of every running workshop recorded in the
database (DATABASE_URL), with its own agent token. Exits 1 when an agent does
not answer or is not ok. --seats also lists each agent's seats (GET /vms,
which needs the agent token).`, stderr)
	tok := f.String("token", "", "agent token for AGENT_URL, used by --seats (default FC_AGENT_TOKEN)")
	seats := f.Bool("seats", false, "also list the agent's seats (GET /vms)")
	certFile := f.String("cert", "", "PEM certificate to pin for an https AGENT_URL (the VM's agent-tls-cert metadata)")
	timeout := f.Duration("timeout", 10*time.Second, "how long to wait for each agent")
	pos, err := f.parse(args, 1)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: *timeout}

	var checks []agentHealth
	var tokens, certs []string
	if len(pos) == 1 {
		u, err := agentURL(pos[0])
		if err != nil {
			return err
		}
		t := *tok
		if t == "" && *seats {
			cfg, err := opsConfig(ctx, stderr)
			if err != nil {
				return err
			}
			t = cfg.AgentToken
		}
		cert := ""
		if *certFile != "" {
			b, err := os.ReadFile(*certFile)
			if err != nil {
				return fmt.Errorf("--cert: %w", err)
			}
			cert = string(b)
		}
		checks = []agentHealth{{AgentURL: u}}
		tokens = []string{t}
		certs = []string{cert}
	} else {
		_, st, err := opsDatabase(ctx, stderr)
		if err != nil {
			return err
		}
		list, err := st.ListWorkshops(ctx, store.WorkshopFilter{})
		st.Close()
		if err != nil {
			return err
		}
		for _, w := range list {
			if w.Status == store.StatusRunning && w.AgentURL != "" {
				checks = append(checks, agentHealth{WorkshopID: w.ID, WorkshopName: w.Name, Seats: w.Seats, AgentURL: w.AgentURL})
				tokens = append(tokens, w.AgentToken)
				certs = append(certs, w.AgentCert)
			}
		}
	}

	// Check concurrently: one slow agent must not hold up the others.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c := &checks[i]
			ac := agentclient.New(c.AgentURL, tokens[i], hc)
			if certs[i] != "" {
				ac = agentclient.Connect(agentclient.Endpoint{URL: c.AgentURL, Token: tokens[i], CertPEM: certs[i]}, nil, *timeout)
			}
			h, err := ac.Health(ctx)
			if err == nil && *seats {
				list, serr := ac.ListSeats(ctx)
				if serr != nil {
					c.SeatError = shortErr(serr)
				} else if c.SeatList = list; c.SeatList == nil {
					c.SeatList = []agentclient.Seat{}
				}
			}
			switch {
			case err != nil:
				c.Error = shortErr(err)
			case h.Status != "ok":
				c.Health, c.Error = h, "agent reports status "+strconv.Quote(h.Status)
			default:
				c.Health, c.OK = h, true
			}
		}()
	}
	wg.Wait()

	if f.json {
		if checks == nil {
			checks = []agentHealth{}
		}
		if err := writeJSON(stdout, map[string]any{"agents": checks}); err != nil {
			return err
		}
	} else if len(checks) == 0 {
		fmt.Fprintln(stdout, "No running workshops with an agent in the database.")
	} else {
		dbMode := len(pos) == 0
		header := []string{"AGENT", "STATUS", "VERSION", "VM_COUNT", "CAPACITY", "RUNTIME", "UPTIME", "ERROR"}
		if dbMode {
			header = append([]string{"WORKSHOP", "NAME", "SEATS"}, header...)
		}
		t := newTable(stdout, header...)
		for _, c := range checks {
			row := []string{c.AgentURL, "DOWN", "", "", "", "", "", truncate(c.Error, 80)}
			if h := c.Health; h != nil {
				row = []string{c.AgentURL, h.Status, h.Version, strconv.Itoa(h.VMCount), strconv.Itoa(h.Capacity), h.Runtime,
					(time.Duration(h.UptimeSeconds * float64(time.Second))).Round(time.Second).String(), truncate(c.Error, 80)}
			}
			if dbMode {
				row = append([]string{c.WorkshopID, truncate(c.WorkshopName, 24), strconv.Itoa(c.Seats)}, row...)
			}
			t.row(row...)
		}
		if err := t.flush(); err != nil {
			return err
		}
		if *seats {
			for _, c := range checks {
				if c.Health == nil {
					continue
				}
				fmt.Fprintf(stdout, "\nSeats on %s:\n", c.AgentURL)
				if c.SeatError != "" {
					fmt.Fprintf(stdout, "  cannot list them: %s\n", c.SeatError)
					continue
				}
				if len(c.SeatList) == 0 {
					fmt.Fprintln(stdout, "  none")
					continue
				}
				st := newTable(stdout, "  WORKSHOP", "SEAT", "STATUS", "RUNTIME", "CREATED")
				for _, s := range c.SeatList {
					st.row("  "+s.WorkshopID, strconv.Itoa(s.Seat), s.Status, s.Runtime, stamp(s.CreatedAt))
				}
				if err := st.flush(); err != nil {
					return err
				}
			}
		}
	}
	var problems []string
	for _, c := range checks {
		switch {
		case !c.OK:
			problems = append(problems, c.AgentURL+": "+c.Error)
		case c.SeatError != "":
			problems = append(problems, c.AgentURL+": list seats: "+c.SeatError)
		}
	}
	switch len(problems) {
	case 0:
		return nil
	case 1:
		return errors.New(problems[0])
	default:
		return fmt.Errorf("%d of %d agents have problems: %s", len(problems), len(checks), strings.Join(problems, "; "))
	}
}

// shortErr drops the "agent GET /health: Get \"URL\":" wrapping of a
// transport error (the table already shows the URL).
func shortErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
