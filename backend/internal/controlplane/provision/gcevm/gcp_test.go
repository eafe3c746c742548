package gcevm_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/gce"
	"github.com/clarateach/backend/internal/controlplane/gce/gcetest"
	"github.com/clarateach/backend/internal/controlplane/provision"
	"github.com/clarateach/backend/internal/controlplane/provision/gcevm"
)

const (
	project  = "clarateach"
	zone     = "us-central1-b"
	snapshot = "clara2-snapshot-20260117-auth"
)

func setup(t *testing.T, mod func(*gcevm.Config)) (*gcevm.Provisioner, *gcetest.Compute) {
	t.Helper()
	fake := gcetest.NewCompute(t.Cleanup)
	fake.AddSnapshot(project, &gcetest.Snapshot{Name: snapshot})
	cfg := gcevm.Config{
		Project:         project,
		Zone:            zone,
		SnapshotName:    snapshot,
		ComputeEndpoint: fake.URL,
		PollInterval:    time.Millisecond,
		ReadyTimeout:    20 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := gcevm.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p, fake
}

func request(id string, seats int) provision.Request {
	return provision.Request{
		WorkshopID:   id,
		Seats:        seats,
		AgentToken:   authtoken.NewAgentToken(),
		WorkspaceKey: authtoken.WorkshopKeyHex([]byte("test-workspace-secret-0123456789"), id),
		BackendURL:   "https://api.example.test",
	}
}

// fakeInstance is the instance as the fake has it: what the request
// carries over the wire.
func fakeInstance(t *testing.T, in *gce.Instance) *gcetest.Instance {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out := &gcetest.Instance{}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEnsureHostInsertsTheWorkshopVM(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		mod       func(*gcevm.Config)
		seats     int
		wantType  string
		wantSpot  bool
		wantIPPfx string
	}{
		{name: "on-demand, 8 seats", seats: 8, wantType: "n2-standard-4", wantIPPfx: "203.0.113."},
		{name: "spot, 15 seats", mod: func(c *gcevm.Config) { c.UseSpot = true }, seats: 15, wantType: "n2-standard-8", wantSpot: true, wantIPPfx: "203.0.113."},
		{name: "configured type, internal IP", mod: func(c *gcevm.Config) { c.MachineType = "n2-highcpu-32"; c.UseInternalIP = true }, seats: 30, wantType: "n2-highcpu-32", wantIPPfx: "10.128."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, fake := setup(t, tc.mod)
			ctx := context.Background()
			reqA, reqB := request("ws1aaaaaaaaaaaaa", tc.seats), request("ws2bbbbbbbbbbbbb", tc.seats)
			hostA, err := p.EnsureHost(ctx, reqA)
			if err != nil {
				t.Fatalf("EnsureHost A: %v", err)
			}
			if _, err := p.EnsureHost(ctx, reqB); err != nil {
				t.Fatalf("EnsureHost B: %v", err)
			}

			if hostA.Name != "clarateach-fc-ws-ws1aaaaaaaaaaaaa" || hostA.WorkshopID != reqA.WorkshopID || hostA.Zone != zone {
				t.Errorf("host = %+v", hostA)
			}
			if hostA.Status != "RUNNING" || !strings.HasPrefix(hostA.IP, tc.wantIPPfx) || hostA.AgentURL != "https://"+hostA.IP+":9090" {
				t.Errorf("host status/ip/url = %s %s %s", hostA.Status, hostA.IP, hostA.AgentURL)
			}
			if hostA.Spot != tc.wantSpot || hostA.AgentToken != reqA.AgentToken {
				t.Errorf("host spot=%v token matches=%v", hostA.Spot, hostA.AgentToken == reqA.AgentToken)
			}

			ins := fake.InsertRequests()
			if len(ins) != 2 {
				t.Fatalf("%d inserts, want 2", len(ins))
			}
			in := ins[0]
			if in.Name != "clarateach-fc-ws-ws1aaaaaaaaaaaaa" {
				t.Errorf("name = %q", in.Name)
			}
			if got := in.MachineType; got != "zones/"+zone+"/machineTypes/"+tc.wantType {
				t.Errorf("machineType = %q", got)
			}
			if len(in.Disks) != 1 {
				t.Fatalf("disks = %v", in.Disks)
			}
			d := in.Disks[0]
			if !d.Boot || !d.AutoDelete || d.InitializeParams == nil || d.InitializeParams.SourceSnapshot != "global/snapshots/"+snapshot {
				t.Errorf("boot disk = %v", d)
			}
			if in.AdvancedMachineFeatures == nil || !in.AdvancedMachineFeatures.EnableNestedVirtualization {
				t.Error("nested virtualization is off")
			}
			sch := gcetest.Scheduling{}
			if in.Scheduling != nil {
				sch = *in.Scheduling
			}
			if tc.wantSpot {
				if sch.ProvisioningModel != "SPOT" || sch.InstanceTerminationAction != "STOP" || sch.AutomaticRestart == nil || *sch.AutomaticRestart || sch.OnHostMaintenance != "TERMINATE" {
					t.Errorf("spot scheduling = %+v", sch)
				}
			} else if in.Scheduling != nil {
				t.Errorf("on-demand VM has spot scheduling %v", sch)
			}
			if l := in.Labels; l["clarateach"] != "workshop-host" || l["clarateach-workshop"] != reqA.WorkshopID {
				t.Errorf("labels = %v", l)
			}
			if in.Tags == nil || len(in.Tags.Items) != 1 || in.Tags.Items[0] != "clarateach-agent" {
				t.Errorf("tags = %+v", in.Tags)
			}
			if len(in.ServiceAccounts) != 0 {
				t.Errorf("service accounts = %v, want none", in.ServiceAccounts)
			}
			mA, mB := ins[0].MetadataValues(), ins[1].MetadataValues()
			want := map[string]string{
				"agent-token":   reqA.AgentToken,
				"workspace-key": reqA.WorkspaceKey,
				"workshop-id":   reqA.WorkshopID,
				"seats":         map[int]string{8: "8", 15: "15", 30: "30"}[tc.seats],
				"backend-url":   "https://api.example.test",
			}
			for k, v := range want {
				if mA[k] != v {
					t.Errorf("metadata %s = %q, want %q", k, mA[k], v)
				}
			}
			if mA["agent-tls-cert"] == "" || mA["agent-tls-key"] == "" {
				t.Error("metadata lacks the agent's TLS key pair")
			}
			if len(mA) != len(want)+2 {
				t.Errorf("metadata keys = %d, want %d", len(mA), len(want))
			}
			if mA["agent-token"] == mB["agent-token"] || mA["workspace-key"] == mB["workspace-key"] {
				t.Error("two workshops share an agent token or workspace key")
			}
			if fake.Calls("zoneOperations.wait") < 2 {
				t.Errorf("insert operations were not waited for: %d waits", fake.Calls("zoneOperations.wait"))
			}
			for _, op := range fake.Operations() {
				if op.Status != gcetest.OpDone {
					t.Errorf("operation %s left %s", op.Name, op.Status)
				}
			}
		})
	}
}

func TestEnsureHostIsIdempotent(t *testing.T) {
	t.Parallel()
	p, fake := setup(t, nil)
	ctx := context.Background()
	req := request("idem0000000000aa", 5)
	h1, err := p.EnsureHost(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// A later attempt with a fresh token gets the VM as it is, and learns
	// the token its agent actually requires.
	req2 := req
	req2.AgentToken = authtoken.NewAgentToken()
	h2, err := p.EnsureHost(ctx, req2)
	if err != nil {
		t.Fatal(err)
	}
	if n := fake.Calls("instances.insert"); n != 1 {
		t.Fatalf("%d inserts, want 1", n)
	}
	if h1.Name != h2.Name || h1.IP != h2.IP || h2.AgentToken != req.AgentToken {
		t.Fatalf("hosts differ: %+v vs %+v", h1, h2)
	}
}

func TestEnsureHostConcurrentCreatesOneVM(t *testing.T) {
	t.Parallel()
	p, fake := setup(t, nil)
	req := request("race000000000aaa", 5)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = p.EnsureHost(context.Background(), req)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("EnsureHost: %v", err)
		}
	}
	if n := len(fake.Instances()); n != 1 {
		t.Fatalf("%d instances, want 1", n)
	}
}

func TestEnsureHostAlreadyExistsOnInsertIsSuccess(t *testing.T) {
	t.Parallel()
	p, fake := setup(t, nil)
	req := request("exists0000000aaa", 5)
	in, err := p.InstanceRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	fake.AddInstance(project, zone, fakeInstance(t, in))
	// The first look misses it (another replica is creating it), so the
	// insert answers 409 alreadyExists.
	fake.Inject(gcetest.Fault{Method: "instances.get", Code: http.StatusNotFound, Reason: "notFound", Message: "The resource was not found"})
	h, err := p.EnsureHost(context.Background(), req)
	if err != nil {
		t.Fatalf("EnsureHost: %v", err)
	}
	if h.Status != "RUNNING" || h.AgentURL == "" {
		t.Fatalf("host = %+v", h)
	}
	if fake.Calls("instances.insert") != 1 || len(fake.Instances()) != 1 {
		t.Fatalf("inserts=%d instances=%d", fake.Calls("instances.insert"), len(fake.Instances()))
	}
}

func TestEnsureHostErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		arrange func(*gcetest.Compute)
		mod     func(*gcevm.Config)
		want    string
		check   func(*testing.T, error)
	}{
		{
			name:    "quota exceeded (injected)",
			arrange: func(f *gcetest.Compute) { f.Inject(gcetest.QuotaExceeded("us-central1", 24)) },
			want:    "Quota 'CPUS' exceeded.  Limit: 24.0 in region us-central1.",
			check: func(t *testing.T, err error) {
				if !gce.IsQuotaExceeded(err) {
					t.Errorf("IsQuotaExceeded(%v) = false", err)
				}
			},
		},
		{
			name:    "region CPU quota read before asking",
			arrange: func(f *gcetest.Compute) { f.SetRegionQuota("us-central1", "CPUS", 24, 22) },
			want:    "region CPU quota: the host needs 4 vCPUs (n2-standard-4) but us-central1 has 22 of its 24 CPUS in use",
			check: func(t *testing.T, err error) {
				var qe *gcevm.QuotaError
				if !errors.As(err, &qe) || qe.Region != "us-central1" {
					t.Errorf("not a QuotaError: %v", err)
				}
			},
		},
		{
			name: "quota exceeded (enforced by usage; the quota could not be read)",
			arrange: func(f *gcetest.Compute) {
				f.SetRegionQuota("us-central1", "CPUS", 24, 22)
				f.Inject(gcetest.Fault{Method: "regions.get", Code: 403, Reason: "forbidden", Message: "Required 'compute.regions.get' permission"})
			},
			want: "QUOTA_EXCEEDED: Quota 'CPUS' exceeded.  Limit: 24.0 in region us-central1.",
			check: func(t *testing.T, err error) {
				if !gce.IsQuotaExceeded(err) || gce.HTTPCode(err) != 403 {
					t.Errorf("IsQuotaExceeded(%v) = false or code %d", err, gce.HTTPCode(err))
				}
			},
		},
		{
			name: "server error",
			arrange: func(f *gcetest.Compute) {
				f.Inject(gcetest.Fault{Method: "instances.insert", Code: 500, Reason: "backendError", Message: "Internal error. Please try again"})
			},
			want: "Internal error. Please try again",
		},
		{
			name:    "stockout reported by the operation",
			arrange: func(f *gcetest.Compute) { f.Inject(gcetest.Stockout(zone)) },
			want:    "ZONE_RESOURCE_POOL_EXHAUSTED",
		},
		{
			name: "missing snapshot",
			mod:  func(c *gcevm.Config) { c.SnapshotName = "no-such-snapshot" },
			want: "projects/clarateach/global/snapshots/no-such-snapshot' was not found",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, fake := setup(t, tc.mod)
			if tc.arrange != nil {
				tc.arrange(fake)
			}
			_, err := p.EnsureHost(context.Background(), request("err0000000000aaa", 5))
			if err == nil {
				t.Fatal("EnsureHost succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "clarateach-fc-ws-err0000000000aaa") {
				t.Fatalf("error %q does not name the VM and contain %q", err, tc.want)
			}
			if tc.check != nil {
				tc.check(t, err)
			}
			if n := len(fake.Instances()); n != 0 {
				t.Fatalf("%d instances leaked after a failed insert", n)
			}
		})
	}
}

func TestEnsureHostRejectsBadRequests(t *testing.T) {
	t.Parallel()
	p, fake := setup(t, nil)
	for _, req := range []provision.Request{
		{WorkshopID: "UPPER", Seats: 1, AgentToken: "t"},
		{WorkshopID: "a/../b", Seats: 1, AgentToken: "t"},
		{WorkshopID: strings.Repeat("a", 47), Seats: 1, AgentToken: "t"},
		{WorkshopID: "okid", Seats: 1, AgentToken: ""},
		{WorkshopID: "okid", Seats: 0, AgentToken: "t"},
	} {
		if _, err := p.EnsureHost(context.Background(), req); err == nil {
			t.Errorf("EnsureHost(%+v) succeeded", req)
		}
	}
	if n := len(fake.CallLog()); n != 0 {
		t.Fatalf("%d API calls for invalid requests", n)
	}
}

func TestEnsureHostWaitsForSlowOperation(t *testing.T) {
	t.Parallel()
	p, fake := setup(t, nil)
	fake.SetWaitTimeout(5 * time.Millisecond) // operations.wait returns early, still RUNNING
	release := fake.HoldOperations()
	done := make(chan error, 1)
	go func() {
		_, err := p.EnsureHost(context.Background(), request("slow000000000aaa", 5))
		done <- err
	}()
	waitFor(t, func() bool { return fake.Calls("zoneOperations.wait") >= 3 })
	select {
	case err := <-done:
		t.Fatalf("EnsureHost returned before the operation finished: %v", err)
	default:
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	in, ok := fake.Instance(project, zone, "clarateach-fc-ws-slow000000000aaa")
	if !ok || in.Status != "RUNNING" {
		t.Fatalf("instance = %v", in)
	}
}

// A control plane killed while waiting for the insert resumes with a new
// provisioner: it finds the VM and does not create a second one.
func TestEnsureHostResumesAfterRestart(t *testing.T) {
	t.Parallel()
	p, fake := setup(t, nil)
	release := fake.HoldOperations()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	req := request("restart000000aaa", 5)
	go func() {
		_, err := p.EnsureHost(ctx, req)
		done <- err
	}()
	waitFor(t, func() bool { return fake.Calls("zoneOperations.wait") >= 1 })
	cancel() // the server dies mid-provisioning
	if err := <-done; err == nil {
		t.Fatal("EnsureHost succeeded after cancel")
	}
	release() // the cloud finishes the insert anyway

	p2, err := gcevm.New(context.Background(), gcevm.Config{Project: project, Zone: zone, SnapshotName: snapshot, ComputeEndpoint: fake.URL, PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	h, err := p2.EnsureHost(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if fake.Calls("instances.insert") != 1 || h.AgentURL == "" {
		t.Fatalf("inserts=%d host=%+v", fake.Calls("instances.insert"), h)
	}
}

func TestGetHostAndPreemption(t *testing.T) {
	t.Parallel()
	p, fake := setup(t, func(c *gcevm.Config) { c.UseSpot = true })
	ctx := context.Background()
	if _, err := p.GetHost(ctx, "nothere00000aaaa"); !errors.Is(err, provision.ErrNotFound) {
		t.Fatalf("GetHost of a missing VM: %v, want ErrNotFound", err)
	}
	req := request("spot0000000000aa", 12)
	created, err := p.EnsureHost(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	h, err := p.GetHost(ctx, req.WorkshopID)
	if err != nil || h.Status != "RUNNING" || h.IP != created.IP || !h.Spot {
		t.Fatalf("GetHost = %+v, %v", h, err)
	}

	if !fake.Preempt(project, zone, created.Name) {
		t.Fatal("preempt failed")
	}
	h, err = p.GetHost(ctx, req.WorkshopID)
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != "TERMINATED" || h.IP != "" || h.AgentURL != "" {
		t.Fatalf("preempted host = %+v", h)
	}

	// EnsureHost brings the stopped VM back (same disk, new external IP).
	h, err = p.EnsureHost(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != "RUNNING" || h.AgentURL == "" || fake.Calls("instances.start") != 1 || fake.Calls("instances.insert") != 1 {
		t.Fatalf("after EnsureHost: host=%+v starts=%d inserts=%d", h, fake.Calls("instances.start"), fake.Calls("instances.insert"))
	}
}

func TestSpotDeleteOnPreemption(t *testing.T) {
	t.Parallel()
	p, fake := setup(t, func(c *gcevm.Config) { c.UseSpot = true; c.SpotTerminationAction = gcevm.TerminateDelete })
	ctx := context.Background()
	req := request("spotdel00000aaaa", 3)
	h, err := p.EnsureHost(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := fake.InsertRequests()[0].Scheduling.InstanceTerminationAction; got != "DELETE" {
		t.Fatalf("termination action %q", got)
	}
	fake.Preempt(project, zone, h.Name)
	if _, err := p.GetHost(ctx, req.WorkshopID); !errors.Is(err, provision.ErrNotFound) {
		t.Fatalf("GetHost after delete-on-preemption: %v", err)
	}
}

func TestDeleteHost(t *testing.T) {
	t.Parallel()
	p, fake := setup(t, nil)
	ctx := context.Background()
	req := request("del00000000000aa", 5)
	h, err := p.EnsureHost(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.Disk(project, zone, h.Name); !ok {
		t.Fatal("boot disk missing")
	}
	if err := p.DeleteHost(ctx, req.WorkshopID); err != nil {
		t.Fatal(err)
	}
	if len(fake.Instances()) != 0 {
		t.Fatal("instance still there")
	}
	if _, ok := fake.Disk(project, zone, h.Name); ok {
		t.Fatal("boot disk leaked")
	}
	if _, err := p.GetHost(ctx, req.WorkshopID); !errors.Is(err, provision.ErrNotFound) {
		t.Fatalf("GetHost after delete: %v", err)
	}
	// Gone already: success.
	if err := p.DeleteHost(ctx, req.WorkshopID); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	// Deleted behind our back while the delete is in flight: success.
	req2 := request("del00000000000bb", 5)
	h2, err := p.EnsureHost(ctx, req2)
	if err != nil {
		t.Fatal(err)
	}
	release := fake.HoldOperations()
	done := make(chan error, 1)
	go func() { done <- p.DeleteHost(ctx, req2.WorkshopID) }()
	waitFor(t, func() bool { return fake.Calls("instances.delete") >= 3 })
	fake.DeleteInstance(project, zone, h2.Name)
	release()
	if err := <-done; err != nil {
		t.Fatalf("delete of a VM removed meanwhile: %v", err)
	}
	// Server errors are reported.
	req3 := request("del00000000000cc", 5)
	if _, err := p.EnsureHost(ctx, req3); err != nil {
		t.Fatal(err)
	}
	fake.Inject(gcetest.Fault{Method: "instances.delete", Code: 500, Message: "boom"})
	if err := p.DeleteHost(ctx, req3.WorkshopID); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("delete with a server error: %v", err)
	}
}

func TestListHosts(t *testing.T) {
	t.Parallel()
	p, fake := setup(t, nil)
	ctx := context.Background()
	for _, id := range []string{"list0000000000aa", "list0000000000bb"} {
		if _, err := p.EnsureHost(ctx, request(id, 4)); err != nil {
			t.Fatal(err)
		}
	}
	// Not ours: no label, or another zone.
	fake.AddInstance(project, zone, &gcetest.Instance{Name: "clara2", MachineType: "e2-small"})
	fake.AddInstance(project, "europe-west1-b", &gcetest.Instance{Name: "clarateach-fc-ws-elsewhere",
		MachineType: "e2-small", Labels: map[string]string{"clarateach": "workshop-host"}})
	hosts, err := p.ListHosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 2 || hosts[0].WorkshopID != "list0000000000aa" || hosts[1].WorkshopID != "list0000000000bb" {
		t.Fatalf("hosts = %+v", hosts)
	}
	for _, h := range hosts {
		if h.AgentURL == "" || h.Status != "RUNNING" {
			t.Errorf("host %+v", h)
		}
	}
	q := fake.CallLog()
	var listQuery string
	for _, c := range q {
		if c.Method == "instances.list" {
			listQuery = c.Query
		}
	}
	if !strings.Contains(listQuery, "filter=labels.clarateach") {
		t.Errorf("list was not filtered by label: %q", listQuery)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  gcevm.Config
		want string
	}{
		{gcevm.Config{Zone: zone, SnapshotName: snapshot}, "GCP_PROJECT"},
		{gcevm.Config{Project: project, SnapshotName: snapshot}, "GCP_ZONE"},
		{gcevm.Config{Project: project, Zone: zone}, "FC_SNAPSHOT_NAME"},
		{gcevm.Config{Project: project, Zone: zone, SnapshotName: snapshot, SpotTerminationAction: "HIBERNATE"}, "STOP or DELETE"},
		{gcevm.Config{Project: project, Zone: zone, SnapshotName: snapshot, NoExternalIP: true}, "UseInternalIP"},
	} {
		if _, err := gcevm.New(context.Background(), tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want error with %q", tc.cfg, err, tc.want)
		}
	}
}

func TestDefaultMachineType(t *testing.T) {
	t.Parallel()
	for seats, want := range map[int]string{1: "n2-standard-4", 10: "n2-standard-4", 11: "n2-standard-8", 20: "n2-standard-8", 21: "n2-standard-16", 30: "n2-standard-16"} {
		if got := gcevm.DefaultMachineType(seats); got != want {
			t.Errorf("DefaultMachineType(%d) = %s, want %s", seats, got, want)
		}
	}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
