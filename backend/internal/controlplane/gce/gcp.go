// Package gce holds ClaraTeach's shared Google Compute Engine code: client
// construction (with the emulator/test endpoint override), error
// classification, operation waiting, and the operations helpers behind the CLI (list workshop
// VMs, prune snapshots, quota headroom, snapshot the agent base VM). The
// naming and labelling conventions of workshop hosts are in gce/gcename.
//
// The workshop provisioner (internal/controlplane/provision/gcevm) builds on it. The fakes
// in internal/controlplane/gce/gcetest speak the same wire API, so tests exercise this
// code unchanged.
package gce

import (
	"context"
	"errors"
	"fmt"
	"github.com/clarateach/backend/internal/controlplane/gce/gcename"
	"net/http"
	"strings"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	computepb "cloud.google.com/go/compute/apiv1/computepb"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
)

// ClientOptions returns the client options for a Compute or Secret Manager
// client: with an endpoint override (an emulator or a test fake) the client
// talks to it without authentication; without one it uses Application
// Default Credentials and the public endpoint.
func ClientOptions(endpoint string, extra ...option.ClientOption) []option.ClientOption {
	var opts []option.ClientOption
	if endpoint != "" {
		opts = append(opts, option.WithEndpoint(endpoint), option.WithoutAuthentication())
	}
	return append(opts, extra...)
}

// Clients are the Compute Engine REST clients ClaraTeach uses.
type Clients struct {
	Project   string
	Instances *compute.InstancesClient
	ZoneOps   *compute.ZoneOperationsClient
	GlobalOps *compute.GlobalOperationsClient
	Snapshots *compute.SnapshotsClient
	Regions   *compute.RegionsClient
	Projects  *compute.ProjectsClient

	// MinWaitInterval is the least time between two operations.wait calls
	// that returned an unfinished operation (the server normally holds the
	// call open for up to two minutes, so this only matters when it does
	// not). Default 1s.
	MinWaitInterval time.Duration
}

// NewClients opens the REST clients against endpoint ("" = the real API with
// Application Default Credentials).
func NewClients(ctx context.Context, project, endpoint string, extra ...option.ClientOption) (*Clients, error) {
	if project == "" {
		return nil, errors.New("gcp: project is required (GCP_PROJECT)")
	}
	opts := ClientOptions(endpoint, extra...)
	c := &Clients{Project: project, MinWaitInterval: time.Second}
	var err error
	fail := func(what string, err error) (*Clients, error) {
		c.Close()
		return nil, fmt.Errorf("gcp: new %s client: %w", what, err)
	}
	if c.Instances, err = compute.NewInstancesRESTClient(ctx, opts...); err != nil {
		return fail("instances", err)
	}
	if c.ZoneOps, err = compute.NewZoneOperationsRESTClient(ctx, opts...); err != nil {
		return fail("zone operations", err)
	}
	if c.GlobalOps, err = compute.NewGlobalOperationsRESTClient(ctx, opts...); err != nil {
		return fail("global operations", err)
	}
	if c.Snapshots, err = compute.NewSnapshotsRESTClient(ctx, opts...); err != nil {
		return fail("snapshots", err)
	}
	if c.Regions, err = compute.NewRegionsRESTClient(ctx, opts...); err != nil {
		return fail("regions", err)
	}
	if c.Projects, err = compute.NewProjectsRESTClient(ctx, opts...); err != nil {
		return fail("projects", err)
	}
	return c, nil
}

// Close closes every client that was opened.
func (c *Clients) Close() error {
	var errs []error
	if c.Instances != nil {
		errs = append(errs, c.Instances.Close())
	}
	if c.ZoneOps != nil {
		errs = append(errs, c.ZoneOps.Close())
	}
	if c.GlobalOps != nil {
		errs = append(errs, c.GlobalOps.Close())
	}
	if c.Snapshots != nil {
		errs = append(errs, c.Snapshots.Close())
	}
	if c.Regions != nil {
		errs = append(errs, c.Regions.Close())
	}
	if c.Projects != nil {
		errs = append(errs, c.Projects.Close())
	}
	return errors.Join(errs...)
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

// HTTPCode returns the HTTP status behind a Compute error (a REST error or
// a failed operation), or 0 if err carries none.
func HTTPCode(err error) int {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	var ae *apierror.APIError
	if errors.As(err, &ae) {
		return ae.HTTPCode()
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
	var ge *googleapi.Error
	if errors.As(err, &ge) && len(ge.Errors) > 0 {
		return ge.Errors[0].Reason
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
func OpError(op *computepb.Operation) error {
	if op.GetError() == nil || len(op.GetError().GetErrors()) == 0 {
		if c := op.GetHttpErrorStatusCode(); c != 0 && (c < 200 || c > 299) {
			return &OperationError{Operation: op.GetName(), Type: op.GetOperationType(), Target: gcename.LastSegment(op.GetTargetLink()),
				HTTPCode: int(c), Codes: []string{"HTTP_" + fmt.Sprint(c)}, Messages: []string{op.GetHttpErrorMessage()}}
		}
		return nil
	}
	e := &OperationError{Operation: op.GetName(), Type: op.GetOperationType(), Target: gcename.LastSegment(op.GetTargetLink()), HTTPCode: int(op.GetHttpErrorStatusCode())}
	for _, it := range op.GetError().GetErrors() {
		e.Codes = append(e.Codes, it.GetCode())
		e.Messages = append(e.Messages, it.GetMessage())
	}
	return e
}

// ---------------------------------------------------------------------------
// operations

// WaitZoneOp waits until a zonal operation is DONE and returns its error.
// It uses zoneOperations.wait, which the server holds open until the
// operation finishes (or about two minutes pass), rather than the client
// library's Operation.Wait, which polls zoneOperations.get with a
// client-side backoff starting at one second.
func (c *Clients) WaitZoneOp(ctx context.Context, zone string, op *computepb.Operation) error {
	return c.wait(ctx, op, func(ctx context.Context, name string) (*computepb.Operation, error) {
		return c.ZoneOps.Wait(ctx, &computepb.WaitZoneOperationRequest{Project: c.Project, Zone: zone, Operation: name})
	})
}

// WaitGlobalOp is WaitZoneOp for global operations (snapshots).
func (c *Clients) WaitGlobalOp(ctx context.Context, op *computepb.Operation) error {
	return c.wait(ctx, op, func(ctx context.Context, name string) (*computepb.Operation, error) {
		return c.GlobalOps.Wait(ctx, &computepb.WaitGlobalOperationRequest{Project: c.Project, Operation: name})
	})
}

func (c *Clients) wait(ctx context.Context, op *computepb.Operation, call func(context.Context, string) (*computepb.Operation, error)) error {
	name := op.GetName()
	for op.GetStatus() != computepb.Operation_DONE {
		started := time.Now()
		next, err := call(ctx, name)
		if err != nil {
			return fmt.Errorf("wait for operation %s: %w", name, err)
		}
		op = next
		if op.GetStatus() != computepb.Operation_DONE {
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
	}
	return OpError(op)
}
