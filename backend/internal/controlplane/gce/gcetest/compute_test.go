package gcetest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/gce/gcetest"
)

// call sends one request to the fake and decodes a 2xx answer into out; a
// non-2xx answer is returned as its status and body.
func call(t *testing.T, fake *gcetest.Compute, method, path string, in, out any) (int, string) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, fake.URL+"/compute/v1/projects/p"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode/100 == 2 && out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, string(raw)
}

func vm(name string) *gcetest.Instance {
	return &gcetest.Instance{
		Name:        name,
		MachineType: "zones/z-a/machineTypes/e2-small",
		Disks:       []*gcetest.AttachedDisk{{Boot: true, AutoDelete: true}},
		Labels:      map[string]string{"team": "x"},
	}
}

// The operation goes PENDING → RUNNING → DONE over zoneOperations.get, and
// the instance appears RUNNING with addresses once it is DONE.
func TestOperationLifecycleOverGet(t *testing.T) {
	t.Parallel()
	fake := gcetest.NewCompute(t.Cleanup)
	var op gcetest.Operation
	if code, body := call(t, fake, "POST", "/zones/z-a/instances", vm("vm1"), &op); code != 200 {
		t.Fatalf("insert: %d %s", code, body)
	}
	if op.Status != gcetest.OpPending || op.OperationType != "insert" ||
		op.TargetLink != gcetest.Base+"projects/p/zones/z-a/instances/vm1" || op.SelfLink == "" {
		t.Fatalf("insert op = %+v", op)
	}
	if in, _ := fake.Instance("p", "z-a", "vm1"); in.Status != "PROVISIONING" {
		t.Fatalf("status before DONE = %s", in.Status)
	}
	var seen []string
	for i := 0; i < 2; i++ {
		var got gcetest.Operation
		if code, body := call(t, fake, "GET", "/zones/z-a/operations/"+op.Name, nil, &got); code != 200 {
			t.Fatalf("get op: %d %s", code, body)
		}
		seen = append(seen, got.Status)
	}
	if fmt.Sprint(seen) != "[RUNNING DONE]" {
		t.Fatalf("statuses = %v", seen)
	}
	var in gcetest.Instance
	if code, body := call(t, fake, "GET", "/zones/z-a/instances/vm1", nil, &in); code != 200 {
		t.Fatalf("get: %d %s", code, body)
	}
	if in.Status != "RUNNING" || in.NetworkInterfaces[0].NetworkIP == "" ||
		in.MachineType != gcetest.Base+"projects/p/zones/z-a/machineTypes/e2-small" {
		t.Fatalf("instance = %+v", in)
	}
}

// A stockout is reported by the insert's operation, not the call, and the
// failed insert leaves nothing behind.
func TestAsyncFaultEndsTheOperation(t *testing.T) {
	t.Parallel()
	fake := gcetest.NewCompute(t.Cleanup)
	fake.SetPollsToDone(1)
	fake.Inject(gcetest.Stockout("z-a"))
	var op gcetest.Operation
	if code, body := call(t, fake, "POST", "/zones/z-a/instances", vm("vm1"), &op); code != 200 {
		t.Fatalf("insert: %d %s", code, body)
	}
	if code, body := call(t, fake, "GET", "/zones/z-a/operations/"+op.Name, nil, &op); code != 200 {
		t.Fatalf("get op: %d %s", code, body)
	}
	if op.Status != gcetest.OpDone || op.Error == nil || op.Error.Errors[0].Code != "ZONE_RESOURCE_POOL_EXHAUSTED" || op.HTTPErrorStatusCode != 503 {
		t.Fatalf("op = %+v", op)
	}
	if len(fake.Instances()) != 0 {
		t.Fatal("failed insert left an instance")
	}
}

// Requests are decoded strictly, as the real API refuses unknown names.
func TestUnknownFieldRefused(t *testing.T) {
	t.Parallel()
	fake := gcetest.NewCompute(t.Cleanup)
	body := map[string]any{"name": "vm1", "machineType": "zones/z-a/machineTypes/e2-small",
		"disks": []any{map[string]any{"boot": true}}, "machine_type": "x"}
	code, raw := call(t, fake, "POST", "/zones/z-a/instances", body, nil)
	if code != http.StatusBadRequest || !bytes.Contains([]byte(raw), []byte("machine_type")) {
		t.Fatalf("unknown field: %d %s", code, raw)
	}
	if fake.Calls("instances.insert") != 1 || len(fake.Instances()) != 0 {
		t.Fatal("refused insert made an instance")
	}
}

func TestListPagingAndFilters(t *testing.T) {
	t.Parallel()
	fake := gcetest.NewCompute(t.Cleanup)
	for i := 0; i < 7; i++ {
		in := vm(fmt.Sprintf("vm%d", i))
		if i%2 == 0 {
			in.Labels["clarateach"] = "workshop-host"
		}
		fake.AddInstance("p", "z-a", in)
	}
	list := func(filter string) ([]string, error) {
		q := url.Values{"maxResults": {"2"}}
		if filter != "" {
			q.Set("filter", filter)
		}
		var names []string
		for {
			var page struct {
				Items         []gcetest.Instance `json:"items"`
				NextPageToken string             `json:"nextPageToken"`
			}
			if code, body := call(t, fake, "GET", "/zones/z-a/instances?"+q.Encode(), nil, &page); code != 200 {
				return nil, fmt.Errorf("%d %s", code, body)
			}
			for _, in := range page.Items {
				names = append(names, in.Name)
			}
			if page.NextPageToken == "" {
				return names, nil
			}
			q.Set("pageToken", page.NextPageToken)
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
