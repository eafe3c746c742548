package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/gce"
	"github.com/clarateach/backend/internal/controlplane/gce/gcename"
	"github.com/clarateach/backend/internal/controlplane/gce/gcetest"
	"github.com/clarateach/backend/internal/controlplane/secrets/secretstest"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/open"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/seatruntime/process"
)

const (
	testProject = "clarateach-test"
	testZone    = "us-central1-b"
	testSnap    = "clarateach-snapshot-20250102-030405"
)

// configVars are every variable the config loader reads; each test starts
// with all of them empty so the developer's environment does not leak in.
var configVars = []string{
	"PORT", "LISTEN", "PUBLIC_URL", "DATA_DIR", "DATABASE_URL", "PROVISIONER", "GCP_PROJECT", "GCP_ZONE",
	"GCP_REGISTRY", "FC_SNAPSHOT_NAME", "GCP_USE_SPOT", "GCP_MACHINE_TYPE", "GCP_COMPUTE_ENDPOINT",
	"GCP_SECRETMANAGER_ENDPOINT", "CORS_ORIGINS", "MAX_SEATS", "WORKSPACE_TOKEN_TTL", "SESSION_TTL",
	"TRUST_PROXY_HOPS", "AGENT_RUNTIME", "WORKSPACE_DAEMON", "RECONCILE_INTERVAL", "FC_AGENT_TOKEN",
	"WORKSPACE_TOKEN_SECRET", "JWT_SECRET", "INTERNAL_TOKEN", "ADMIN_EMAIL", "ADMIN_PASSWORD",
	"SIGNUP", "INVITE_TTL", "QUOTA_RUNNING_WORKSHOPS", "QUOTA_SEATS", "QUOTA_WORKSHOP_HOURS",
	"ARCHIVE_BUCKET", "ARCHIVE_DIR", "ARCHIVE_EVERY", "ARCHIVE_RETENTION", "ARCHIVE_MAX_BYTES",
}

// fixture is a configured environment: a temp data dir and SQLite
// database, and (gcp) a fake Compute Engine and Secret Manager.
type fixture struct {
	dir     string
	st      store.Store
	compute *gcetest.Compute
	owner   string
}

type envMode int

const (
	localMode envMode = iota // no GCP_PROJECT: local provisioner
	gcpMode                  // full gcp provisioner configuration
)

// setup configures the environment (t.Setenv: not for parallel tests).
func setup(t *testing.T, mode envMode) *fixture {
	t.Helper()
	for _, k := range configVars {
		t.Setenv(k, "")
	}
	fx := &fixture{dir: t.TempDir()}
	db := filepath.Join(fx.dir, "clarateach.db")
	t.Setenv("DATA_DIR", fx.dir)
	t.Setenv("DATABASE_URL", "sqlite:"+db)
	if mode == gcpMode {
		fx.compute = gcetest.NewCompute(t.Cleanup)
		sm, err := secretstest.NewSecretManager(t.Cleanup)
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("GCP_PROJECT", testProject)
		t.Setenv("GCP_ZONE", testZone)
		t.Setenv("GCP_COMPUTE_ENDPOINT", fx.compute.URL)
		t.Setenv("GCP_SECRETMANAGER_ENDPOINT", sm.Addr)
		t.Setenv("FC_SNAPSHOT_NAME", testSnap)
		t.Setenv("WORKSPACE_TOKEN_SECRET", "test-workspace-secret-0123456789")
		t.Setenv("JWT_SECRET", "test-jwt-secret-0123456789abcdef")
	}
	st, err := open.Open(context.Background(), "sqlite:"+db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fx.st = st
	u := &store.User{Email: "ops@example.com", Name: "Ops", PasswordHash: "x", Role: store.RoleAdmin}
	if err := st.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	fx.owner = u.ID
	return fx
}

// workshop stores a workshop created at the given time with the given state.
func (fx *fixture) workshop(t *testing.T, id, name string, status store.Status, desired store.DesiredState, seats int, created time.Time, mod func(*store.Workshop)) {
	t.Helper()
	ctx := context.Background()
	w := &store.Workshop{ID: id, OwnerID: fx.owner, Name: name, Code: strings.ToUpper(id[:min(6, len(id))]) + "X",
		Seats: seats, Status: status, DesiredState: desired, CreatedAt: created, UpdatedAt: created}
	if err := fx.st.CreateWorkshop(ctx, w); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.st.UpdateWorkshop(ctx, id, func(w *store.Workshop) error {
		w.Status, w.DesiredState = status, desired
		if status == store.StatusDeleted {
			w.DeletedAt = &created
		}
		if mod != nil {
			mod(w)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// run runs `clarateach args...` and returns stdout, stderr and the exit code.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return out.String(), errb.String(), code
}

// mustRun runs a command that must succeed.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := run(t, args...)
	if code != 0 {
		t.Fatalf("clarateach %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("output is not the expected JSON: %v\n%s", err, s)
	}
	return v
}

// rows returns the table lines of out whose first column is key.
func rowOf(out, key string) []string {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == key {
			return f
		}
	}
	return nil
}

func host(name, workshop, machineType string) *gcetest.Instance {
	in := &gcetest.Instance{
		Name:        name,
		MachineType: machineType,
		Labels:      map[string]string{gcename.LabelOwner: gcename.LabelOwnerValue},
		NetworkInterfaces: []*gcetest.NetworkInterface{{
			AccessConfigs: []*gcetest.AccessConfig{{Name: "External NAT"}},
		}},
		Disks: []*gcetest.AttachedDisk{{Boot: true, AutoDelete: true}},
	}
	if workshop != "" {
		in.Labels[gcename.LabelWorkshop] = workshop
	}
	return in
}

func instanceNames(c *gcetest.Compute) []string {
	var out []string
	for _, in := range c.Instances() {
		out = append(out, in.Name)
	}
	return out
}

// ---------------------------------------------------------------------------

func TestOpsUsage(t *testing.T) {
	t.Parallel()
	out, _, code := run(t, "help")
	if code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	for _, want := range []string{"workshops list", "vms list", "health [AGENT_URL]", "gc ", "snapshots list", "snapshots create", "snapshots prune", "quota", "--json"} {
		if !strings.Contains(out, want) {
			t.Errorf("help does not mention %q:\n%s", want, out)
		}
	}
	cases := []struct {
		args    []string
		code    int
		stdout  string // substring of stdout
		stderr  string // substring of stderr
		handled bool
	}{
		{[]string{"workshops", "list", "--help"}, 0, "", "Usage: clarateach workshops list", true},
		{[]string{"vms", "list", "-h"}, 0, "", "--all-zones", true},
		{[]string{"health", "--help"}, 0, "", "curl http://<VM_IP>:9090/health", true},
		{[]string{"gc", "--help"}, 0, "", "--dry-run", true},
		{[]string{"snapshots", "prune", "--help"}, 0, "", "tail -n +4", true},
		{[]string{"snapshots", "create", "--help"}, 0, "", "FC_SNAPSHOT_NAME=<name>", true},
		{[]string{"quota", "--help"}, 0, "", "CPUS_ALL_REGIONS", true},
		{[]string{"snapshots", "--help"}, 0, "prune", "", true},
		{[]string{"snapshots"}, 1, "", "missing command (one of: list, create, prune)", true},
		{[]string{"vms", "reboot"}, 1, "", `unknown command "reboot"`, true},
		{[]string{"workshops", "list", "extra"}, 1, "", `unexpected argument "extra"`, true},
		{[]string{"health", "a", "b"}, 1, "", `unexpected argument "b"`, true},
		{[]string{"quota", "--bogus"}, 1, "", "flag provided but not defined: -bogus", true},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`, false},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			t.Parallel()
			out, errOut, code := run(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errOut, tc.stderr) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant stdout ⊇ %q, stderr ⊇ %q", code, tc.code, out, errOut, tc.stdout, tc.stderr)
			}
			handled, _ := runOps(context.Background(), tc.args[0], tc.args[1:], &bytes.Buffer{}, &bytes.Buffer{})
			if handled != tc.handled {
				t.Errorf("runOps handled = %v, want %v", handled, tc.handled)
			}
		})
	}
}

func TestGCPCommandsNeedProjectAndZone(t *testing.T) {
	cmds := [][]string{
		{"vms", "list"}, {"snapshots", "list"}, {"snapshots", "prune", "--keep", "3"},
		{"snapshots", "create", "--vm", "base"}, {"quota"},
	}
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no project", nil, "GCP_PROJECT is not set"},
		{"no zone, local provisioner", map[string]string{"GCP_PROJECT": testProject, "PROVISIONER": "local"}, "GCP_ZONE is not set"},
		{"no zone, gcp provisioner", map[string]string{"GCP_ZONE": ""}, "GCP_ZONE is not set"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mode := localMode
			if tc.name == "no zone, gcp provisioner" {
				mode = gcpMode
			}
			fx := setup(t, mode)
			if tc.env["GCP_PROJECT"] != "" {
				sm, err := secretstest.NewSecretManager(t.Cleanup)
				if err != nil {
					t.Fatal(err)
				}
				t.Setenv("GCP_SECRETMANAGER_ENDPOINT", sm.Addr)
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			for _, args := range cmds {
				out, errOut, code := run(t, args...)
				if code != 1 || !strings.Contains(errOut, tc.want) || out != "" {
					t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and %q", args, code, out, errOut, tc.want)
				}
			}
			if fx.compute != nil && len(fx.compute.CallLog()) != 0 {
				t.Errorf("Compute was called: %v", fx.compute.CallLog())
			}
		})
	}
}

func TestWorkshopsList(t *testing.T) {
	fx := setup(t, localMode)
	ctx := context.Background()
	base := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	fx.workshop(t, "w-oldest", "Intro to Go", store.StatusStopped, store.DesiredStopped, 10, base, nil)
	fx.workshop(t, "w-running", "Python basics", store.StatusRunning, store.DesiredRunning, 30, base.Add(1*time.Hour), func(w *store.Workshop) {
		w.AgentURL = "http://127.0.0.1:9"
	})
	fx.workshop(t, "w-broken", "Rust day", store.StatusError, store.DesiredRunning, 5, base.Add(2*time.Hour), func(w *store.Workshop) {
		w.StatusReason = "Creating the workshop machine: Quota 'CPUS' exceeded."
	})
	fx.workshop(t, "w-gone", "Old class", store.StatusDeleted, store.DesiredDeleted, 5, base.Add(3*time.Hour), nil)
	for _, email := range []string{"a@example.com", "b@example.com"} {
		if _, _, err := fx.st.Register(ctx, &store.Registration{WorkshopID: "w-running", Name: email, Email: email}); err != nil {
			t.Fatal(err)
		}
	}

	cases := []struct {
		name string
		args []string
		want []string // IDs, in order
		more string   // extra substring of the human output
	}{
		{"default", nil, []string{"w-broken", "w-running", "w-oldest"}, "Quota 'CPUS' exceeded."},
		{"all", []string{"--all"}, []string{"w-gone", "w-broken", "w-running", "w-oldest"}, ""},
		{"limit", []string{"--limit", "2"}, []string{"w-broken", "w-running"}, "(2 of 3 shown; --limit 0 shows all)"},
		{"status", []string{"--status", "running"}, []string{"w-running"}, "2/30"},
		{"status deleted", []string{"--status=deleted"}, []string{"w-gone"}, ""},
		{"none", []string{"--status", "provisioning"}, nil, "No workshops."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := mustRun(t, append([]string{"workshops", "list"}, tc.args...)...)
			var ids []string
			for _, line := range strings.Split(out, "\n")[1:] {
				if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "w-") {
					ids = append(ids, f[0])
				}
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("rows %v, want %v\n%s", ids, tc.want, out)
			}
			if len(tc.want) > 0 && !strings.HasPrefix(out, "ID ") {
				t.Errorf("no header:\n%s", out)
			}
			if !strings.Contains(out, tc.more) {
				t.Errorf("output lacks %q:\n%s", tc.more, out)
			}

			js := decode[struct {
				Workshops []workshopRow `json:"workshops"`
				Total     int           `json:"total"`
			}](t, mustRun(t, append([]string{"workshops", "list", "--json"}, tc.args...)...))
			var jids []string
			for _, w := range js.Workshops {
				jids = append(jids, w.ID)
			}
			if !slices.Equal(jids, tc.want) {
				t.Errorf("JSON rows %v, want %v", jids, tc.want)
			}
		})
	}

	js := decode[struct{ Workshops []map[string]any }](t, mustRun(t, "workshops", "list", "--json", "--status", "running"))
	w := js.Workshops[0]
	if w["seats_used"] != 2.0 || w["seats"] != 30.0 || w["name"] != "Python basics" || w["agent_url"] != "http://127.0.0.1:9" {
		t.Errorf("JSON workshop = %v", w)
	}
	if _, ok := w["agent_token"]; ok {
		t.Error("JSON output carries the agent token")
	}
	if row := rowOf(mustRun(t, "workshops", "list"), "w-running"); !slices.Contains(row, "2/30") || !slices.Contains(row, "running") {
		t.Errorf("running row = %v", row)
	}

	for _, bad := range [][]string{{"--status", "asleep"}, {"--limit", "-1"}} {
		if _, errOut, code := run(t, append([]string{"workshops", "list"}, bad...)...); code != 1 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q", bad, code, errOut)
		}
	}

	// A missing SQLite file is an error, not a new empty database.
	missing := filepath.Join(t.TempDir(), "nope.db")
	t.Setenv("DATABASE_URL", "sqlite:"+missing)
	if _, errOut, code := run(t, "workshops", "list"); code != 1 || !strings.Contains(errOut, "no database at "+missing) {
		t.Errorf("missing database: exit %d, stderr %q", code, errOut)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("workshops list created the missing database")
	}
}

func TestVMsList(t *testing.T) {
	fx := setup(t, gcpMode)
	c := fx.compute
	c.AddInstance(testProject, testZone, host("clarateach-fc-ws-bbb", "bbb", "n2-standard-8"))
	c.AddInstance(testProject, testZone, host("clarateach-fc-ws-aaa", "aaa", "n2-standard-4"))
	c.AddInstance(testProject, "europe-west1-c", host("clarateach-fc-ws-ccc", "ccc", "n2-standard-4"))
	c.AddInstance(testProject, testZone, &gcetest.Instance{Name: "clarateach-fc-ws-seed1", MachineType: "n2-standard-4"})
	c.AddInstance(testProject, testZone, &gcetest.Instance{Name: "clara-base", MachineType: "e2-small"})
	c.Preempt(testProject, testZone, "clarateach-fc-ws-bbb")
	aaa, _ := c.Instance(testProject, testZone, "clarateach-fc-ws-aaa")
	aaaIP := aaa.NetworkInterfaces[0].AccessConfigs[0].NatIP

	cases := []struct {
		args []string
		want []string
	}{
		{nil, []string{"clarateach-fc-ws-aaa", "clarateach-fc-ws-bbb", "clarateach-fc-ws-seed1"}},
		{[]string{"--all-zones"}, []string{"clarateach-fc-ws-ccc", "clarateach-fc-ws-aaa", "clarateach-fc-ws-bbb", "clarateach-fc-ws-seed1"}},
	}
	for _, tc := range cases {
		out := mustRun(t, append([]string{"vms", "list"}, tc.args...)...)
		var names []string
		for _, line := range strings.Split(out, "\n")[1:] {
			if f := strings.Fields(line); len(f) > 0 {
				names = append(names, f[0])
			}
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("vms list %v: %v, want %v\n%s", tc.args, names, tc.want, out)
		}
		js := decode[struct {
			Zone string
			VMs  []gce.VM
		}](t, mustRun(t, append([]string{"vms", "list", "--json"}, tc.args...)...))
		names = nil
		for _, vm := range js.VMs {
			names = append(names, vm.Name)
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("vms list --json %v: %v, want %v", tc.args, names, tc.want)
		}
	}

	out := mustRun(t, "vms", "list")
	if row := rowOf(out, "clarateach-fc-ws-aaa"); !slices.Equal(row[:6], []string{"clarateach-fc-ws-aaa", testZone, "RUNNING", "n2-standard-4", aaaIP, "aaa"}) {
		t.Errorf("aaa row = %v\n%s", row, out)
	}
	if row := rowOf(out, "clarateach-fc-ws-bbb"); row[2] != "TERMINATED" || !strings.Contains(out, "Instance was preempted.") {
		t.Errorf("preempted VM row = %v\n%s", row, out)
	}
	if row := rowOf(out, "clarateach-fc-ws-seed1"); row[5] != "seed1" {
		t.Errorf("unlabelled VM's workshop = %v", row)
	}
	js := decode[struct{ VMs []gce.VM }](t, mustRun(t, "vms", "list", "--json"))
	if v := js.VMs[0]; v.WorkshopID != "aaa" || v.ExternalIP != aaaIP || v.Zone != testZone || v.Created.IsZero() {
		t.Errorf("JSON VM = %+v", v)
	}

	c.DeleteInstance(testProject, testZone, "clarateach-fc-ws-aaa")
	c.DeleteInstance(testProject, testZone, "clarateach-fc-ws-bbb")
	c.DeleteInstance(testProject, testZone, "clarateach-fc-ws-seed1")
	if out := mustRun(t, "vms", "list"); !strings.Contains(out, "No workshop VMs in zone "+testZone) {
		t.Errorf("empty list: %q", out)
	}
	c.Inject(gcetest.Fault{Method: "instances.aggregatedList", Code: http.StatusForbidden, Reason: "forbidden", Message: "Required 'compute.instances.list' permission"})
	if _, errOut, code := run(t, "vms", "list"); code != 1 || !strings.Contains(errOut, "compute.instances.list") {
		t.Errorf("API error: exit %d, stderr %q", code, errOut)
	}
}

func TestSnapshots(t *testing.T) {
	fx := setup(t, gcpMode)
	c := fx.compute
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	// testSnap (FC_SNAPSHOT_NAME) is the oldest: prune must keep it anyway.
	snaps := []string{testSnap, "clarateach-snapshot-a", "clarateach-snapshot-b", "clara-manual", "clarateach-snapshot-c", "other-snap"}
	for i, name := range snaps {
		c.AddSnapshot(testProject, &gcetest.Snapshot{Name: name,
			CreationTimestamp: base.Add(time.Duration(i) * 24 * time.Hour).Format(time.RFC3339)})
	}

	out := mustRun(t, "snapshots", "list")
	var names []string
	for _, line := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	newestFirst := []string{"clarateach-snapshot-c", "clara-manual", "clarateach-snapshot-b", "clarateach-snapshot-a", testSnap}
	if !slices.Equal(names, newestFirst) {
		t.Errorf("snapshots list: %v, want %v\n%s", names, newestFirst, out)
	}
	if row := rowOf(out, testSnap); row[len(row)-1] != "FC_SNAPSHOT_NAME" {
		t.Errorf("in-use snapshot row = %v", row)
	}
	js := decode[struct {
		Snapshots []snapshotRow
	}](t, mustRun(t, "snapshots", "list", "--json", "--prefix", ""))
	if len(js.Snapshots) != 6 || !js.Snapshots[5].InUse || js.Snapshots[0].Name != "other-snap" {
		t.Errorf("snapshots list --json --prefix '': %+v", js.Snapshots)
	}

	// Dry run: reports, deletes nothing.
	out = mustRun(t, "snapshots", "prune", "--keep", "2", "--dry-run")
	for name, action := range map[string]string{
		"clarateach-snapshot-c": "keep", "clara-manual": "keep", testSnap: "keep",
		"clarateach-snapshot-b": "would", "clarateach-snapshot-a": "would",
	} {
		if row := strings.Fields(lineWith(out, name)); len(row) == 0 || row[0] != action {
			t.Errorf("prune --dry-run: %s row %v, want %s\n%s", name, row, action, out)
		}
	}
	if !strings.Contains(lineWith(out, testSnap), "in use (FC_SNAPSHOT_NAME)") || !strings.Contains(out, "Dry run: would delete 2 snapshots, keep 3.") {
		t.Errorf("prune --dry-run output:\n%s", out)
	}
	if got := len(c.Snapshots()); got != 6 {
		t.Fatalf("dry run deleted snapshots: %d left", got)
	}
	if c.Calls("snapshots.delete") != 0 {
		t.Fatal("dry run called snapshots.delete")
	}

	pr := decode[struct {
		DryRun  bool `json:"dry_run"`
		Kept    []gce.Snapshot
		Deleted []gce.Snapshot
	}](t, mustRun(t, "snapshots", "prune", "--keep", "3", "--json"))
	var deleted []string
	for _, s := range pr.Deleted {
		deleted = append(deleted, s.Name)
	}
	if pr.DryRun || !slices.Equal(deleted, []string{"clarateach-snapshot-a"}) || len(pr.Kept) != 4 {
		t.Errorf("prune --keep 3 --json: %+v", pr)
	}
	var left []string
	for _, s := range c.Snapshots() {
		left = append(left, s.Name)
	}
	if want := []string{"clara-manual", testSnap, "clarateach-snapshot-b", "clarateach-snapshot-c", "other-snap"}; !slices.Equal(left, want) {
		t.Errorf("after prune: %v, want %v", left, want)
	}
	out = mustRun(t, "snapshots", "prune", "--keep", "1", "--prefix", "clarateach-snapshot-")
	if !strings.Contains(out, "Deleted 1 snapshot, kept 2.") || !strings.HasPrefix(lineWith(out, "clarateach-snapshot-b"), "deleted") {
		t.Errorf("prune --keep 1 --prefix:\n%s", out)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"snapshots", "prune"}, "--keep N is required"},
		{[]string{"snapshots", "prune", "--keep", "0"}, "--keep N is required"},
		{[]string{"snapshots", "prune", "--keep", "2", "--prefix", ""}, "--prefix must not be empty"},
	} {
		if _, errOut, code := run(t, bad.args...); code != 1 || !strings.Contains(errOut, bad.want) {
			t.Errorf("%v: exit %d, stderr %q", bad.args, code, errOut)
		}
	}

	// create: stop, snapshot the boot disk, start again.
	c.AddInstance(testProject, testZone, &gcetest.Instance{Name: "clarateach-base", MachineType: "n2-standard-4",
		Disks: []*gcetest.AttachedDisk{{Boot: true, AutoDelete: true}}})
	out, errOut, code := run(t, "snapshots", "create", "--vm", "clarateach-base")
	if code != 0 || !regexp.MustCompile(`^FC_SNAPSHOT_NAME=clarateach-snapshot-\d{8}-\d{6}\n$`).MatchString(out) {
		t.Fatalf("snapshots create: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	made := strings.TrimSpace(strings.TrimPrefix(out, "FC_SNAPSHOT_NAME="))
	if !slices.ContainsFunc(c.Snapshots(), func(s *gcetest.Snapshot) bool { return s.Name == made && s.Status == "READY" }) {
		t.Errorf("snapshot %s not in the fake", made)
	}
	if in, _ := c.Instance(testProject, testZone, "clarateach-base"); in.Status != "RUNNING" || c.Calls("instances.stop") != 1 || c.Calls("instances.start") != 1 {
		t.Errorf("base VM %s after create (stop %d, start %d calls)", in.Status, c.Calls("instances.stop"), c.Calls("instances.start"))
	}
	cr := decode[map[string]any](t, mustRun(t, "snapshots", "create", "--vm", "clarateach-base", "--name", "clarateach-snapshot-manual", "--no-restart", "--json"))
	if cr["fc_snapshot_name"] != "clarateach-snapshot-manual" || cr["restarted"] != false || cr["zone"] != testZone {
		t.Errorf("create --json = %v", cr)
	}
	if in, _ := c.Instance(testProject, testZone, "clarateach-base"); in.Status != "TERMINATED" {
		t.Errorf("--no-restart left the VM %s", in.Status)
	}
	if _, errOut, code := run(t, "snapshots", "create", "--vm", "no-such-vm"); code != 1 || !strings.Contains(errOut, "get instance no-such-vm") {
		t.Errorf("create of a missing VM: exit %d, stderr %q", code, errOut)
	}
	if _, errOut, code := run(t, "snapshots", "create"); code != 1 || !strings.Contains(errOut, "--vm NAME is required") {
		t.Errorf("create without --vm: exit %d, stderr %q", code, errOut)
	}
}

func lineWith(out, s string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

func TestQuota(t *testing.T) {
	fx := setup(t, gcpMode)
	c := fx.compute
	c.SetRegionQuota("us-central1", "CPUS", 24, 4)
	c.SetRegionQuota("us-central1", "N2_CPUS", 24, 0)
	c.SetRegionQuota("us-central1", "INSTANCES", 100, 0)
	c.SetProjectQuota("CPUS_ALL_REGIONS", 32, 10)
	c.AddInstance(testProject, testZone, host("clarateach-fc-ws-aaa", "aaa", "n2-standard-8"))

	// region CPUS: 4 + 8 used of 24 → 12 free; N2_CPUS: the n2 VM's 8 of
	// 24 → 16; CPUS_ALL_REGIONS: 10 + 8 of 32 → 14.
	out := mustRun(t, "quota")
	for _, want := range [][]string{
		{"us-central1", "CPUS", "12", "24", "12"},
		{"us-central1", "N2_CPUS", "8", "24", "16"},
		{"project", "CPUS_ALL_REGIONS", "18", "32", "14"},
	} {
		if !strings.Contains(out, strings.Join(want, " ")) && !slices.Equal(strings.Fields(lineWith(out, " "+want[1]+" ")), want) {
			t.Errorf("quota lacks row %v:\n%s", want, out)
		}
	}
	if strings.Contains(out, "INSTANCES") {
		t.Errorf("non-CPU quota shown:\n%s", out)
	}
	if !strings.Contains(out, "CPU headroom in us-central1: 12 vCPUs. Room for 3 × n2-standard-4 (≤10 seats), or 1 × n2-standard-8 (11-20 seats), or 0 × n2-standard-16 (>20 seats) more workshop VMs.") {
		t.Errorf("quota summary:\n%s", out)
	}
	js := decode[struct {
		Region      string
		Quotas      []gce.QuotaLine
		CPUHeadroom float64   `json:"cpu_headroom"`
		Fits        []hostFit `json:"hosts_that_fit"`
	}](t, mustRun(t, "quota", "--json"))
	if js.Region != "us-central1" || js.CPUHeadroom != 12 || len(js.Quotas) != 3 || len(js.Fits) != 3 || js.Fits[0].More != 3 {
		t.Errorf("quota --json = %+v", js)
	}

	t.Setenv("GCP_MACHINE_TYPE", "n2-standard-2")
	if out := mustRun(t, "quota"); !strings.Contains(out, "6 × n2-standard-2 (GCP_MACHINE_TYPE)") {
		t.Errorf("configured machine type not shown:\n%s", out)
	}
	if _, errOut, code := run(t, "quota", "--region", "mars-north1"); code != 1 || !strings.Contains(errOut, "get region mars-north1") {
		t.Errorf("unknown region: exit %d, stderr %q", code, errOut)
	}
}

// ---------------------------------------------------------------------------
// agents: real agents with the process runtime and the real workspace daemon

// buildDaemon builds the workspace daemon for the process runtime.
func buildDaemon(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go tool to build the workspace daemon for a real agent")
	}
	bin := filepath.Join(t.TempDir(), "clarateach-workspace")
	cmd := exec.Command(goBin, "build", "-o", bin, "../../cmd/workspace")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build cmd/workspace: %v\n%s", err, out)
	}
	return bin
}

// startAgent serves a real agent on loopback; its seats are removed at the
// end of the test.
func startAgent(t *testing.T, daemon, tok string) (string, *agentclient.Client) {
	t.Helper()
	dir, err := os.MkdirTemp("", "opsag") // short: seats listen on unix sockets
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	rt, err := process.New(process.Config{DaemonCommand: []string{daemon}, BaseDir: filepath.Join(dir, "p"), Shell: "/bin/sh", Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{Listen: "127.0.0.1:0", Token: tok, StateDir: dir, Runtime: rt, Capacity: 7,
		WorkspaceSecret: []byte("test-workspace-secret-0123456789"), Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	ac := agentclient.New(srv.URL, tok, nil)
	t.Cleanup(func() {
		seats, _ := ac.ListSeats(context.Background())
		for _, s := range seats {
			_ = ac.DeleteSeat(context.Background(), s.WorkshopID, s.Seat)
		}
		srv.Close()
	})
	return srv.URL, ac
}

func seatKeys(t *testing.T, ac *agentclient.Client) []string {
	t.Helper()
	seats, err := ac.ListSeats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range seats {
		out = append(out, s.WorkshopID+"/"+strconv.Itoa(s.Seat))
	}
	slices.Sort(out)
	return out
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func deadURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u
}

func TestHealth(t *testing.T) {
	fx := setup(t, localMode)
	daemon := buildDaemon(t)
	url, ac := startAgent(t, daemon, "agent-token-1")
	if _, _, err := ac.CreateSeat(context.Background(), "w-live", 1, agentclient.SeatOptions{}); err != nil {
		t.Fatal(err)
	}
	dead := deadURL(t)

	// One agent by URL.
	out := mustRun(t, "health", url)
	row := rowOf(out, url)
	if len(row) < 7 || row[1] != "ok" || row[3] != "1" || row[4] != "7" || row[5] != "process" {
		t.Errorf("health %s: row %v\n%s", url, row, out)
	}
	js := decode[struct{ Agents []agentHealth }](t, mustRun(t, "health", "--json", url))
	if len(js.Agents) != 1 || !js.Agents[0].OK || js.Agents[0].Health.VMCount != 1 || js.Agents[0].Health.Capacity != 7 {
		t.Errorf("health --json = %+v", js)
	}
	// host:port without a scheme works too.
	mustRun(t, "health", strings.TrimPrefix(url, "http://"))

	// --seats lists the seats with the token (flag after the URL).
	out = mustRun(t, "health", url, "--seats", "--token", "agent-token-1")
	if !strings.Contains(out, "Seats on "+url) || len(strings.Fields(lineWith(out, "w-live"))) < 3 || strings.Fields(lineWith(out, "w-live"))[2] != "running" {
		t.Errorf("health --seats:\n%s", out)
	}
	out, errOut, code := run(t, "health", url, "--seats", "--token", "wrong")
	if code != 1 || !strings.Contains(out, "cannot list them") || !strings.Contains(errOut, "missing or wrong agent token") {
		t.Errorf("--seats with a wrong token: exit %d\n%s\n%s", code, out, errOut)
	}

	out, errOut, code = run(t, "health", dead)
	if code != 1 || rowOf(out, dead) == nil || rowOf(out, dead)[1] != "DOWN" || !strings.Contains(errOut, "connection refused") {
		t.Errorf("dead agent: exit %d\n%s\n%s", code, out, errOut)
	}
	if _, errOut, code := run(t, "health", "ftp://x"); code != 1 || !strings.Contains(errOut, "must look like http://HOST:9090") {
		t.Errorf("bad URL: exit %d, %q", code, errOut)
	}

	// Every running workshop's agent from the database.
	if out := mustRun(t, "health"); !strings.Contains(out, "No running workshops with an agent") {
		t.Errorf("empty database: %q", out)
	}
	now := time.Now()
	fx.workshop(t, "w-live", "Live", store.StatusRunning, store.DesiredRunning, 3, now, func(w *store.Workshop) {
		w.AgentURL, w.AgentToken = url, "agent-token-1"
	})
	fx.workshop(t, "w-lost", "Lost", store.StatusRunning, store.DesiredRunning, 2, now.Add(time.Second), func(w *store.Workshop) {
		w.AgentURL, w.AgentToken = dead, "x"
	})
	fx.workshop(t, "w-stopped", "Stopped", store.StatusStopped, store.DesiredStopped, 2, now.Add(2*time.Second), nil)

	out, errOut, code = run(t, "health", "--seats")
	if code != 1 || !strings.Contains(errOut, "1 of 2 agents") && !strings.Contains(errOut, dead) {
		t.Errorf("database mode: exit %d, stderr %q", code, errOut)
	}
	if row := rowOf(out, "w-live"); len(row) < 6 || row[4] != "ok" || row[6] != "1" {
		t.Errorf("w-live row %v\n%s", row, out)
	}
	if row := rowOf(out, "w-lost"); len(row) < 6 || row[4] != "DOWN" || !strings.HasSuffix(out[:strings.Index(out, "w-live")], "connect: connection refused\n") {
		t.Errorf("w-lost row %v\n%s", row, out)
	}
	if rowOf(out, "w-stopped") != nil {
		t.Errorf("stopped workshop checked:\n%s", out)
	}
	js = decode[struct{ Agents []agentHealth }](t, func() string { o, _, _ := run(t, "health", "--json"); return o }())
	byID := map[string]agentHealth{}
	for _, a := range js.Agents {
		byID[a.WorkshopID] = a
	}
	if live, lost := byID["w-live"], byID["w-lost"]; len(js.Agents) != 2 || !live.OK || live.Health.VMCount != 1 || live.Seats != 3 || lost.OK || !strings.Contains(lost.Error, "connection refused") {
		t.Errorf("database mode --json = %+v", js.Agents)
	}
}

func TestGC(t *testing.T) {
	fx := setup(t, gcpMode)
	c := fx.compute
	daemon := buildDaemon(t)
	url, ac := startAgent(t, daemon, "agent-token-a")
	now := time.Now()

	// live: running with 2 seats; its VM and seats 1-2 stay, seat 5 goes.
	fx.workshop(t, "live", "Live", store.StatusRunning, store.DesiredRunning, 2, now, func(w *store.Workshop) {
		w.AgentURL, w.AgentToken = url, "agent-token-a"
	})
	fx.workshop(t, "stopping", "Stopping", store.StatusStopping, store.DesiredStopped, 2, now, nil) // being torn down: kept
	fx.workshop(t, "done", "Done", store.StatusStopped, store.DesiredStopped, 2, now, nil)          // stopped: its VM goes
	fx.workshop(t, "bin", "Binned", store.StatusDeleted, store.DesiredDeleted, 2, now, nil)         // deleted: its seat goes
	c.AddInstance(testProject, testZone, host("clarateach-fc-ws-live", "live", "n2-standard-4"))
	c.AddInstance(testProject, testZone, host("clarateach-fc-ws-stopping", "stopping", "n2-standard-4"))
	c.AddInstance(testProject, "europe-west1-c", host("clarateach-fc-ws-done", "done", "n2-standard-4"))
	c.AddInstance(testProject, testZone, host("clarateach-fc-ws-ghost", "ghost", "n2-standard-4")) // no such workshop
	c.AddInstance(testProject, testZone, &gcetest.Instance{Name: "clarateach-fc-ws-unlabelled", MachineType: "n2-standard-4"})
	for _, s := range []struct {
		ws   string
		seat int
	}{{"live", 1}, {"live", 2}, {"live", 5}, {"bin", 1}} {
		if _, _, err := ac.CreateSeat(context.Background(), s.ws, s.seat, agentclient.SeatOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	allVMs := instanceNames(c)
	allSeats := []string{"bin/1", "live/1", "live/2", "live/5"}

	// Dry run: the report, nothing deleted.
	out := mustRun(t, "gc", "--dry-run")
	for name, why := range map[string]string{
		"clarateach-fc-ws-done":  "workshop is stopped (wanted stopped)",
		"clarateach-fc-ws-ghost": "no such workshop",
	} {
		if l := lineWith(out, name); !strings.Contains(l, why) || !strings.Contains(l, "would delete") {
			t.Errorf("gc --dry-run: %s line %q, want %q\n%s", name, l, why, out)
		}
	}
	for _, keep := range []string{"clarateach-fc-ws-live", "clarateach-fc-ws-stopping", "clarateach-fc-ws-unlabelled"} {
		if strings.Contains(out, keep) {
			t.Errorf("gc --dry-run lists %s:\n%s", keep, out)
		}
	}
	if l := lineWith(out, url+"  live"); !strings.Contains(l, "5") || !strings.Contains(l, "workshop has 2 seats") {
		t.Errorf("seat live/5 line %q\n%s", l, out)
	}
	if l := lineWith(out, url+"  bin"); !strings.Contains(l, "workshop is deleted (wanted deleted)") {
		t.Errorf("seat bin/1 line %q\n%s", l, out)
	}
	if !strings.Contains(out, "Dry run: nothing was deleted.") {
		t.Errorf("no dry-run note:\n%s", out)
	}
	if got := instanceNames(c); !slices.Equal(got, allVMs) || c.Calls("instances.delete") != 0 {
		t.Fatalf("dry run deleted VMs: %v", got)
	}
	if got := seatKeys(t, ac); !slices.Equal(got, allSeats) {
		t.Fatalf("dry run deleted seats: %v", got)
	}
	rep := decode[gcReport](t, mustRun(t, "gc", "--dry-run", "--json"))
	if !rep.DryRun || rep.VMsChecked != 4 || len(rep.VMs) != 2 || len(rep.Seats) != 2 || rep.SeatsChecked != 4 || rep.AgentsSeen != 1 {
		t.Errorf("gc --dry-run --json = %+v", rep)
	}
	for _, v := range rep.VMs {
		if v.Deleted {
			t.Errorf("dry run reports %s deleted", v.Name)
		}
	}

	// --no-seats: VMs only.
	rep = decode[gcReport](t, mustRun(t, "gc", "--dry-run", "--no-seats", "--json"))
	if len(rep.VMs) != 2 || len(rep.Seats) != 0 || rep.AgentsSeen != 0 || len(rep.Notes) != 1 {
		t.Errorf("gc --no-seats = %+v", rep)
	}

	// The real thing.
	rep = decode[gcReport](t, mustRun(t, "gc", "--json"))
	if len(rep.VMs) != 2 || len(rep.Seats) != 2 || len(rep.Errors) != 0 {
		t.Errorf("gc --json = %+v", rep)
	}
	for _, v := range rep.VMs {
		if !v.Deleted {
			t.Errorf("gc did not delete %+v", v)
		}
	}
	if got, want := instanceNames(c), []string{"clarateach-fc-ws-live", "clarateach-fc-ws-stopping", "clarateach-fc-ws-unlabelled"}; !slices.Equal(got, want) {
		t.Errorf("VMs after gc: %v, want %v", got, want)
	}
	if got, want := seatKeys(t, ac), []string{"live/1", "live/2"}; !slices.Equal(got, want) {
		t.Errorf("seats after gc: %v, want %v", got, want)
	}
	out = mustRun(t, "gc")
	if !strings.Contains(out, "No orphaned workshop VMs (2 VMs checked).") || !strings.Contains(out, "No orphaned seats (2 seats on 1 agent checked).") {
		t.Errorf("second gc:\n%s", out)
	}

	// A failing delete is reported and fails the command.
	c.AddInstance(testProject, testZone, host("clarateach-fc-ws-ghost2", "ghost2", "n2-standard-4"))
	c.Inject(gcetest.Fault{Method: "instances.delete", Code: http.StatusForbidden, Reason: "forbidden", Message: "Required 'compute.instances.delete' permission"})
	out, errOut, code := run(t, "gc", "--no-seats")
	if code != 1 || !strings.Contains(lineWith(out, "clarateach-fc-ws-ghost2"), "FAILED") || !strings.Contains(errOut, "garbage collection incomplete") || !strings.Contains(errOut, "compute.instances.delete") {
		t.Errorf("failing delete: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestGCLocal(t *testing.T) {
	fx := setup(t, localMode)
	daemon := buildDaemon(t)
	url, ac := startAgent(t, daemon, "agent-token-l")
	fx.workshop(t, "here", "Here", store.StatusRunning, store.DesiredRunning, 1, time.Now(), func(w *store.Workshop) {
		w.AgentURL, w.AgentToken = url, "agent-token-l"
	})
	for _, seat := range []int{1, 2} {
		if _, _, err := ac.CreateSeat(context.Background(), "here", seat, agentclient.SeatOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	out := mustRun(t, "gc")
	if strings.Contains(out, "workshop VMs") || !strings.Contains(out, "Note: local provisioner") || !strings.Contains(lineWith(out, "here"), "deleted") {
		t.Errorf("local gc:\n%s", out)
	}
	if got := seatKeys(t, ac); !slices.Equal(got, []string{"here/1"}) {
		t.Errorf("seats after local gc: %v", got)
	}

	// An agent that does not answer fails the run, with a hint.
	dead := deadURL(t)
	fx.workshop(t, "away", "Away", store.StatusRunning, store.DesiredRunning, 1, time.Now(), func(w *store.Workshop) {
		w.AgentURL, w.AgentToken = dead, "x"
	})
	out, errOut, code := run(t, "gc")
	if code != 1 || !strings.Contains(errOut, "garbage collection incomplete: list seats on "+dead) || !strings.Contains(out, "run with --no-seats") {
		t.Errorf("unreachable agent: exit %d\n%s\n%s", code, out, errOut)
	}
	if out := mustRun(t, "gc", "--no-seats"); !strings.Contains(out, "seats were not checked (--no-seats)") {
		t.Errorf("gc --no-seats (local):\n%s", out)
	}
}

func TestWorkshopsPurge(t *testing.T) {
	fx := setup(t, localMode)
	ctx := context.Background()
	old := time.Now().Add(-10 * 24 * time.Hour).UTC()
	fx.workshop(t, "pa-olddel", "Old class", store.StatusDeleted, store.DesiredDeleted, 5, old, nil)
	fx.workshop(t, "pb-newdel", "Last week's", store.StatusDeleted, store.DesiredDeleted, 5, time.Now().Add(-time.Hour).UTC(), nil)
	fx.workshop(t, "pc-oldrun", "Still going", store.StatusRunning, store.DesiredRunning, 5, old, nil)
	fx.workshop(t, "pd-oldstop", "Tearing down", store.StatusStopping, store.DesiredDeleted, 5, old, nil)
	reg, _, err := fx.st.Register(ctx, &store.Registration{WorkshopID: "pa-olddel", Name: "L", Email: "l@example.com"})
	if err != nil {
		t.Fatal(err)
	}

	out := mustRun(t, "workshops", "purge", "--dry-run")
	if !strings.Contains(out, "pa-olddel") || !strings.Contains(out, "would purge") || strings.Contains(out, "pb-newdel") ||
		strings.Contains(out, "pc-oldrun") || strings.Contains(out, "pd-oldstop") {
		t.Fatalf("dry run output:\n%s", out)
	}
	if _, err := fx.st.GetWorkshop(ctx, "pa-olddel"); err != nil {
		t.Fatalf("a dry run removed the workshop: %v", err)
	}

	var res struct {
		Workshops []struct{ ID, Result string } `json:"workshops"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "workshops", "purge", "--json")), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Workshops) != 1 || res.Workshops[0].ID != "pa-olddel" || res.Workshops[0].Result != "purged" {
		t.Fatalf("purge: %+v", res)
	}
	if _, err := fx.st.GetWorkshop(ctx, "pa-olddel"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("purged workshop still there: %v", err)
	}
	if _, err := fx.st.GetRegistration(ctx, reg.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the purged workshop's registration is still there: %v", err)
	}
	for _, id := range []string{"pb-newdel", "pc-oldrun", "pd-oldstop"} {
		if _, err := fx.st.GetWorkshop(ctx, id); err != nil {
			t.Fatalf("%s was removed: %v", id, err)
		}
	}
	if out := mustRun(t, "workshops", "purge", "--older-than", "0s"); !strings.Contains(out, "pb-newdel") {
		t.Fatalf("--older-than 0s should purge every deleted workshop:\n%s", out)
	}
}
