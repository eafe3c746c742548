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
	checks, err := healthTargets(ctx, pos, *tok, *certFile, *seats, stderr)
	if err != nil {
		return err
	}
	checkAgents(ctx, checks, *seats, *timeout)
	if f.json {
		if err := writeJSON(stdout, map[string]any{"agents": checks}); err != nil {
			return err
		}
	} else if err := printHealth(stdout, checks, len(pos) == 0, *seats); err != nil {
		return err
	}
	return healthProblems(checks)
}

// healthTarget is an agent to check and how to reach it.
type healthTarget struct {
	*agentHealth
	token, cert string
}

// healthTargets are the agents to check: AGENT_URL (pos), else the agent
// of every running workshop in the database. Never nil.
func healthTargets(ctx context.Context, pos []string, tok, certFile string, seats bool, stderr io.Writer) ([]healthTarget, error) {
	if len(pos) == 1 {
		u, err := agentURL(pos[0])
		if err != nil {
			return nil, err
		}
		if tok == "" && seats {
			cfg, err := opsConfig(ctx, stderr)
			if err != nil {
				return nil, err
			}
			tok = cfg.AgentToken
		}
		cert := ""
		if certFile != "" {
			b, err := os.ReadFile(certFile)
			if err != nil {
				return nil, fmt.Errorf("--cert: %w", err)
			}
			cert = string(b)
		}
		return []healthTarget{{&agentHealth{AgentURL: u}, tok, cert}}, nil
	}
	_, st, err := opsDatabase(ctx, stderr)
	if err != nil {
		return nil, err
	}
	list, err := st.ListWorkshops(ctx, store.WorkshopFilter{})
	st.Close()
	if err != nil {
		return nil, err
	}
	out := []healthTarget{}
	for _, w := range list {
		if w.Status == store.StatusRunning && w.AgentURL != "" {
			out = append(out, healthTarget{&agentHealth{WorkshopID: w.ID, WorkshopName: w.Name, Seats: w.Seats, AgentURL: w.AgentURL}, w.AgentToken, w.AgentCert})
		}
	}
	return out, nil
}

// checkAgents asks every agent for its health (and, with seats, its seats),
// at most 8 at a time: one slow agent must not hold up the others.
func checkAgents(ctx context.Context, checks []healthTarget, seats bool, timeout time.Duration) {
	hc := &http.Client{Timeout: timeout}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, t := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ac := agentclient.New(t.AgentURL, t.token, hc)
			if t.cert != "" {
				ac = agentclient.Connect(agentclient.Endpoint{URL: t.AgentURL, Token: t.token, CertPEM: t.cert}, nil, timeout)
			}
			checkAgent(ctx, ac, t.agentHealth, seats)
		}()
	}
	wg.Wait()
}

// checkAgent fills c in from one agent's answers.
func checkAgent(ctx context.Context, ac *agentclient.Client, c *agentHealth, seats bool) {
	h, err := ac.Health(ctx)
	if err == nil && seats {
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
}

// printHealth writes the agents as a table (dbMode: with their workshops)
// and, with seats, each agent's seats.
func printHealth(stdout io.Writer, checks []healthTarget, dbMode, seats bool) error {
	if len(checks) == 0 {
		fmt.Fprintln(stdout, "No running workshops with an agent in the database.")
		return nil
	}
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
	if !seats {
		return nil
	}
	for _, c := range checks {
		if err := printAgentSeats(stdout, c.agentHealth); err != nil {
			return err
		}
	}
	return nil
}

// printAgentSeats lists the seats of an agent that answered.
func printAgentSeats(stdout io.Writer, c *agentHealth) error {
	if c.Health == nil {
		return nil
	}
	fmt.Fprintf(stdout, "\nSeats on %s:\n", c.AgentURL)
	if c.SeatError != "" {
		fmt.Fprintf(stdout, "  cannot list them: %s\n", c.SeatError)
		return nil
	}
	if len(c.SeatList) == 0 {
		fmt.Fprintln(stdout, "  none")
		return nil
	}
	st := newTable(stdout, "  WORKSHOP", "SEAT", "STATUS", "RUNTIME", "CREATED")
	for _, s := range c.SeatList {
		st.row("  "+s.WorkshopID, strconv.Itoa(s.Seat), s.Status, s.Runtime, stamp(s.CreatedAt))
	}
	return st.flush()
}

// healthProblems is the command's error: nil when every agent is ok.
func healthProblems(checks []healthTarget) error {
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
