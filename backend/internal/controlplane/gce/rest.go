package gce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2/google"
)

// DefaultEndpoint is Compute Engine's public REST endpoint; the API's
// paths start with /compute/v1/.
const DefaultEndpoint = "https://compute.googleapis.com"

// scopes are the OAuth scopes of the calls (the ones Google's Compute
// client asks for).
var scopes = []string{"https://www.googleapis.com/auth/compute", "https://www.googleapis.com/auth/cloud-platform"}

// callTimeout bounds one call, retries included, as Google's client does.
const callTimeout = 10 * time.Minute

// APIError is an error answer of the Compute API:
// {"error": {"code", "message", "errors": [{"reason", "domain", "message"}]}}.
type APIError struct {
	Code    int      // HTTP status
	Message string   // e.g. "The resource 'projects/p/zones/z/instances/x' was not found"
	Reasons []string // e.g. notFound, alreadyExists, quotaExceeded, rateLimitExceeded
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("compute: Error %d: %s", e.Code, e.Message)
	if len(e.Reasons) > 0 {
		msg += ", " + strings.Join(e.Reasons, ", ")
	}
	return msg
}

// apiError reads an error answer's body; a body that is not the API's
// JSON keeps the status text and the start of the body.
func apiError(code int, raw []byte) *APIError {
	var body struct {
		Error struct {
			Message string `json:"message"`
			Errors  []struct {
				Reason string `json:"reason"`
			} `json:"errors"`
		} `json:"error"`
	}
	e := &APIError{Code: code, Message: http.StatusText(code)}
	if json.Unmarshal(raw, &body) == nil && body.Error.Message != "" {
		e.Message = body.Error.Message
		for _, it := range body.Error.Errors {
			if it.Reason != "" {
				e.Reasons = append(e.Reasons, it.Reason)
			}
		}
	} else if s := strings.TrimSpace(string(raw)); s != "" {
		e.Message += ": " + s[:min(len(s), 200)]
	}
	return e
}

// endpointBase turns GCP_COMPUTE_ENDPOINT (an emulator's or test fake's
// host:port, plain HTTP, or a URL, with or without the /compute/v1 path)
// into the URL the API paths are put after.
func endpointBase(endpoint string) string {
	if !strings.Contains(endpoint, "://") {
		endpoint = "http://" + endpoint
	}
	endpoint = strings.TrimRight(endpoint, "/")
	return strings.TrimSuffix(endpoint, "/compute/v1")
}

// do sends one call: method on path (after /compute/v1/projects/PROJECT),
// with query, the JSON of in as the body when in is not nil, and decodes
// the answer into out. Reads (GET) are retried on 503 and 504 with a
// growing, jittered pause until the call's time is up, as Google's client
// retries them; writes are never retried (an insert that may have
// happened is the caller's to look for).
func (c *Clients) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	pause := 100 * time.Millisecond
	for {
		err := c.send(ctx, method, u, body, out)
		var ae *APIError
		if method != http.MethodGet || !errors.As(err, &ae) || (ae.Code != http.StatusServiceUnavailable && ae.Code != http.StatusGatewayTimeout) {
			return err
		}
		t := time.NewTimer(rand.N(pause) + time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (retrying: %w)", err, ctx.Err())
		case <-t.C:
		}
		pause = min(pause*13/10, time.Minute)
	}
}

func (c *Clients) send(ctx context.Context, method, u string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return apiError(resp.StatusCode, raw)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode the answer of %s %s: %w", method, req.URL.Path, err)
	}
	return nil
}

// newHTTPClient is the authenticated client for the real API, or a plain
// one for an endpoint override.
func newHTTPClient(ctx context.Context, endpoint string) (*http.Client, string, error) {
	if endpoint != "" {
		return &http.Client{}, endpointBase(endpoint), nil
	}
	// The token source refreshes with the context it is made with, long
	// after NewClients returns: it gets one that is never cancelled.
	hc, err := google.DefaultClient(context.WithoutCancel(ctx), scopes...)
	if err != nil {
		return nil, "", fmt.Errorf("compute credentials: %w", err)
	}
	return hc, DefaultEndpoint, nil
}

// ---------------------------------------------------------------------------
// the calls

func zonal(zone, rest string) string {
	return "/zones/" + url.PathEscape(zone) + rest
}

func instancePath(zone, name string) string {
	return zonal(zone, "/instances/"+url.PathEscape(name))
}

// GetInstance is instances.get.
func (c *Clients) GetInstance(ctx context.Context, zone, name string) (*Instance, error) {
	var in Instance
	if err := c.do(ctx, http.MethodGet, instancePath(zone, name), nil, nil, &in); err != nil {
		return nil, err
	}
	return &in, nil
}

// InsertInstance is instances.insert; the VM exists once the returned
// operation is DONE without error.
func (c *Clients) InsertInstance(ctx context.Context, zone string, in *Instance) (*Operation, error) {
	return c.op(ctx, http.MethodPost, zonal(zone, "/instances"), in)
}

// DeleteInstance is instances.delete (its boot disk goes too when it is
// auto-delete).
func (c *Clients) DeleteInstance(ctx context.Context, zone, name string) (*Operation, error) {
	return c.op(ctx, http.MethodDelete, instancePath(zone, name), nil)
}

// StartInstance is instances.start.
func (c *Clients) StartInstance(ctx context.Context, zone, name string) (*Operation, error) {
	return c.op(ctx, http.MethodPost, instancePath(zone, name)+"/start", nil)
}

// StopInstance is instances.stop.
func (c *Clients) StopInstance(ctx context.Context, zone, name string) (*Operation, error) {
	return c.op(ctx, http.MethodPost, instancePath(zone, name)+"/stop", nil)
}

func (c *Clients) op(ctx context.Context, method, path string, in any) (*Operation, error) {
	var op Operation
	if err := c.do(ctx, method, path, nil, in, &op); err != nil {
		return nil, err
	}
	return &op, nil
}

// ListInstances is instances.list of one zone with a list filter ("" =
// all), every page.
func (c *Clients) ListInstances(ctx context.Context, zone, filter string) ([]Instance, error) {
	var out []Instance
	err := c.pages(ctx, zonal(zone, "/instances"), filter, func(raw func(any) error) (string, error) {
		var page instanceList
		if err := raw(&page); err != nil {
			return "", err
		}
		out = append(out, page.Items...)
		return page.NextPageToken, nil
	})
	return out, err
}

// AggregatedListInstances is instances.aggregatedList: the instances of
// every zone matching filter, every page.
func (c *Clients) AggregatedListInstances(ctx context.Context, filter string) ([]Instance, error) {
	var out []Instance
	err := c.pages(ctx, "/aggregated/instances", filter, func(raw func(any) error) (string, error) {
		var page instanceAggregatedList
		if err := raw(&page); err != nil {
			return "", err
		}
		for _, scope := range page.Items {
			out = append(out, scope.Instances...)
		}
		return page.NextPageToken, nil
	})
	return out, err
}

// pages calls a list method until no nextPageToken is left; each page is
// decoded by page, which returns the token.
func (c *Clients) pages(ctx context.Context, path, filter string, page func(decode func(any) error) (string, error)) error {
	q := url.Values{}
	if filter != "" {
		q.Set("filter", filter)
	}
	for {
		next, err := page(func(out any) error { return c.do(ctx, http.MethodGet, path, q, nil, out) })
		if err != nil || next == "" {
			return err
		}
		q.Set("pageToken", next)
	}
}

// listSnapshots is snapshots.list with a filter, every page.
func (c *Clients) listSnapshots(ctx context.Context, filter string) ([]SnapshotResource, error) {
	var out []SnapshotResource
	err := c.pages(ctx, "/global/snapshots", filter, func(raw func(any) error) (string, error) {
		var page snapshotList
		if err := raw(&page); err != nil {
			return "", err
		}
		out = append(out, page.Items...)
		return page.NextPageToken, nil
	})
	return out, err
}

// InsertSnapshot is snapshots.insert (a global operation).
func (c *Clients) InsertSnapshot(ctx context.Context, s *SnapshotResource) (*Operation, error) {
	return c.op(ctx, http.MethodPost, "/global/snapshots", s)
}

// DeleteSnapshot is snapshots.delete (a global operation).
func (c *Clients) DeleteSnapshot(ctx context.Context, name string) (*Operation, error) {
	return c.op(ctx, http.MethodDelete, "/global/snapshots/"+url.PathEscape(name), nil)
}

// GetRegion is regions.get (with the region's quotas).
func (c *Clients) GetRegion(ctx context.Context, region string) (*Region, error) {
	var r Region
	if err := c.do(ctx, http.MethodGet, "/regions/"+url.PathEscape(region), nil, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// GetProject is projects.get (with the project-wide quotas).
func (c *Clients) GetProject(ctx context.Context) (*Project, error) {
	var p Project
	if err := c.do(ctx, http.MethodGet, "", nil, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// waitZoneOp and waitGlobalOp are zoneOperations.wait and
// globalOperations.wait.
func (c *Clients) waitZoneOp(ctx context.Context, zone, name string) (*Operation, error) {
	return c.op(ctx, http.MethodPost, zonal(zone, "/operations/"+url.PathEscape(name)+"/wait"), nil)
}

func (c *Clients) waitGlobalOp(ctx context.Context, name string) (*Operation, error) {
	return c.op(ctx, http.MethodPost, "/global/operations/"+url.PathEscape(name)+"/wait", nil)
}
