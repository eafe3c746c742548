// Package gcetest holds a wire-level fake of Compute Engine, so that the
// production client (package gce, the Compute Engine v1 REST API over
// net/http) is the code under test: Compute is an httptest server speaking
// that API (instances, zone and global operations, disks, snapshots,
// regions, projects) with realistic JSON, operations and error bodies. Its
// resource types (wire.go) are its own, not the client's. (Secret
// Manager's fake is secrets/secretstest.)
//
// It is a regular (non-test) package so any package's tests can use it.
package gcetest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Base is the URL prefix of every resource link the fake hands out, like the
// real API's "https://www.googleapis.com/compute/v1/".
const Base = "https://www.googleapis.com/compute/v1/"

// Fault is an error the fake answers with instead of doing the work.
type Fault struct {
	// Method is the API method, e.g. "instances.insert", "instances.get",
	// "zoneOperations.wait", "snapshots.list", "regions.get".
	Method string
	// Times is how many calls fail (0 means 1; -1 means every call).
	Times int
	// Code is the HTTP status (sync faults) or the operation's
	// httpErrorStatusCode (async faults).
	Code int
	// Reason is the error reason ("quotaExceeded", "backendError") for sync
	// faults, or the operation error code ("ZONE_RESOURCE_POOL_EXHAUSTED")
	// for async faults.
	Reason  string
	Message string
	// Async makes the call itself succeed and its operation finish DONE
	// with this error (the way GCE reports stockouts). Only for methods that
	// return an operation.
	Async bool
}

// QuotaExceeded is the synchronous 403 GCE answers an insert with when the
// region's CPUS quota would be exceeded.
func QuotaExceeded(region string, limit float64) Fault {
	f := quotaFault("CPUS", "in region "+region, limit)
	f.Async, f.Reason = false, "quotaExceeded"
	return f
}

// quotaFault is the QUOTA_EXCEEDED an insert's operation ends with (how GCE
// often reports a quota error) for metric, where is "in region
// us-central1", or "globally" for the project's. The fake raises it by
// itself when a region's CPUS or machine family quota (SetRegionQuota) or
// the project's CPUS_ALL_REGIONS (SetProjectQuota) would be exceeded.
func quotaFault(metric, where string, limit float64) Fault {
	return Fault{
		Method:  "instances.insert",
		Async:   true,
		Code:    http.StatusForbidden,
		Reason:  "QUOTA_EXCEEDED",
		Message: fmt.Sprintf("Quota '%s' exceeded.  Limit: %.1f %s.", metric, limit, where),
	}
}

// Stockout is the asynchronous operation error GCE reports when a zone has no
// capacity for the machine type.
func Stockout(zone string) Fault {
	return Fault{
		Method:  "instances.insert",
		Async:   true,
		Code:    http.StatusServiceUnavailable,
		Reason:  "ZONE_RESOURCE_POOL_EXHAUSTED",
		Message: fmt.Sprintf("The zone 'projects/p/zones/%s' does not have enough resources available to fulfill the request.  Try a different zone, or try again later.", zone),
	}
}

// Call is one recorded API call.
type Call struct {
	Method string // API method, e.g. "instances.insert"
	Path   string // URL path
	Query  string // raw query
	Body   []byte // request body (JSON), if any
}

type quota struct{ limit, usage float64 }

type fakeOp struct {
	res      *Operation
	polls    int           // gets seen
	onDone   func()        // effect applied when the op reaches DONE
	fail     *Fault        // async failure
	doneCh   chan struct{} // closed at DONE
	scopeKey string        // "zones/Z" or "global"
}

// Compute is a fake Compute Engine REST server. The zero value is not usable;
// call NewCompute.
type Compute struct {
	// URL is the endpoint to give the client (GCP_COMPUTE_ENDPOINT).
	URL string

	srv *httptest.Server

	mu          sync.Mutex
	now         func() time.Time
	nextID      uint64
	nextIP      int
	instances   map[string]*Instance // key project/zone/name
	disks       map[string]*Disk     // key project/zone/name
	snapshots   map[string]*Snapshot // key project/name
	ops         map[string]*fakeOp   // key project/scope/name
	faults      []*Fault
	calls       []Call
	regionQ     map[string]map[string]*quota // region -> metric -> quota
	projectQ    map[string]*quota            // metric -> quota
	held        chan struct{}                // non-nil: operations do not finish until closed
	pollsToDone int
	waitTimeout time.Duration
	pageSize    int // list page size when the call gives no maxResults
}

// NewCompute starts a fake Compute Engine server; it is closed by t.Cleanup
// when cleanup is non-nil (pass t.Cleanup), otherwise call Close.
func NewCompute(cleanup func(func())) *Compute {
	c := &Compute{
		now:         time.Now,
		nextID:      1000,
		instances:   map[string]*Instance{},
		disks:       map[string]*Disk{},
		snapshots:   map[string]*Snapshot{},
		ops:         map[string]*fakeOp{},
		regionQ:     map[string]map[string]*quota{},
		projectQ:    map[string]*quota{},
		pollsToDone: 2,
		waitTimeout: 30 * time.Second,
		pageSize:    500,
	}
	c.srv = httptest.NewServer(c.routes())
	c.URL = c.srv.URL
	if cleanup != nil {
		cleanup(c.Close)
	}
	return c
}

// Close stops the server.
func (c *Compute) Close() {
	c.mu.Lock()
	if c.held != nil {
		close(c.held)
		c.held = nil
	}
	c.mu.Unlock()
	c.srv.CloseClientConnections()
	c.srv.Close()
}

// SetPollsToDone sets how many operations.get calls an operation needs to
// reach DONE (PENDING → RUNNING → DONE takes 2, the default). 0 makes every
// operation DONE in the response that creates it.
func (c *Compute) SetPollsToDone(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pollsToDone = n
}

// SetPageSize sets how many items a list page holds when the call does not
// say (maxResults); the real API's default is 500.
func (c *Compute) SetPageSize(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pageSize = max(n, 1)
}

// SetWaitTimeout sets how long operations.wait blocks on an operation that
// cannot finish (held) before answering with its current status, as the real
// API does after about two minutes. Default 30s.
func (c *Compute) SetWaitTimeout(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waitTimeout = d
}

// HoldOperations keeps every operation from reaching DONE (they stay
// RUNNING) until the returned release function is called. Release finishes
// every pending operation at once: in the real cloud an operation completes
// on its own, whether or not anyone is still polling it (a control plane
// that died mid-insert does not stop the insert).
func (c *Compute) HoldOperations() (release func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held == nil {
		c.held = make(chan struct{})
	}
	ch := c.held
	return func() {
		c.mu.Lock()
		if c.held == ch {
			c.held = nil
			close(ch)
			for _, op := range c.ops {
				c.finishLocked(op)
			}
		}
		c.mu.Unlock()
	}
}

// CompleteOperations finishes every pending operation now (unless held).
func (c *Compute) CompleteOperations() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held != nil {
		return
	}
	for _, op := range c.ops {
		c.finishLocked(op)
	}
}

// Inject adds a fault.
func (c *Compute) Inject(f Fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.Times == 0 {
		f.Times = 1
	}
	c.faults = append(c.faults, &f)
}

// ClearFaults removes every pending fault.
func (c *Compute) ClearFaults() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = nil
}

// SetRegionQuota sets a region quota (e.g. "us-central1", "CPUS", 24). For
// CPUS the reported usage is baseUsage plus the vCPUs of the region's
// instances that are not TERMINATED, and inserts beyond the limit fail: their
// operation ends with QUOTA_EXCEEDED (httpErrorStatusCode 403).
func (c *Compute) SetRegionQuota(region, metric string, limit, baseUsage float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.regionQ[region] == nil {
		c.regionQ[region] = map[string]*quota{}
	}
	c.regionQ[region][metric] = &quota{limit: limit, usage: baseUsage}
}

// SetProjectQuota sets a project-wide quota (e.g. "CPUS_ALL_REGIONS").
// CPUS_ALL_REGIONS usage adds the vCPUs of every instance not TERMINATED.
func (c *Compute) SetProjectQuota(metric string, limit, baseUsage float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.projectQ[metric] = &quota{limit: limit, usage: baseUsage}
}

// Calls returns how many times method was called (faulted calls included).
func (c *Compute) Calls(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, cl := range c.calls {
		if cl.Method == method {
			n++
		}
	}
	return n
}

// CallLog returns every recorded call, in order.
func (c *Compute) CallLog() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

// InsertRequests returns the instance bodies of every instances.insert call,
// decoded, in order (including rejected ones).
func (c *Compute) InsertRequests() []*Instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Instance
	for _, cl := range c.calls {
		if cl.Method != "instances.insert" {
			continue
		}
		in := &Instance{}
		if err := json.Unmarshal(cl.Body, in); err == nil {
			out = append(out, in)
		}
	}
	return out
}

// Instances returns copies of every current instance, sorted by name.
func (c *Compute) Instances() []*Instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Instance, 0, len(c.instances))
	for _, in := range c.instances {
		out = append(out, clone(in))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Instance returns a copy of one instance.
func (c *Compute) Instance(project, zone, name string) (*Instance, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in, ok := c.instances[project+"/"+zone+"/"+name]
	if !ok {
		return nil, false
	}
	return clone(in), true
}

// AddInstance stores an instance as if it had been created long ago
// (status RUNNING unless set, IPs assigned). Name and zone are required.
func (c *Compute) AddInstance(project, zone string, in *Instance) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in = clone(in)
	c.fillInstanceLocked(project, zone, in)
	if in.Status == "" {
		c.startLocked(in)
	}
	c.instances[project+"/"+zone+"/"+in.Name] = in
	for _, d := range in.Disks {
		c.createDiskLocked(project, zone, in, d)
	}
}

// DeleteInstance removes an instance behind the client's back (and its
// auto-delete disks). It reports whether it existed.
func (c *Compute) DeleteInstance(project, zone, name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.removeInstanceLocked(project, zone, name)
}

// Preempt simulates a Spot preemption: the instance stops (status
// TERMINATED, external IP released) or, when its instanceTerminationAction
// is DELETE, disappears. It reports whether the instance existed.
func (c *Compute) Preempt(project, zone, name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	in, ok := c.instances[project+"/"+zone+"/"+name]
	if !ok {
		return false
	}
	if in.Scheduling != nil && in.Scheduling.InstanceTerminationAction == "DELETE" {
		return c.removeInstanceLocked(project, zone, name)
	}
	c.stopLocked(in)
	in.StatusMessage = "Instance was preempted."
	return true
}

// AddSnapshot stores a snapshot. Name is required; creationTimestamp
// defaults to now.
func (c *Compute) AddSnapshot(project string, s *Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s = clone(s)
	c.fillSnapshotLocked(project, s)
	c.snapshots[project+"/"+s.Name] = s
}

// Snapshots returns copies of every snapshot, sorted by name.
func (c *Compute) Snapshots() []*Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Snapshot, 0, len(c.snapshots))
	for _, s := range c.snapshots {
		out = append(out, clone(s))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Disk returns a copy of a disk.
func (c *Compute) Disk(project, zone, name string) (*Disk, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.disks[project+"/"+zone+"/"+name]
	if !ok {
		return nil, false
	}
	return clone(d), true
}

// Operations returns copies of every operation the fake has created.
func (c *Compute) Operations() []*Operation {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Operation, 0, len(c.ops))
	for _, op := range c.ops {
		out = append(out, clone(op.res))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ---------------------------------------------------------------------------
// HTTP

const prefix = "/compute/v1/projects/{project}"

func (c *Compute) routes() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern, method string, fn func(w http.ResponseWriter, r *http.Request) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil {
				writeError(w, http.StatusBadRequest, "invalid", err.Error())
				return
			}
			c.mu.Lock()
			c.calls = append(c.calls, Call{Method: method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: body})
			f := c.takeFaultLocked(method, false)
			c.mu.Unlock()
			if f != nil {
				writeError(w, f.Code, f.Reason, f.Message)
				return
			}
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			if err := fn(w, r); err != nil {
				if ae, ok := err.(*apiErr); ok {
					writeError(w, ae.code, ae.reason, ae.msg)
					return
				}
				writeError(w, http.StatusInternalServerError, "backendError", err.Error())
			}
		})
	}
	h("POST "+prefix+"/zones/{zone}/instances", "instances.insert", c.insertInstance)
	h("GET "+prefix+"/zones/{zone}/instances", "instances.list", c.listInstances)
	h("GET "+prefix+"/aggregated/instances", "instances.aggregatedList", c.aggregatedInstances)
	h("GET "+prefix+"/zones/{zone}/instances/{name}", "instances.get", c.getInstance)
	h("DELETE "+prefix+"/zones/{zone}/instances/{name}", "instances.delete", c.deleteInstance)
	h("POST "+prefix+"/zones/{zone}/instances/{name}/stop", "instances.stop", c.stopInstance)
	h("POST "+prefix+"/zones/{zone}/instances/{name}/start", "instances.start", c.startInstance)
	h("GET "+prefix+"/zones/{zone}/disks/{name}", "disks.get", c.getDisk)
	h("GET "+prefix+"/zones/{zone}/operations/{op}", "zoneOperations.get", c.getOp("zones/"))
	h("POST "+prefix+"/zones/{zone}/operations/{op}/wait", "zoneOperations.wait", c.waitOp("zones/"))
	h("GET "+prefix+"/global/operations/{op}", "globalOperations.get", c.getOp(""))
	h("POST "+prefix+"/global/operations/{op}/wait", "globalOperations.wait", c.waitOp(""))
	h("GET "+prefix+"/global/snapshots", "snapshots.list", c.listSnapshots)
	h("POST "+prefix+"/global/snapshots", "snapshots.insert", c.insertSnapshot)
	h("GET "+prefix+"/global/snapshots/{name}", "snapshots.get", c.getSnapshot)
	h("DELETE "+prefix+"/global/snapshots/{name}", "snapshots.delete", c.deleteSnapshot)
	h("GET "+prefix+"/regions/{region}", "regions.get", c.getRegion)
	h("GET "+prefix, "projects.get", c.getProject)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "notFound", "fake compute: no route for "+r.Method+" "+r.URL.Path)
	})
	return mux
}

type apiErr struct {
	code   int
	reason string
	msg    string
}

func (e *apiErr) Error() string { return e.msg }

func notFound(link string) error {
	return &apiErr{http.StatusNotFound, "notFound", fmt.Sprintf("The resource '%s' was not found", link)}
}

func badRequest(reason, format string, args ...any) error {
	return &apiErr{http.StatusBadRequest, reason, fmt.Sprintf(format, args...)}
}

// writeError writes the Google API error body the client parses.
func writeError(w http.ResponseWriter, code int, reason, msg string) {
	if code == 0 {
		code = http.StatusInternalServerError
	}
	if reason == "" {
		reason = "backendError"
	}
	domain := "global"
	if reason == "quotaExceeded" || reason == "rateLimitExceeded" {
		domain = "usageLimits"
	}
	body := map[string]any{"error": map[string]any{
		"code":    code,
		"message": msg,
		"errors":  []map[string]string{{"message": msg, "domain": domain, "reason": reason}},
	}}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func writeJSON(w http.ResponseWriter, m any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, err = w.Write(b)
	return err
}

func (c *Compute) takeFaultLocked(method string, async bool) *Fault {
	for i, f := range c.faults {
		if f.Method != method || f.Async != async {
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				c.faults = append(c.faults[:i], c.faults[i+1:]...)
			}
		}
		cp := *f
		return &cp
	}
	return nil
}

func (c *Compute) ts() string {
	return c.now().Format("2006-01-02T15:04:05.000-07:00")
}

func (c *Compute) id() uint64 {
	c.nextID++
	return c.nextID
}

// ---------------------------------------------------------------------------
// instances

var nameRE = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)
var labelKeyRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
var labelValRE = regexp.MustCompile(`^[a-z0-9_-]{0,63}$`)

func (c *Compute) insertInstance(w http.ResponseWriter, r *http.Request) error {
	project, zone := r.PathValue("project"), r.PathValue("zone")
	body, _ := io.ReadAll(r.Body)
	in := &Instance{}
	if err := decodeStrict(body, in); err != nil {
		return badRequest("parseError", "Invalid JSON payload received. %v", err)
	}
	if !nameRE.MatchString(in.Name) {
		return badRequest("invalid", "Invalid value for field 'resource.name': '%s'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'", in.Name)
	}
	for k, v := range in.Labels {
		if !labelKeyRE.MatchString(k) || !labelValRE.MatchString(v) {
			return badRequest("invalid", "Invalid value for field 'resource.labels': '%s=%s'", k, v)
		}
	}
	if in.MachineType == "" {
		return badRequest("required", "Invalid value for field 'resource.machineType': ''. Machine type must be specified.")
	}
	if len(in.Disks) == 0 {
		return badRequest("required", "Invalid value for field 'resource.disks': ''. At least one disk must be specified.")
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	key := project + "/" + zone + "/" + in.Name
	link := fmt.Sprintf("projects/%s/zones/%s/instances/%s", project, zone, in.Name)
	if _, ok := c.instances[key]; ok {
		return &apiErr{http.StatusConflict, "alreadyExists", fmt.Sprintf("The resource '%s' already exists", link)}
	}
	// Boot disk from a snapshot must name an existing snapshot.
	for _, d := range in.Disks {
		if s := initParams(d).SourceSnapshot; s != "" {
			if _, ok := c.snapshots[project+"/"+lastSegment(s)]; !ok {
				return notFound(fmt.Sprintf("projects/%s/global/snapshots/%s", project, lastSegment(s)))
			}
		}
	}
	// Quota is checked when the insert runs: the operation fails with
	// QUOTA_EXCEEDED (what Terraform reports as "Error waiting for instance
	// to create: Quota 'CPUS' exceeded").
	quotaFail := c.quotaFailLocked(regionOf(zone), in.MachineType)
	c.fillInstanceLocked(project, zone, in)
	in.Status = "PROVISIONING"
	c.instances[key] = in
	for _, d := range in.Disks {
		c.createDiskLocked(project, zone, in, d)
	}
	fail := c.takeFaultLocked("instances.insert", true)
	if fail == nil {
		fail = quotaFail
	}
	op := c.newOpLocked(project, "zones/"+zone, "insert", in.SelfLink, in.ID, fail, func() {
		if cur, ok := c.instances[key]; ok && cur == in {
			c.startLocked(in)
		}
	})
	if fail != nil {
		// A failed insert leaves nothing behind.
		op.onDone = func() { c.removeInstanceLocked(project, zone, in.Name) }
	}
	return writeJSON(w, op.res)
}

func (c *Compute) fillInstanceLocked(project, zone string, in *Instance) {
	in.ID = c.id()
	in.Kind = "compute#instance"
	in.CreationTimestamp = c.ts()
	in.Zone = Base + fmt.Sprintf("projects/%s/zones/%s", project, zone)
	in.SelfLink = Base + fmt.Sprintf("projects/%s/zones/%s/instances/%s", project, zone, in.Name)
	if mt := in.MachineType; mt != "" && !strings.HasPrefix(mt, "https://") {
		in.MachineType = Base + fmt.Sprintf("projects/%s/zones/%s/machineTypes/%s", project, zone, lastSegment(mt))
	}
	if len(in.NetworkInterfaces) == 0 {
		in.NetworkInterfaces = []*NetworkInterface{{}}
	}
	for i, ni := range in.NetworkInterfaces {
		ni.Name = fmt.Sprintf("nic%d", i)
		if ni.Network == "" {
			ni.Network = "global/networks/default"
		}
		ni.Network = Base + "projects/" + project + "/" + strings.TrimPrefix(ni.Network, "projects/"+project+"/")
		c.nextIP++
		ni.NetworkIP = fmt.Sprintf("10.128.%d.%d", c.nextIP/250, c.nextIP%250+2)
		for _, ac := range ni.AccessConfigs {
			if ac.Name == "" {
				ac.Name = "External NAT"
			}
			if ac.Type == "" {
				ac.Type = "ONE_TO_ONE_NAT"
			}
			ac.Kind = "compute#accessConfig"
		}
	}
	for i, d := range in.Disks {
		d.Index = i
		d.Kind = "compute#attachedDisk"
		if d.Type == "" {
			d.Type = "PERSISTENT"
		}
		if d.Mode == "" {
			d.Mode = "READ_WRITE"
		}
		name := initParams(d).DiskName
		if name == "" {
			name = in.Name
			if i > 0 {
				name = fmt.Sprintf("%s-%d", in.Name, i)
			}
		}
		if d.Source == "" {
			d.Source = Base + fmt.Sprintf("projects/%s/zones/%s/disks/%s", project, zone, name)
		}
		if d.DeviceName == "" {
			d.DeviceName = lastSegment(d.Source)
		}
	}
	if in.Metadata != nil {
		in.Metadata.Kind = "compute#metadata"
		in.Metadata.Fingerprint = fmt.Sprintf("fp%d", in.ID)
	}
	if in.Tags != nil {
		in.Tags.Fingerprint = fmt.Sprintf("tfp%d", in.ID)
	}
}

func (c *Compute) createDiskLocked(project, zone string, in *Instance, ad *AttachedDisk) {
	name := lastSegment(ad.Source)
	key := project + "/" + zone + "/" + name
	if _, ok := c.disks[key]; ok {
		c.disks[key].Users = append(c.disks[key].Users, in.SelfLink)
		return
	}
	ip := initParams(ad)
	d := &Disk{
		ID:                c.id(),
		Kind:              "compute#disk",
		Name:              name,
		CreationTimestamp: c.ts(),
		Zone:              Base + fmt.Sprintf("projects/%s/zones/%s", project, zone),
		SelfLink:          ad.Source,
		Status:            "READY",
		SizeGb:            max(ip.DiskSizeGb, 10),
		Users:             []string{in.SelfLink},
	}
	if s := ip.SourceSnapshot; s != "" {
		d.SourceSnapshot = Base + fmt.Sprintf("projects/%s/global/snapshots/%s", project, lastSegment(s))
	}
	if t := ip.DiskType; t != "" {
		d.Type = Base + fmt.Sprintf("projects/%s/zones/%s/diskTypes/%s", project, zone, lastSegment(t))
	}
	c.disks[key] = d
}

func (c *Compute) startLocked(in *Instance) {
	in.Status = "RUNNING"
	in.StatusMessage = ""
	in.LastStartTimestamp = c.ts()
	for _, ni := range in.NetworkInterfaces {
		for _, ac := range ni.AccessConfigs {
			if ac.NatIP == "" {
				c.nextIP++
				ac.NatIP = fmt.Sprintf("203.0.113.%d", c.nextIP%250+1)
			}
		}
	}
}

func (c *Compute) stopLocked(in *Instance) {
	in.Status = "TERMINATED"
	in.LastStopTimestamp = c.ts()
	for _, ni := range in.NetworkInterfaces {
		for _, ac := range ni.AccessConfigs {
			ac.NatIP = "" // ephemeral external IPs are released on stop
		}
	}
}

func (c *Compute) removeInstanceLocked(project, zone, name string) bool {
	key := project + "/" + zone + "/" + name
	in, ok := c.instances[key]
	if !ok {
		return false
	}
	delete(c.instances, key)
	for _, d := range in.Disks {
		dk := project + "/" + zone + "/" + lastSegment(d.Source)
		if disk, ok := c.disks[dk]; ok {
			disk.Users = slices.DeleteFunc(disk.Users, func(u string) bool { return u == in.SelfLink })
			if d.AutoDelete {
				delete(c.disks, dk)
			}
		}
	}
	return true
}

func (c *Compute) getInstance(w http.ResponseWriter, r *http.Request) error {
	project, zone, name := r.PathValue("project"), r.PathValue("zone"), r.PathValue("name")
	c.mu.Lock()
	in, ok := c.instances[project+"/"+zone+"/"+name]
	var cp *Instance
	if ok {
		cp = clone(in)
	}
	c.mu.Unlock()
	if !ok {
		return notFound(fmt.Sprintf("projects/%s/zones/%s/instances/%s", project, zone, name))
	}
	return writeJSON(w, cp)
}

func (c *Compute) instanceOp(w http.ResponseWriter, r *http.Request, kind string, check func(in *Instance) error, effect func(project, zone string, in *Instance)) error {
	project, zone, name := r.PathValue("project"), r.PathValue("zone"), r.PathValue("name")
	c.mu.Lock()
	defer c.mu.Unlock()
	in, ok := c.instances[project+"/"+zone+"/"+name]
	if !ok {
		return notFound(fmt.Sprintf("projects/%s/zones/%s/instances/%s", project, zone, name))
	}
	if check != nil {
		if err := check(in); err != nil {
			return err
		}
	}
	method := "instances." + kind
	fail := c.takeFaultLocked(method, true)
	op := c.newOpLocked(project, "zones/"+zone, kind, in.SelfLink, in.ID, fail, func() {
		if cur, ok := c.instances[project+"/"+zone+"/"+name]; ok && cur == in {
			effect(project, zone, in)
		}
	})
	return writeJSON(w, op.res)
}

func (c *Compute) deleteInstance(w http.ResponseWriter, r *http.Request) error {
	return c.instanceOp(w, r, "delete", nil, func(project, zone string, in *Instance) {
		c.removeInstanceLocked(project, zone, in.Name)
	})
}

func (c *Compute) stopInstance(w http.ResponseWriter, r *http.Request) error {
	return c.instanceOp(w, r, "stop", nil, func(_, _ string, in *Instance) { c.stopLocked(in) })
}

func (c *Compute) startInstance(w http.ResponseWriter, r *http.Request) error {
	return c.instanceOp(w, r, "start", func(in *Instance) error {
		if s := in.Status; s != "TERMINATED" && s != "RUNNING" {
			return badRequest("resourceNotReady", "The resource '%s' is not ready", strings.TrimPrefix(in.SelfLink, Base))
		}
		return nil
	}, func(_, _ string, in *Instance) { c.startLocked(in) })
}

func (c *Compute) listInstances(w http.ResponseWriter, r *http.Request) error {
	project, zone := r.PathValue("project"), r.PathValue("zone")
	match, err := parseFilter(r.URL.Query().Get("filter"))
	if err != nil {
		return err
	}
	c.mu.Lock()
	var all []*Instance
	for k, in := range c.instances {
		if strings.HasPrefix(k, project+"/"+zone+"/") && match(in) {
			all = append(all, clone(in))
		}
	}
	pageSize := c.pageSize
	c.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	page, next, err := paginate(all, r.URL.Query(), pageSize)
	if err != nil {
		return err
	}
	resp := &instanceList{
		Kind:     "compute#instanceList",
		ID:       fmt.Sprintf("projects/%s/zones/%s/instances", project, zone),
		SelfLink: Base + fmt.Sprintf("projects/%s/zones/%s/instances", project, zone),
		Items:    page,
	}
	if next != "" {
		resp.NextPageToken = next
	}
	return writeJSON(w, resp)
}

func (c *Compute) aggregatedInstances(w http.ResponseWriter, r *http.Request) error {
	project := r.PathValue("project")
	match, err := parseFilter(r.URL.Query().Get("filter"))
	if err != nil {
		return err
	}
	c.mu.Lock()
	items := map[string]*instancesScopedList{}
	for k, in := range c.instances {
		parts := strings.SplitN(k, "/", 3)
		if parts[0] != project || !match(in) {
			continue
		}
		scope := "zones/" + parts[1]
		if items[scope] == nil {
			items[scope] = &instancesScopedList{}
		}
		items[scope].Instances = append(items[scope].Instances, clone(in))
	}
	c.mu.Unlock()
	for _, l := range items {
		sort.Slice(l.Instances, func(i, j int) bool { return l.Instances[i].Name < l.Instances[j].Name })
	}
	return writeJSON(w, &instanceAggregatedList{
		Kind:     "compute#instanceAggregatedList",
		ID:       "projects/" + project + "/aggregated/instances",
		SelfLink: Base + "projects/" + project + "/aggregated/instances",
		Items:    items,
	})
}

func (c *Compute) getDisk(w http.ResponseWriter, r *http.Request) error {
	project, zone, name := r.PathValue("project"), r.PathValue("zone"), r.PathValue("name")
	d, ok := c.Disk(project, zone, name)
	if !ok {
		return notFound(fmt.Sprintf("projects/%s/zones/%s/disks/%s", project, zone, name))
	}
	return writeJSON(w, d)
}

// ---------------------------------------------------------------------------
// operations

func (c *Compute) newOpLocked(project, scope, kind, target string, targetID uint64, fail *Fault, onDone func()) *fakeOp {
	id := c.id()
	name := fmt.Sprintf("operation-%d-%s", id, kind)
	p := &Operation{
		ID:                id,
		Kind:              "compute#operation",
		Name:              name,
		OperationType:     kind,
		TargetLink:        target,
		TargetID:          targetID,
		Status:            OpPending,
		User:              "fake@clarateach.test",
		InsertTime:        c.ts(),
		CreationTimestamp: c.ts(),
	}
	scopeKey := "global"
	if scope != "" {
		scopeKey = scope
		p.Zone = Base + "projects/" + project + "/" + scope
		p.SelfLink = Base + fmt.Sprintf("projects/%s/%s/operations/%s", project, scope, name)
	} else {
		p.SelfLink = Base + fmt.Sprintf("projects/%s/global/operations/%s", project, name)
	}
	op := &fakeOp{res: p, onDone: onDone, fail: fail, doneCh: make(chan struct{}), scopeKey: scopeKey}
	c.ops[project+"/"+scopeKey+"/"+name] = op
	if c.pollsToDone <= 0 && c.held == nil {
		c.finishLocked(op)
	}
	return op
}

// advanceLocked moves an operation one step: PENDING → RUNNING → DONE.
func (c *Compute) advanceLocked(op *fakeOp) {
	if op.res.Status == OpDone {
		return
	}
	op.polls++
	if op.polls >= c.pollsToDone && c.held == nil {
		c.finishLocked(op)
		return
	}
	if op.res.Status == OpPending {
		op.res.Status = OpRunning
		op.res.StartTime = c.ts()
		op.res.Progress = 50
	}
}

func (c *Compute) finishLocked(op *fakeOp) {
	if op.res.Status == OpDone {
		return
	}
	if op.res.StartTime == "" {
		op.res.StartTime = c.ts()
	}
	op.res.Status = OpDone
	op.res.Progress = 100
	op.res.EndTime = c.ts()
	if f := op.fail; f != nil {
		op.res.Error = &OperationError{Errors: []OperationErrorItem{{
			Code:    f.Reason,
			Message: f.Message,
		}}}
		op.res.HTTPErrorStatusCode = f.Code
		op.res.HTTPErrorMessage = strings.ToUpper(http.StatusText(f.Code))
	}
	if op.onDone != nil {
		op.onDone()
	}
	close(op.doneCh)
}

func (c *Compute) lookupOp(r *http.Request, scopePrefix string) (*fakeOp, error) {
	project, name := r.PathValue("project"), r.PathValue("op")
	scope := "global"
	if scopePrefix != "" {
		scope = scopePrefix + r.PathValue("zone")
	}
	op, ok := c.ops[project+"/"+scope+"/"+name]
	if !ok {
		return nil, notFound(fmt.Sprintf("projects/%s/%s/operations/%s", project, scope, name))
	}
	return op, nil
}

func (c *Compute) getOp(scopePrefix string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		c.mu.Lock()
		op, err := c.lookupOp(r, scopePrefix)
		if err != nil {
			c.mu.Unlock()
			return err
		}
		c.advanceLocked(op)
		cp := clone(op.res)
		c.mu.Unlock()
		return writeJSON(w, cp)
	}
}

// waitOp implements operations.wait: it finishes the operation (unless
// operations are held) and answers when it is DONE, or with its current
// state after the wait timeout, as the real API does.
func (c *Compute) waitOp(scopePrefix string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		c.mu.Lock()
		op, err := c.lookupOp(r, scopePrefix)
		if err != nil {
			c.mu.Unlock()
			return err
		}
		if c.held == nil {
			c.finishLocked(op)
		} else if op.res.Status == OpPending {
			op.res.Status = OpRunning
			op.res.StartTime = c.ts()
		}
		held, timeout := c.held, c.waitTimeout
		c.mu.Unlock()

		timer := time.NewTimer(timeout)
		defer timer.Stop()
		for {
			select {
			case <-op.doneCh:
			case <-held:
				c.mu.Lock()
				if c.held == nil {
					c.finishLocked(op)
				}
				held = c.held
				c.mu.Unlock()
				continue
			case <-timer.C:
			case <-r.Context().Done():
				return r.Context().Err()
			}
			break
		}
		c.mu.Lock()
		cp := clone(op.res)
		c.mu.Unlock()
		return writeJSON(w, cp)
	}
}

// ---------------------------------------------------------------------------
// snapshots

func (c *Compute) fillSnapshotLocked(project string, s *Snapshot) {
	s.ID = c.id()
	s.Kind = "compute#snapshot"
	s.SelfLink = Base + fmt.Sprintf("projects/%s/global/snapshots/%s", project, s.Name)
	if s.CreationTimestamp == "" {
		s.CreationTimestamp = c.ts()
	}
	if s.Status == "" {
		s.Status = "READY"
	}
	if s.StorageBytes == 0 {
		s.StorageBytes = 2 << 30
	}
	if s.DiskSizeGb == 0 {
		s.DiskSizeGb = 20
	}
}

func (c *Compute) listSnapshots(w http.ResponseWriter, r *http.Request) error {
	project := r.PathValue("project")
	match, err := parseFilter(r.URL.Query().Get("filter"))
	if err != nil {
		return err
	}
	c.mu.Lock()
	var all []*Snapshot
	for k, s := range c.snapshots {
		if strings.HasPrefix(k, project+"/") && match(s) {
			all = append(all, clone(s))
		}
	}
	pageSize := c.pageSize
	c.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	page, next, err := paginate(all, r.URL.Query(), pageSize)
	if err != nil {
		return err
	}
	resp := &snapshotList{
		Kind:     "compute#snapshotList",
		ID:       "projects/" + project + "/global/snapshots",
		SelfLink: Base + "projects/" + project + "/global/snapshots",
		Items:    page,
	}
	if next != "" {
		resp.NextPageToken = next
	}
	return writeJSON(w, resp)
}

func (c *Compute) getSnapshot(w http.ResponseWriter, r *http.Request) error {
	project, name := r.PathValue("project"), r.PathValue("name")
	c.mu.Lock()
	s, ok := c.snapshots[project+"/"+name]
	var cp *Snapshot
	if ok {
		cp = clone(s)
	}
	c.mu.Unlock()
	if !ok {
		return notFound(fmt.Sprintf("projects/%s/global/snapshots/%s", project, name))
	}
	return writeJSON(w, cp)
}

func (c *Compute) insertSnapshot(w http.ResponseWriter, r *http.Request) error {
	project := r.PathValue("project")
	body, _ := io.ReadAll(r.Body)
	s := &Snapshot{}
	if err := decodeStrict(body, s); err != nil {
		return badRequest("parseError", "Invalid JSON payload received. %v", err)
	}
	if !nameRE.MatchString(s.Name) {
		return badRequest("invalid", "Invalid value for field 'resource.name': '%s'.", s.Name)
	}
	src := strings.TrimPrefix(s.SourceDisk, Base)
	parts := strings.Split(src, "/") // projects/P/zones/Z/disks/D
	if len(parts) != 6 || parts[0] != "projects" || parts[2] != "zones" || parts[4] != "disks" {
		return badRequest("invalid", "Invalid value for field 'resource.sourceDisk': '%s'.", s.SourceDisk)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.snapshots[project+"/"+s.Name]; ok {
		return &apiErr{http.StatusConflict, "alreadyExists", fmt.Sprintf("The resource 'projects/%s/global/snapshots/%s' already exists", project, s.Name)}
	}
	disk, ok := c.disks[parts[1]+"/"+parts[3]+"/"+parts[5]]
	if !ok {
		return notFound(src)
	}
	s.SourceDisk = disk.SelfLink
	s.SourceDiskId = strconv.FormatUint(disk.ID, 10)
	s.DiskSizeGb = disk.SizeGb
	c.fillSnapshotLocked(project, s)
	s.Status = "CREATING"
	c.snapshots[project+"/"+s.Name] = s
	fail := c.takeFaultLocked("snapshots.insert", true)
	op := c.newOpLocked(project, "", "insert", s.SelfLink, s.ID, fail, func() {
		if fail != nil {
			delete(c.snapshots, project+"/"+s.Name)
			return
		}
		s.Status = "READY"
	})
	return writeJSON(w, op.res)
}

func (c *Compute) deleteSnapshot(w http.ResponseWriter, r *http.Request) error {
	project, name := r.PathValue("project"), r.PathValue("name")
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.snapshots[project+"/"+name]
	if !ok {
		return notFound(fmt.Sprintf("projects/%s/global/snapshots/%s", project, name))
	}
	s.Status = "DELETING"
	fail := c.takeFaultLocked("snapshots.delete", true)
	op := c.newOpLocked(project, "", "delete", s.SelfLink, s.ID, fail, func() {
		if fail == nil {
			delete(c.snapshots, project+"/"+name)
		}
	})
	return writeJSON(w, op.res)
}

// ---------------------------------------------------------------------------
// regions and projects (quotas)

func (c *Compute) cpusLocked(region string) float64 {
	return c.familyCPUsLocked(region, "")
}

// familyCPUsLocked is the vCPUs of the instances not TERMINATED in region
// ("": every region) whose machine family's quota metric is metric ("":
// any family; "N2_CPUS": n2-*).
func (c *Compute) familyCPUsLocked(region, metric string) float64 {
	total := 0
	for k, in := range c.instances {
		zone := strings.SplitN(k, "/", 3)[1]
		if (region == "" || regionOf(zone) == region) && in.Status != "TERMINATED" &&
			(metric == "" || familyMetric(in.MachineType) == metric) {
			total += vcpus(in.MachineType)
		}
	}
	return float64(total)
}

// familyMetric is the region quota metric of a machine type's family
// ("n2-standard-16": "N2_CPUS"); GCE has one for the families that are
// counted apart from CPUS (N2, N2D, C2, C3, ...).
func familyMetric(machineType string) string {
	fam, _, _ := strings.Cut(lastSegment(machineType), "-")
	return strings.ToUpper(fam) + "_CPUS"
}

// quotaUsageLocked is the usage GCE reports for a region (or, with region
// "", project) quota metric.
func (c *Compute) quotaUsageLocked(region, metric string, q *quota) float64 {
	switch {
	case metric == "CPUS" || metric == "CPUS_ALL_REGIONS":
		return q.usage + c.cpusLocked(region)
	case strings.HasSuffix(metric, "_CPUS"):
		return q.usage + c.familyCPUsLocked(region, metric)
	}
	return q.usage
}

// quotaFailLocked is the QUOTA_EXCEEDED an insert of machineType in region
// meets (the region's CPUS, its family's quota, the project's
// CPUS_ALL_REGIONS), or nil.
func (c *Compute) quotaFailLocked(region, machineType string) *Fault {
	need := float64(vcpus(machineType))
	for _, m := range []string{"CPUS", familyMetric(machineType)} {
		if q := c.regionQ[region][m]; q != nil && c.quotaUsageLocked(region, m, q)+need > q.limit {
			f := quotaFault(m, "in region "+region, q.limit)
			return &f
		}
	}
	if q := c.projectQ["CPUS_ALL_REGIONS"]; q != nil && c.quotaUsageLocked("", "CPUS_ALL_REGIONS", q)+need > q.limit {
		f := quotaFault("CPUS_ALL_REGIONS", "globally", q.limit)
		return &f
	}
	return nil
}

func (c *Compute) getRegion(w http.ResponseWriter, r *http.Request) error {
	project, region := r.PathValue("project"), r.PathValue("region")
	c.mu.Lock()
	qs, ok := c.regionQ[region]
	resp := &Region{
		Kind:     "compute#region",
		ID:       1000 + uint64(len(region)),
		Name:     region,
		Status:   "UP",
		SelfLink: Base + "projects/" + project + "/regions/" + region,
	}
	for _, z := range []string{"a", "b", "c", "f"} {
		resp.Zones = append(resp.Zones, Base+"projects/"+project+"/zones/"+region+"-"+z)
	}
	metrics := make([]string, 0, len(qs))
	for m := range qs {
		metrics = append(metrics, m)
	}
	sort.Strings(metrics)
	for _, m := range metrics {
		q := qs[m]
		resp.Quotas = append(resp.Quotas, Quota{Metric: m, Limit: q.limit, Usage: c.quotaUsageLocked(region, m, q)})
	}
	c.mu.Unlock()
	if !ok {
		return notFound("projects/" + project + "/regions/" + region)
	}
	return writeJSON(w, resp)
}

func (c *Compute) getProject(w http.ResponseWriter, r *http.Request) error {
	project := r.PathValue("project")
	c.mu.Lock()
	resp := &Project{
		Kind:     "compute#project",
		ID:       4242,
		Name:     project,
		SelfLink: Base + "projects/" + project,
	}
	metrics := make([]string, 0, len(c.projectQ))
	for m := range c.projectQ {
		metrics = append(metrics, m)
	}
	sort.Strings(metrics)
	for _, m := range metrics {
		q := c.projectQ[m]
		resp.Quotas = append(resp.Quotas, Quota{Metric: m, Limit: q.limit, Usage: c.quotaUsageLocked("", m, q)})
	}
	c.mu.Unlock()
	return writeJSON(w, resp)
}

// ---------------------------------------------------------------------------
// helpers

func lastSegment(s string) string {
	if i := strings.LastIndex(s, "/"); i >= 0 {
		return s[i+1:]
	}
	return s
}

// regionOf maps "us-central1-b" to "us-central1".
func regionOf(zone string) string {
	if i := strings.LastIndex(zone, "-"); i > 0 {
		return zone[:i]
	}
	return zone
}

// vcpus is the vCPU count of a machine type URL or name: the number after
// the last dash for predefined types (n2-standard-8 → 8), 2 otherwise.
func vcpus(machineType string) int {
	mt := lastSegment(machineType)
	if i := strings.LastIndex(mt, "-"); i >= 0 {
		if n, err := strconv.Atoi(mt[i+1:]); err == nil && n > 0 {
			return n
		}
	}
	return 2
}

func paginate[T any](all []T, q map[string][]string, size int) ([]T, string, error) {
	start := 0
	if tok := first(q["pageToken"]); tok != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "page-"))
		if err != nil || n < 0 || n > len(all) {
			return nil, "", badRequest("invalid", "Invalid value for field 'pageToken': '%s'.", tok)
		}
		start = n
	}
	if ms := first(q["maxResults"]); ms != "" {
		n, err := strconv.Atoi(ms)
		if err != nil || n <= 0 {
			return nil, "", badRequest("invalid", "Invalid value for field 'maxResults': '%s'.", ms)
		}
		size = min(n, 500)
	}
	end := min(start+size, len(all))
	next := ""
	if end < len(all) {
		next = fmt.Sprintf("page-%d", end)
	}
	return all[start:end], next, nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
