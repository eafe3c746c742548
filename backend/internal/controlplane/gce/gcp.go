// Package gce holds ClaraTeach's shared Google Compute Engine code: a
// small client of the Compute Engine v1 REST API over net/http (rest.go,
// with the wire types in wire.go; the endpoint override for emulators and
// tests), error classification, operation waiting, and the operations
// helpers behind the CLI (list workshop VMs, prune snapshots, quota
// headroom, snapshot the agent base VM). The naming and labelling
// conventions of workshop hosts are in gce/gcename.
//
// The workshop provisioner (internal/controlplane/provision/gcevm) builds on
// it. The fake in internal/controlplane/gce/gcetest speaks the same wire
// API with its own types, so tests exercise this code unchanged.
package gce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/controlplane/gce/gcename"
)

// Clients calls the Compute Engine v1 REST API of one project over
// net/http (rest.go): instances, zone and global operations, snapshots,
// regions and projects.
type Clients struct {
	Project string

	// MinWaitInterval is the least time between two operations.wait calls
	// that returned an unfinished operation (the server normally holds the
	// call open for up to two minutes, so this only matters when it does
	// not). Default 1s.
	MinWaitInterval time.Duration

	hc   *http.Client
	base string // endpoint + "/compute/v1/projects/" + project
}

// NewClients opens a client of project's Compute API at endpoint: "" is the
// real API with Application Default Credentials (golang.org/x/oauth2/google);
// anything else (GCP_COMPUTE_ENDPOINT: an emulator or a test fake, host:port
// or a URL) is called without authentication.
func NewClients(ctx context.Context, project, endpoint string) (*Clients, error) {
	if project == "" {
		return nil, errors.New("gcp: project is required (GCP_PROJECT)")
	}
	hc, ep, err := newHTTPClient(ctx, endpoint)
	if err != nil {
		return nil, fmt.Errorf("gcp: %w", err)
	}
	return &Clients{Project: project, MinWaitInterval: time.Second, hc: hc,
		base: ep + "/compute/v1/projects/" + url.PathEscape(project)}, nil
}

// Close releases the client's idle connections.
func (c *Clients) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// ---------------------------------------------------------------------------
// errors

// OperationError is a Compute operation that finished (DONE) with errors.
type OperationError struct {
	Operation string // operation name
	Type      string // insert, delete, stop, ...
	Target    string // target resource name
	HTTPCode  int    // httpErrorStatusCode, 0 if absent
	Codes     []string
	Messages  []string
}

func (e *OperationError) Error() string {
	parts := make([]string, len(e.Codes))
	for i := range e.Codes {
		parts[i] = e.Codes[i] + ": " + e.Messages[i]
	}
	return fmt.Sprintf("compute operation %s of %s failed: %s", e.Type, e.Target, strings.Join(parts, "; "))
}

// HTTPCode returns the HTTP status behind a Compute error (an API error
// answer or a failed operation), or 0 if err carries none.
func HTTPCode(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	var oe *OperationError
	if errors.As(err, &oe) {
		return oe.HTTPCode
	}
	return 0
}

// Reason returns the first error reason ("notFound", "quotaExceeded",
// "alreadyExists") or operation error code of a Compute error, or "".
func Reason(err error) string {
	var ae *APIError
	if errors.As(err, &ae) && len(ae.Reasons) > 0 {
		return ae.Reasons[0]
	}
	var oe *OperationError
	if errors.As(err, &oe) && len(oe.Codes) > 0 {
		return oe.Codes[0]
	}
	return ""
}

// IsNotFound reports whether err means the resource does not exist.
func IsNotFound(err error) bool {
	return err != nil && (HTTPCode(err) == http.StatusNotFound || Reason(err) == "RESOURCE_NOT_FOUND")
}

// IsAlreadyExists reports whether err means the resource already exists.
func IsAlreadyExists(err error) bool {
	return err != nil && (HTTPCode(err) == http.StatusConflict || Reason(err) == "alreadyExists" || Reason(err) == "RESOURCE_ALREADY_EXISTS")
}

// IsQuotaExceeded reports whether err is a quota error.
func IsQuotaExceeded(err error) bool {
	r := Reason(err)
	return r == "quotaExceeded" || r == "QUOTA_EXCEEDED" || r == "rateLimitExceeded"
}

// OpError returns the error a finished operation carries, or nil.
func OpError(op *Operation) error {
	target := gcename.LastSegment(op.TargetLink)
	if len(op.Error.Errors) == 0 {
		if c := op.HTTPErrorStatusCode; c != 0 && (c < 200 || c > 299) {
			return &OperationError{Operation: op.Name, Type: op.OperationType, Target: target,
				HTTPCode: c, Codes: []string{"HTTP_" + fmt.Sprint(c)}, Messages: []string{op.HTTPErrorMessage}}
		}
		return nil
	}
	e := &OperationError{Operation: op.Name, Type: op.OperationType, Target: target, HTTPCode: op.HTTPErrorStatusCode}
	for _, it := range op.Error.Errors {
		e.Codes = append(e.Codes, it.Code)
		e.Messages = append(e.Messages, it.Message)
	}
	return e
}

// ---------------------------------------------------------------------------
// operations

// WaitZoneOp waits until a zonal operation is DONE and returns its error.
// It uses zoneOperations.wait, which the server holds open until the
// operation finishes (or about two minutes pass), rather than polling
// zoneOperations.get with a client-side backoff.
func (c *Clients) WaitZoneOp(ctx context.Context, zone string, op *Operation) error {
	return c.wait(ctx, op, func(ctx context.Context, name string) (*Operation, error) {
		return c.waitZoneOp(ctx, zone, name)
	})
}

// WaitGlobalOp is WaitZoneOp for global operations (snapshots).
func (c *Clients) WaitGlobalOp(ctx context.Context, op *Operation) error {
	return c.wait(ctx, op, c.waitGlobalOp)
}

// opDone is an operation's final status.
const opDone = "DONE"

func (c *Clients) wait(ctx context.Context, op *Operation, call func(context.Context, string) (*Operation, error)) error {
	name := op.Name
	for op.Status != opDone {
		started := time.Now()
		next, err := call(ctx, name)
		if err != nil {
			return fmt.Errorf("wait for operation %s: %w", name, err)
		}
		op = next
		if op.Status == opDone {
			break
		}
		if d := c.MinWaitInterval - time.Since(started); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("wait for operation %s: %w", name, ctx.Err())
			case <-t.C:
			}
		}
	}
	return OpError(op)
}
