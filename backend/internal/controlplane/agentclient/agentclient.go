// Package agentclient is the typed Go client of the workshop host agent's
// control API (used by the control plane). The API's wire types are in
// package host/agentapi, which the agent serves.
//
//	c := agentclient.NewPinned("https://203.0.113.5:9090", agentToken, hostCertPEM, nil)
//	seat, created, err := c.CreateSeat(ctx, "ws1", 3, agentclient.SeatOptions{})
//
// A workshop host is reached over TLS that trusts exactly the certificate
// the control plane made for it (package hostcert). Plain http:// is
// allowed only to a loopback address (the local agent); the client refuses
// to send anything in plaintext anywhere else.
//
// Every non-2xx answer is returned as *Error, carrying the HTTP status and
// the server's apierror code and message.
package agentclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/host/agentapi"
	"github.com/clarateach/backend/internal/logging"
)

// The agent API's wire types, from agentapi (shared with the agent, which
// serves them); the aliases let the control plane use this package alone.
type (
	Health             = agentapi.Health
	Seat               = agentapi.Seat
	SeatList           = agentapi.SeatList
	Home               = agentapi.Home
	HomeList           = agentapi.HomeList
	CreateSeatRequest  = agentapi.CreateSeatRequest
	DisconnectRequest  = agentapi.DisconnectRequest
	DisconnectResult   = agentapi.DisconnectResult
	RestoreResult      = agentapi.RestoreResult
	ExecRequest        = agentapi.ExecRequest
	ExecResult         = agentapi.ExecResult
	PullImageRequest   = agentapi.PullImageRequest
	ImagePull          = agentapi.ImagePull
	Image              = agentapi.Image
	ImageList          = agentapi.ImageList
	PruneImagesRequest = agentapi.PruneImagesRequest
)

// Seat health values and statuses (agentapi's).
const (
	HealthOK      = agentapi.HealthOK
	HealthDown    = agentapi.HealthDown
	StatusRunning = agentapi.StatusRunning
	StatusDead    = agentapi.StatusDead
)

// SeatState is what the control plane last learned of one seat's health
// from its agent (GET /vms) or from relaying to it.
type SeatState struct {
	Health      string     // HealthOK or HealthDown
	RestartedAt *time.Time // when the agent last restarted the seat in place
	CheckedAt   time.Time  // when this was learned
}

// SeatOptions are the optional sizes of a new seat (0 = runtime default).
type SeatOptions struct {
	VCPUs    int
	MemoryMB int
	DiskMB   int
	// EgressAllow: see CreateSeatRequest.
	EgressAllow []string
	// Image is the digest of a pulled image (PullImage) to run the seat on.
	Image string
	// LearnerRoot: see CreateSeatRequest.
	LearnerRoot bool
}

// Error is a non-2xx answer of the agent.
type Error struct {
	Status  int    // HTTP status
	Code    string // apierror code, e.g. "not_found", "unavailable"
	Message string
}

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("agent: HTTP %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("agent: HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// IsNotFound reports whether err is the agent's 404.
func IsNotFound(err error) bool { return statusOf(err) == http.StatusNotFound }

// IsCapacity reports whether err is the agent's 503 for a full host.
func IsCapacity(err error) bool { return statusOf(err) == http.StatusServiceUnavailable }

func statusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Client talks to one agent.
type Client struct {
	base  string
	token string
	hc    *http.Client
	err   error // set when the client cannot be used (bad URL or pin)
}

// New returns a client for the agent at baseURL (e.g. "http://127.0.0.1:9090")
// that authenticates with token (empty for a dev-mode agent). A nil
// httpClient means a client with a 60 s timeout.
//
// An http:// baseURL must be loopback: to any other host the client refuses
// every call (use NewPinned).
func New(baseURL, token string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 60 * time.Second}
	}
	c := &Client{base: strings.TrimRight(baseURL, "/"), token: token, hc: httpClient}
	if strings.HasPrefix(baseURL, "http://") {
		c.err = CheckURL(baseURL, false)
	}
	return c
}

// BaseURL is the agent's base URL.
func (c *Client) BaseURL() string { return c.base }

// Health calls GET /health.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	if _, err := c.do(ctx, http.MethodGet, "/health", nil, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// CreateSeat calls POST /vms/. It is idempotent: created is false when the
// seat already existed.
func (c *Client) CreateSeat(ctx context.Context, workshopID string, seat int, opts SeatOptions) (s *Seat, created bool, err error) {
	body := CreateSeatRequest{WorkshopID: workshopID, SeatID: seat, VCPUs: opts.VCPUs, MemoryMB: opts.MemoryMB, DiskMB: opts.DiskMB, EgressAllow: opts.EgressAllow, Image: opts.Image,
		LearnerRoot: opts.LearnerRoot}
	var out Seat
	status, err := c.do(ctx, http.MethodPost, "/vms/", body, &out)
	if err != nil {
		return nil, false, err
	}
	return &out, status == http.StatusCreated, nil
}

// GetSeat calls GET /vms/{ws}/{seat}.
func (c *Client) GetSeat(ctx context.Context, workshopID string, seat int) (*Seat, error) {
	var out Seat
	if _, err := c.do(ctx, http.MethodGet, seatPath(workshopID, seat), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListSeats calls GET /vms.
func (c *Client) ListSeats(ctx context.Context) ([]Seat, error) {
	var out SeatList
	if _, err := c.do(ctx, http.MethodGet, "/vms", nil, &out); err != nil {
		return nil, err
	}
	return out.VMs, nil
}

// DeleteSeat calls DELETE /vms/{ws}/{seat}: the seat and its home are
// removed. Deleting a seat that does not exist succeeds (and removes a home
// kept for it).
func (c *Client) DeleteSeat(ctx context.Context, workshopID string, seat int) error {
	_, err := c.do(ctx, http.MethodDelete, seatPath(workshopID, seat), nil, nil)
	return err
}

// StopSeat calls DELETE /vms/{ws}/{seat}?keep_home=true: the seat ends but
// its home stays on the host for its next creation.
func (c *Client) StopSeat(ctx context.Context, workshopID string, seat int) error {
	_, err := c.do(ctx, http.MethodDelete, seatPath(workshopID, seat)+"?keep_home=true", nil, nil)
	return err
}

// ListHomes calls GET /homes: the seat homes on the host, of running and
// of stopped seats.
func (c *Client) ListHomes(ctx context.Context) ([]Home, error) {
	var out HomeList
	if _, err := c.do(ctx, http.MethodGet, "/homes", nil, &out); err != nil {
		return nil, err
	}
	return out.Homes, nil
}

// Disconnect calls POST /vms/{ws}/{seat}/disconnect. With minGeneration
// zero it closes the seat's live terminal and file connections; otherwise
// it makes the agent refuse the seat's workspace tokens below that
// generation and closes their connections. A nil error is the agent's
// confirmation (persisted on the host before it answers).
func (c *Client) Disconnect(ctx context.Context, workshopID string, seat int, minGeneration int64) (*DisconnectResult, error) {
	req := DisconnectRequest{MinGeneration: minGeneration}
	var out DisconnectResult
	if _, err := c.do(ctx, http.MethodPost, seatPath(workshopID, seat)+"/disconnect", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func seatPath(workshopID string, seat int) string {
	return "/vms/" + url.PathEscape(workshopID) + "/" + strconv.Itoa(seat)
}

// maxResponse bounds the answers the client reads.
const maxResponse = 8 << 20

func (c *Client) do(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("agent: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	if c.err != nil {
		return 0, c.err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, fmt.Errorf("agent: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	logging.SetRequestHeader(ctx, req.Header)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("agent %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("agent %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, errorFrom(resp.StatusCode, data)
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("agent %s %s: decode answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}
