package gce_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/gce"
	"github.com/clarateach/backend/internal/controlplane/gce/gcetest"
)

// GCP_COMPUTE_ENDPOINT may be a URL, a URL with the API's /compute/v1/
// path (as backend/.env.example writes it) or a bare host:port.
func TestEndpointForms(t *testing.T) {
	t.Parallel()
	fake := gcetest.NewCompute(t.Cleanup)
	fake.AddInstance(project, zone, host("clarateach-fc-ws-ep", "ep", "n2-standard-4"))
	for _, ep := range []string{fake.URL, fake.URL + "/", fake.URL + "/compute/v1/", strings.TrimPrefix(fake.URL, "http://")} {
		c, err := gce.NewClients(context.Background(), project, ep)
		if err != nil {
			t.Fatal(err)
		}
		in, err := c.GetInstance(context.Background(), zone, "clarateach-fc-ws-ep")
		if err != nil || in.Status != "RUNNING" || in.Labels["clarateach-workshop"] != "ep" {
			t.Errorf("endpoint %q: %+v, %v", ep, in, err)
		}
		c.Close()
	}
}

// Reads are retried on 503 and 504, as Google's client retries them;
// writes are not (an insert that may have happened is not sent twice),
// and other errors are returned at once.
func TestRetries(t *testing.T) {
	t.Parallel()
	c, fake := setup(t)
	fake.AddInstance(project, zone, host("clarateach-fc-ws-rt", "rt", "n2-standard-4"))
	fake.Inject(gcetest.Fault{Method: "instances.get", Times: 2, Code: http.StatusServiceUnavailable, Reason: "backendError", Message: "try again"})
	fake.Inject(gcetest.Fault{Method: "instances.aggregatedList", Times: 1, Code: http.StatusGatewayTimeout, Message: "slow"})
	if _, err := c.GetInstance(context.Background(), zone, "clarateach-fc-ws-rt"); err != nil {
		t.Fatalf("get after two 503s: %v", err)
	}
	if n := fake.Calls("instances.get"); n != 3 {
		t.Errorf("%d instances.get calls, want 3", n)
	}
	if vms, err := c.ListVMs(context.Background()); err != nil || len(vms) != 1 {
		t.Errorf("list after a 504: %v, %v", vms, err)
	}

	fake.Inject(gcetest.Fault{Method: "instances.stop", Code: http.StatusServiceUnavailable, Reason: "backendError", Message: "try again"})
	_, err := c.StopInstance(context.Background(), zone, "clarateach-fc-ws-rt")
	if gce.HTTPCode(err) != http.StatusServiceUnavailable || fake.Calls("instances.stop") != 1 {
		t.Errorf("stop: %v after %d calls; want the 503 after one", err, fake.Calls("instances.stop"))
	}
	fake.Inject(gcetest.Fault{Method: "regions.get", Code: http.StatusForbidden, Reason: "forbidden", Message: "Required 'compute.regions.get' permission"})
	_, err = c.GetRegion(context.Background(), "us-central1")
	if gce.HTTPCode(err) != http.StatusForbidden || gce.Reason(err) != "forbidden" || fake.Calls("regions.get") != 1 ||
		!strings.Contains(err.Error(), "Required 'compute.regions.get' permission") {
		t.Errorf("regions.get: %v after %d calls", err, fake.Calls("regions.get"))
	}
}

// A page token is followed to the last page, for every list.
func TestListsFollowPages(t *testing.T) {
	t.Parallel()
	c, fake := setup(t)
	fake.SetPageSize(2)
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		fake.AddInstance(project, zone, host("clarateach-fc-ws-"+id, id, "n2-standard-4"))
		fake.AddSnapshot(project, &gcetest.Snapshot{Name: "clara-" + id, CreationTimestamp: "2026-01-01T00:00:00Z"})
	}
	if vms, err := c.ListZoneVMs(context.Background(), zone); err != nil || len(vms) != 5 {
		t.Errorf("ListZoneVMs: %d, %v", len(vms), err)
	}
	if snaps, err := c.ListSnapshots(context.Background(), "clara-"); err != nil || len(snaps) != 5 {
		t.Errorf("ListSnapshots: %d, %v", len(snaps), err)
	}
	if fake.Calls("instances.list") != 3 || fake.Calls("snapshots.list") != 3 {
		t.Errorf("list calls: instances %d, snapshots %d; want 3 pages each", fake.Calls("instances.list"), fake.Calls("snapshots.list"))
	}
}
