package gce_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/gce"
	"github.com/clarateach/backend/internal/controlplane/gce/gcename"
	"github.com/clarateach/backend/internal/controlplane/gce/gcetest"
)

const (
	project = "clarateach"
	zone    = "us-central1-b"
)

func setup(t *testing.T) (*gce.Clients, *gcetest.Compute) {
	t.Helper()
	fake := gcetest.NewCompute(t.Cleanup)
	c, err := gce.NewClients(context.Background(), project, fake.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.MinWaitInterval = time.Millisecond
	t.Cleanup(func() { c.Close() })
	return c, fake
}

func host(name, workshop, machineType string) *gcetest.Instance {
	return &gcetest.Instance{
		Name:        name,
		MachineType: machineType,
		Labels:      map[string]string{gcename.LabelOwner: gcename.LabelOwnerValue, gcename.LabelWorkshop: workshop},
		NetworkInterfaces: []*gcetest.NetworkInterface{{
			AccessConfigs: []*gcetest.AccessConfig{{Name: "External NAT"}},
		}},
		Disks: []*gcetest.AttachedDisk{{Boot: true, AutoDelete: true}},
	}
}

func TestInstanceName(t *testing.T) {
	t.Parallel()
	for id, ok := range map[string]bool{
		"abc234xyz":             true,
		"a":                     true,
		strings.Repeat("a", 46): true,
		strings.Repeat("a", 47): false,
		"ABC":                   false,
		"a_b":                   false,
		"-ab":                   false,
		"ab-":                   false,
		"":                      false,
	} {
		name, err := gcename.InstanceName(id)
		if (err == nil) != ok {
			t.Errorf("InstanceName(%q) = %q, %v; want ok=%v", id, name, err, ok)
		}
		if ok && name != "clarateach-fc-ws-"+id {
			t.Errorf("InstanceName(%q) = %q", id, name)
		}
	}
}

func TestListVMsAcrossZones(t *testing.T) {
	t.Parallel()
	c, fake := setup(t)
	fake.AddInstance(project, zone, host("clarateach-fc-ws-bbb", "bbb", "n2-standard-8"))
	fake.AddInstance(project, zone, host("clarateach-fc-ws-aaa", "aaa", "n2-standard-4"))
	fake.AddInstance(project, "europe-west1-c", host("clarateach-fc-ws-ccc", "ccc", "n2-standard-4"))
	fake.AddInstance(project, zone, &gcetest.Instance{Name: "clara2", MachineType: "e2-small"})
	fake.AddInstance("other-project", zone, host("clarateach-fc-ws-ddd", "ddd", "n2-standard-4"))
	fake.Preempt(project, zone, "clarateach-fc-ws-bbb")

	vms, err := c.ListVMs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, vm := range vms {
		got = append(got, vm.Zone+"/"+vm.Name+"/"+vm.Status+"/"+vm.WorkshopID+"/"+vm.MachineType)
	}
	want := []string{
		"europe-west1-c/clarateach-fc-ws-ccc/RUNNING/ccc/n2-standard-4",
		"us-central1-b/clarateach-fc-ws-aaa/RUNNING/aaa/n2-standard-4",
		"us-central1-b/clarateach-fc-ws-bbb/TERMINATED/bbb/n2-standard-8",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("ListVMs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if vms[1].ExternalIP == "" || vms[1].InternalIP == "" || vms[1].Created.IsZero() {
		t.Errorf("vm = %+v", vms[1])
	}
	if vms[2].ExternalIP != "" || vms[2].StatusMessage != "Instance was preempted." {
		t.Errorf("preempted vm = %+v", vms[2])
	}

	// By name, as the seed does: finds unlabelled hosts, not clara2.
	fake.AddInstance(project, zone, &gcetest.Instance{Name: "clarateach-fc-ws-seed", MachineType: "n2-standard-4"})
	byName, err := c.ListVMsFilter(context.Background(), gcename.NameFilter)
	if err != nil || len(byName) != 4 {
		t.Fatalf("ListVMsFilter(NameFilter) = %d VMs, %v; want 4", len(byName), err)
	}

	zoneVMs, err := c.ListZoneVMs(context.Background(), zone)
	if err != nil || len(zoneVMs) != 2 {
		t.Fatalf("ListZoneVMs = %v, %v", zoneVMs, err)
	}
}

func TestDeleteVM(t *testing.T) {
	t.Parallel()
	c, fake := setup(t)
	fake.AddInstance(project, zone, host("clarateach-fc-ws-old", "old", "n2-standard-4"))
	if err := c.DeleteVM(context.Background(), zone, "clarateach-fc-ws-old"); err != nil {
		t.Fatal(err)
	}
	if len(fake.Instances()) != 0 {
		t.Fatal("not deleted")
	}
	if err := c.DeleteVM(context.Background(), zone, "clarateach-fc-ws-old"); err != nil {
		t.Fatalf("deleting a missing VM: %v", err)
	}
}

func addSnapshots(fake *gcetest.Compute, names map[string]string) {
	for name, ts := range names {
		fake.AddSnapshot(project, &gcetest.Snapshot{Name: name, CreationTimestamp: ts})
	}
}

func TestPruneSnapshots(t *testing.T) {
	t.Parallel()
	snaps := map[string]string{
		"clara2-snapshot-20260101":            "2026-01-01T10:00:00.000-08:00",
		"clara2-snapshot-20260110":            "2026-01-10T10:00:00.000-08:00",
		"clara2-snapshot-20260117-auth":       "2026-01-17T10:00:00.000-08:00",
		"clarateach-snapshot-20260201-090000": "2026-02-01T09:00:00.000-08:00",
		"clarateach-snapshot-20260202-090000": "2026-02-02T09:00:00.000-08:00",
		// Older by timestamp although its name sorts last.
		"clarateach-snapshot-20991231-000000": "2025-12-01T00:00:00.000-08:00",
		"unrelated-backup":                    "2020-01-01T00:00:00.000Z",
	}
	tests := []struct {
		name        string
		opts        gce.PruneOptions
		wantDeleted []string
		wantErr     string
	}{
		{
			name:        "seed: keep 3 of name~clara",
			opts:        gce.PruneOptions{Prefix: "clara", Keep: 3},
			wantDeleted: []string{"clara2-snapshot-20260110", "clara2-snapshot-20260101", "clarateach-snapshot-20991231-000000"},
		},
		{
			name:        "protected snapshot survives",
			opts:        gce.PruneOptions{Prefix: "clara", Keep: 2, Protect: []string{"clara2-snapshot-20260110"}},
			wantDeleted: []string{"clara2-snapshot-20260117-auth", "clara2-snapshot-20260101", "clarateach-snapshot-20991231-000000"},
		},
		{
			name:        "own prefix only",
			opts:        gce.PruneOptions{Prefix: gcename.SnapshotPrefix, Keep: 1},
			wantDeleted: []string{"clarateach-snapshot-20260201-090000", "clarateach-snapshot-20991231-000000"},
		},
		{
			name:        "dry run deletes nothing",
			opts:        gce.PruneOptions{Prefix: "clara", Keep: 5, DryRun: true},
			wantDeleted: []string{"clarateach-snapshot-20991231-000000"},
		},
		{name: "keep 0 refused", opts: gce.PruneOptions{Prefix: "clara", Keep: 0}, wantErr: "keep must be at least 1"},
		{name: "empty prefix refused", opts: gce.PruneOptions{Keep: 3}, wantErr: "prefix is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, fake := setup(t)
			addSnapshots(fake, snaps)
			res, err := c.PruneSnapshots(context.Background(), tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if fake.Calls("snapshots.delete") != 0 {
					t.Fatal("deleted despite the error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var deleted []string
			for _, s := range res.Deleted {
				deleted = append(deleted, s.Name)
			}
			if strings.Join(deleted, ",") != strings.Join(tc.wantDeleted, ",") {
				t.Fatalf("deleted %v, want %v", deleted, tc.wantDeleted)
			}
			left := map[string]bool{}
			for _, s := range fake.Snapshots() {
				left[s.Name] = true
			}
			for _, name := range tc.wantDeleted {
				if left[name] == !tc.opts.DryRun {
					t.Errorf("snapshot %s present=%v after prune (dry run %v)", name, left[name], tc.opts.DryRun)
				}
			}
			if !left["unrelated-backup"] {
				t.Error("a snapshot outside the prefix was deleted")
			}
			if len(res.Kept)+len(res.Deleted) != countPrefix(snaps, tc.opts.Prefix) {
				t.Errorf("kept %d + deleted %d != matching %d", len(res.Kept), len(res.Deleted), countPrefix(snaps, tc.opts.Prefix))
			}
		})
	}
}

func countPrefix(m map[string]string, p string) int {
	n := 0
	for k := range m {
		if strings.HasPrefix(k, p) {
			n++
		}
	}
	return n
}

func TestPruneSnapshotsReportsDeleteFailure(t *testing.T) {
	t.Parallel()
	c, fake := setup(t)
	addSnapshots(fake, map[string]string{
		"clara-a": "2026-01-01T00:00:00Z",
		"clara-b": "2026-01-02T00:00:00Z",
		"clara-c": "2026-01-03T00:00:00Z",
	})
	fake.Inject(gcetest.Fault{Method: "snapshots.delete", Times: 1, Async: false, Code: 400, Reason: "resourceInUseByAnotherResource",
		Message: "The snapshot resource 'projects/clarateach/global/snapshots/clara-b' is already being used by 'projects/clarateach/global/images/x'"})
	res, err := c.PruneSnapshots(context.Background(), gce.PruneOptions{Prefix: "clara", Keep: 1})
	if err == nil || !strings.Contains(err.Error(), "clara-b") || !strings.Contains(err.Error(), "already being used") {
		t.Fatalf("err = %v", err)
	}
	if len(res.Deleted) != 0 {
		t.Fatalf("reported deleted %v", res.Deleted)
	}
}

func TestSnapshotInstance(t *testing.T) {
	t.Parallel()
	c, fake := setup(t)
	base := host("clara2", "", "n2-standard-4")
	base.Labels = nil
	fake.AddInstance(project, zone, base)
	now := func() time.Time { return time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("PST", -8*3600)) }

	name, err := c.SnapshotInstance(context.Background(), zone, "clara2", gce.SnapshotOptions{Now: now, Restart: true})
	if err != nil {
		t.Fatal(err)
	}
	if name != "clarateach-snapshot-20260304-130607" {
		t.Fatalf("name = %q", name)
	}
	var order []string
	for _, cl := range fake.CallLog() {
		if strings.HasPrefix(cl.Method, "instances.") || strings.HasPrefix(cl.Method, "snapshots.") {
			order = append(order, cl.Method)
		}
	}
	if got := strings.Join(order, ","); got != "instances.get,instances.stop,snapshots.insert,instances.start" {
		t.Fatalf("calls = %s", got)
	}
	snaps := fake.Snapshots()
	if len(snaps) != 1 || snaps[0].Status != "READY" || !strings.HasSuffix(snaps[0].SourceDisk, "/zones/"+zone+"/disks/clara2") ||
		snaps[0].Labels[gcename.LabelSnapshot] != gcename.LabelSnapshotValue {
		t.Fatalf("snapshot = %v", snaps)
	}
	if in, _ := fake.Instance(project, zone, "clara2"); in.Status != "RUNNING" {
		t.Fatalf("base VM left %s", in.Status)
	}

	// Without Restart the VM stays stopped; a duplicate name fails clearly.
	_, err = c.SnapshotInstance(context.Background(), zone, "clara2", gce.SnapshotOptions{Now: now})
	if err == nil || !gce.IsAlreadyExists(err) {
		t.Fatalf("duplicate snapshot: %v", err)
	}
	if in, _ := fake.Instance(project, zone, "clara2"); in.Status != "TERMINATED" {
		t.Fatalf("base VM %s, want TERMINATED", in.Status)
	}
	if _, err := c.SnapshotInstance(context.Background(), zone, "nope", gce.SnapshotOptions{}); !gce.IsNotFound(err) {
		t.Fatalf("missing VM: %v", err)
	}
}

func TestQuota(t *testing.T) {
	t.Parallel()
	c, fake := setup(t)
	fake.SetRegionQuota("us-central1", "CPUS", 24, 2)
	fake.SetRegionQuota("us-central1", "N2_CPUS", 24, 0)
	fake.SetRegionQuota("us-central1", "IN_USE_ADDRESSES", 8, 1)
	fake.SetProjectQuota("CPUS_ALL_REGIONS", 32, 10)
	fake.AddInstance(project, zone, host("clarateach-fc-ws-q1", "q1", "n2-standard-8"))
	fake.AddInstance(project, "europe-west1-b", host("clarateach-fc-ws-q2", "q2", "n2-standard-4"))

	rep, err := c.Quota(context.Background(), gcename.RegionOf(zone))
	if err != nil {
		t.Fatal(err)
	}
	cpus, ok := rep.Line("us-central1", "CPUS")
	if !ok || cpus.Usage != 10 || cpus.Limit != 24 || cpus.Headroom != 14 {
		t.Fatalf("CPUS = %+v", cpus)
	}
	all, ok := rep.Line("project", "CPUS_ALL_REGIONS")
	if !ok || all.Usage != 22 || all.Headroom != 10 {
		t.Fatalf("CPUS_ALL_REGIONS = %+v", all)
	}
	if _, ok := rep.Line("us-central1", "IN_USE_ADDRESSES"); ok {
		t.Error("non-CPU quota reported")
	}
	if _, ok := rep.Line("us-central1", "N2_CPUS"); !ok {
		t.Error("N2_CPUS missing")
	}
	if h := rep.CPUHeadroom(); h != 10 {
		t.Fatalf("CPUHeadroom = %v, want 10 (project-wide is tighter)", h)
	}
	// The n2 family's quota, tighter still (workshop hosts are n2).
	fake.SetRegionQuota("us-central1", "N2_CPUS", 12, 0)
	if rep, err = c.Quota(context.Background(), gcename.RegionOf(zone)); err != nil {
		t.Fatal(err)
	}
	if n2, _ := rep.Line("us-central1", "N2_CPUS"); n2.Usage != 8 || rep.CPUHeadroom() != 4 {
		t.Fatalf("N2_CPUS = %+v, CPUHeadroom = %v, want usage 8 (the n2 VM in the region), headroom 4", n2, rep.CPUHeadroom())
	}

	if _, err := c.Quota(context.Background(), "mars-north1"); !gce.IsNotFound(err) {
		t.Fatalf("unknown region: %v", err)
	}
}

func TestErrorClassification(t *testing.T) {
	t.Parallel()
	c, fake := setup(t)
	_, err := c.GetInstance(context.Background(), zone, "missing")
	if !gce.IsNotFound(err) || gce.HTTPCode(err) != 404 || gce.Reason(err) != "notFound" {
		t.Fatalf("404: code=%d reason=%q err=%v", gce.HTTPCode(err), gce.Reason(err), err)
	}
	if !strings.Contains(err.Error(), "The resource 'projects/clarateach/zones/us-central1-b/instances/missing' was not found") {
		t.Fatalf("message: %v", err)
	}
	opErr := gce.OpError(&gce.Operation{
		Name: "op-1", OperationType: "insert", TargetLink: gcetest.Base + "projects/p/zones/z/instances/vm",
		Status: "DONE", HTTPErrorStatusCode: 403,
		Error: gce.OperationErrors{Errors: []gce.OperationErrorItem{{Code: "QUOTA_EXCEEDED", Message: "Quota 'CPUS' exceeded."}}},
	})
	var oe *gce.OperationError
	if !errors.As(opErr, &oe) || !gce.IsQuotaExceeded(opErr) || gce.HTTPCode(opErr) != 403 || !strings.Contains(opErr.Error(), "insert of vm failed: QUOTA_EXCEEDED") {
		t.Fatalf("op error: %v", opErr)
	}
	if gce.OpError(&gce.Operation{Status: "DONE"}) != nil {
		t.Fatal("clean operation reported an error")
	}
	_ = fake
}
