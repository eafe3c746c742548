package fcfake

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type rawClient struct {
	hc *http.Client
}

func newRaw(sock string) *rawClient {
	return &rawClient{hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}}
}

// do sends a raw body and returns the status and fault_message.
func (c *rawClient) do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://localhost"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e struct {
		FaultMessage string `json:"fault_message"`
	}
	json.Unmarshal(raw, &e) //nolint:errcheck
	return resp.StatusCode, e.FaultMessage
}

type step struct {
	method, path, body string
	status             int
	fault              string // substring of fault_message
}

func TestValidation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kernel := filepath.Join(dir, "vmlinux")
	rootfs := filepath.Join(dir, "rootfs.ext4")
	logf := filepath.Join(dir, "fc.log")
	for _, f := range []string{kernel, rootfs, logf} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	goodDrive := `{"drive_id":"rootfs","path_on_host":` + q(rootfs) + `,"is_root_device":true,"is_read_only":true}`
	cases := []struct {
		name  string
		steps []step
	}{
		{"unknown field", []step{
			{"PUT", "/machine-config", `{"vcpu_count":2,"mem_size_mib":512,"ht_enabled":false}`, 400, "unknown field"},
		}},
		{"missing required field", []step{
			{"PUT", "/machine-config", `{"vcpu_count":2}`, 400, "mem_size_mib"},
			{"PUT", "/drives/rootfs", `{"drive_id":"rootfs","path_on_host":` + q(rootfs) + `}`, 400, "is_root_device"},
			{"PUT", "/network-interfaces/eth0", `{"iface_id":"eth0"}`, 400, "host_dev_name"},
		}},
		{"smt needs even vcpus", []step{
			{"PUT", "/machine-config", `{"vcpu_count":3,"mem_size_mib":512,"smt":true}`, 400, "even"},
		}},
		{"missing files", []step{
			{"PUT", "/boot-source", `{"kernel_image_path":` + q(kernel+".x") + `}`, 400, "cannot be opened"},
			{"PUT", "/drives/rootfs", `{"drive_id":"rootfs","path_on_host":"/nonexistent/disk","is_root_device":true,"is_read_only":true}`, 400, "cannot be opened"},
			{"PUT", "/logger", `{"log_path":"/nonexistent/log"}`, 400, "cannot be opened"},
		}},
		{"id mismatch and bad mac", []step{
			{"PUT", "/drives/other", goodDrive, 400, "does not match"},
			{"PUT", "/network-interfaces/eth0", `{"iface_id":"eth0","host_dev_name":"tap0","guest_mac":"zz"}`, 400, "MAC"},
		}},
		{"start before boot-source", []step{
			{"PUT", "/drives/rootfs", goodDrive, 204, ""},
			{"PUT", "/actions", `{"action_type":"InstanceStart"}`, 400, "kernel"},
		}},
		{"start before drives", []step{
			{"PUT", "/boot-source", `{"kernel_image_path":` + q(kernel) + `}`, 204, ""},
			{"PUT", "/actions", `{"action_type":"InstanceStart"}`, 400, "root block device"},
		}},
		{"two root drives", []step{
			{"PUT", "/drives/rootfs", goodDrive, 204, ""},
			{"PUT", "/drives/seat", `{"drive_id":"seat","path_on_host":` + q(rootfs) + `,"is_root_device":true,"is_read_only":false}`, 400, "root block device already"},
		}},
		{"pre-boot resources after start", []step{
			{"PUT", "/boot-source", `{"kernel_image_path":` + q(kernel) + `}`, 204, ""},
			{"PUT", "/drives/rootfs", goodDrive, 204, ""},
			{"PUT", "/actions", `{"action_type":"SendCtrlAltDel"}`, 400, "before starting"},
			{"PUT", "/actions", `{"action_type":"InstanceStart"}`, 204, ""},
			{"PUT", "/machine-config", `{"vcpu_count":2,"mem_size_mib":512}`, 400, "after starting"},
			{"PUT", "/actions", `{"action_type":"InstanceStart"}`, 400, "after starting"},
			{"PUT", "/actions", `{"action_type":"SendCtrlAltDel"}`, 204, ""},
		}},
		{"logger once", []step{
			{"PUT", "/logger", `{"log_path":` + q(logf) + `,"level":"Loud"}`, 400, "level"},
			{"PUT", "/logger", `{"log_path":` + q(logf) + `,"level":"Info"}`, 204, ""},
			{"PUT", "/logger", `{"log_path":` + q(logf) + `,"level":"Info"}`, 400, "not allowed"},
		}},
		{"bad action and path", []step{
			{"PUT", "/actions", `{"action_type":"Reboot"}`, 400, "unknown variant"},
			{"PUT", "/actions", ``, 400, "empty"},
			{"POST", "/machine-config", `{}`, 400, "Invalid request"},
			{"GET", "/vm/config", ``, 400, "Invalid request"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sock := filepath.Join(t.TempDir(), "api.sock")
			srv, err := Listen(sock, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			c := newRaw(sock)
			for i, s := range tc.steps {
				status, fault := c.do(t, s.method, s.path, s.body)
				if status != s.status || !strings.Contains(fault, s.fault) {
					t.Fatalf("step %d %s %s: got %d %q, want %d ~%q", i, s.method, s.path, status, fault, s.status, s.fault)
				}
			}
			calls := srv.Calls()
			if len(calls) != len(tc.steps) {
				t.Fatalf("recorded %d calls, want %d", len(calls), len(tc.steps))
			}
			for i, c := range calls {
				if c.Status != tc.steps[i].status || c.Path != tc.steps[i].path {
					t.Fatalf("call %d recorded as %+v", i, c)
				}
			}
		})
	}
}

func TestSocketInUse(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "api.sock")
	if err := os.WriteFile(sock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(sock, Options{}); err == nil {
		t.Fatal("Listen on an existing path succeeded; Firecracker refuses it")
	}
}

func TestRecordFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock, rec := filepath.Join(dir, "api.sock"), filepath.Join(dir, "calls.jsonl")
	srv, err := Listen(sock, Options{RecordPath: rec, Faults: []Fault{{"GET", "/", 500, "down"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := newRaw(sock)
	if st, f := c.do(t, "GET", "/", ""); st != 500 || f != "down" {
		t.Fatalf("fault: %d %q", st, f)
	}
	if st, _ := c.do(t, "GET", "/", ""); st != 200 {
		t.Fatalf("second GET: %d (faults fire once)", st)
	}
	calls, err := ReadRecord(rec)
	if err != nil || len(calls) != 2 || calls[0].Status != 500 || calls[1].Status != 200 {
		t.Fatalf("record = %+v, %v", calls, err)
	}
}
