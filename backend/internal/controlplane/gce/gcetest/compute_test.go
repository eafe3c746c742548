package gcetest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	compute "cloud.google.com/go/compute/apiv1"
	computepb "cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/protobuf/proto"

	"github.com/clarateach/backend/internal/controlplane/gce/gcetest"
)

func instancesClient(t *testing.T, fake *gcetest.Compute) (*compute.InstancesClient, *compute.ZoneOperationsClient) {
	t.Helper()
	ctx := context.Background()
	opts := []option.ClientOption{option.WithEndpoint(fake.URL), option.WithoutAuthentication()}
	ic, err := compute.NewInstancesRESTClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	oc, err := compute.NewZoneOperationsRESTClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ic.Close(); oc.Close() })
	return ic, oc
}

func vm(name string) *computepb.Instance {
	return &computepb.Instance{
		Name:        proto.String(name),
		MachineType: proto.String("zones/z-a/machineTypes/e2-small"),
		Disks:       []*computepb.AttachedDisk{{Boot: proto.Bool(true), AutoDelete: proto.Bool(true)}},
		Labels:      map[string]string{"team": "x"},
	}
}

// The operation goes PENDING → RUNNING → DONE over zoneOperations.get, and
// the instance appears RUNNING with addresses once it is DONE.
func TestOperationLifecycleOverGet(t *testing.T) {
	t.Parallel()
	fake := gcetest.NewCompute(t.Cleanup)
	ic, oc := instancesClient(t, fake)
	ctx := context.Background()
	op, err := ic.Insert(ctx, &computepb.InsertInstanceRequest{Project: "p", Zone: "z-a", InstanceResource: vm("vm1")})
	if err != nil {
		t.Fatal(err)
	}
	p := op.Proto()
	if p.GetStatus() != computepb.Operation_PENDING || p.GetOperationType() != "insert" ||
		p.GetTargetLink() != gcetest.Base+"projects/p/zones/z-a/instances/vm1" || p.GetSelfLink() == "" {
		t.Fatalf("insert op = %v", p)
	}
	if in, _ := fake.Instance("p", "z-a", "vm1"); in.GetStatus() != "PROVISIONING" {
		t.Fatalf("status before DONE = %s", in.GetStatus())
	}
	var seen []string
	for i := 0; i < 2; i++ {
		got, err := oc.Get(ctx, &computepb.GetZoneOperationRequest{Project: "p", Zone: "z-a", Operation: op.Name()})
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, got.GetStatus().String())
	}
	if fmt.Sprint(seen) != "[RUNNING DONE]" {
		t.Fatalf("statuses = %v", seen)
	}
	in, err := ic.Get(ctx, &computepb.GetInstanceRequest{Project: "p", Zone: "z-a", Instance: "vm1"})
	if err != nil {
		t.Fatal(err)
	}
	if in.GetStatus() != "RUNNING" || in.GetNetworkInterfaces()[0].GetNetworkIP() == "" ||
		in.GetMachineType() != gcetest.Base+"projects/p/zones/z-a/machineTypes/e2-small" {
		t.Fatalf("instance = %v", in)
	}
}

// The client library's own Operation.Wait (which polls get) works too.
func TestLibraryOperationWait(t *testing.T) {
	t.Parallel()
	fake := gcetest.NewCompute(t.Cleanup)
	fake.SetPollsToDone(1) // DONE at the first poll: the library sleeps 1 s between polls
	ic, _ := instancesClient(t, fake)
	ctx := context.Background()
	fake.Inject(gcetest.Stockout("z-a"))
	op, err := ic.Insert(ctx, &computepb.InsertInstanceRequest{Project: "p", Zone: "z-a", InstanceResource: vm("vm1")})
	if err != nil {
		t.Fatal(err)
	}
	err = op.Wait(ctx)
	if err == nil || !op.Done() {
		t.Fatalf("Wait = %v, done %v; want the stockout", err, op.Done())
	}
	if len(fake.Instances()) != 0 {
		t.Fatal("failed insert left an instance")
	}
}

func TestListPagingAndFilters(t *testing.T) {
	t.Parallel()
	fake := gcetest.NewCompute(t.Cleanup)
	ic, _ := instancesClient(t, fake)
	for i := 0; i < 7; i++ {
		in := vm(fmt.Sprintf("vm%d", i))
		if i%2 == 0 {
			in.Labels["clarateach"] = "workshop-host"
		}
		fake.AddInstance("p", "z-a", in)
	}
	list := func(filter string) ([]string, error) {
		req := &computepb.ListInstancesRequest{Project: "p", Zone: "z-a", MaxResults: proto.Uint32(2)}
		if filter != "" {
			req.Filter = proto.String(filter)
		}
		it := ic.List(context.Background(), req)
		var names []string
		for {
			in, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return names, nil
			}
			if err != nil {
				return nil, err
			}
			names = append(names, in.GetName())
		}
	}
	tests := []struct {
		filter  string
		want    string
		wantErr bool
	}{
		{"", "[vm0 vm1 vm2 vm3 vm4 vm5 vm6]", false},
		{"labels.clarateach = workshop-host", "[vm0 vm2 vm4 vm6]", false},
		{`(labels.clarateach = "workshop-host") AND (name != vm2)`, "[vm0 vm4 vm6]", false},
		{"name eq vm[1-3]", "[vm1 vm2 vm3]", false},
		{"name ne vm.*", "[]", false},
		{"name = vm*", "[vm0 vm1 vm2 vm3 vm4 vm5 vm6]", false},
		{"cpuPlatform = x", "", true},
		{"name ~ vm", "", true},
	}
	for _, tc := range tests {
		got, err := list(tc.filter)
		if (err != nil) != tc.wantErr {
			t.Errorf("filter %q: err %v", tc.filter, err)
			continue
		}
		if !tc.wantErr && fmt.Sprint(got) != tc.want && !(tc.want == "[]" && len(got) == 0) {
			t.Errorf("filter %q: %v, want %s", tc.filter, got, tc.want)
		}
	}
	if n := fake.Calls("instances.list"); n < 4 {
		t.Fatalf("%d list calls: paging not exercised", n)
	}
}
