// Package fcfake is a fake Firecracker VMM API server for tests. It is a real
// HTTP server on a unix socket that speaks the subset of the Firecracker API
// ClaraTeach uses, validates request bodies the way Firecracker does
// (unknown fields, required fields, files that must exist, pre-boot-only
// resources, InstanceStart only once kernel and root drive are configured)
// and records every call in order, so tests can assert the exact sequence.
//
// It does not run a guest. Hooks let a test stand in for what a guest would
// do after InstanceStart (for example serve the workspace daemon's /health).
//
// Main turns a test binary into a stand-in for the firecracker executable, so
// the real process launcher can be tested end to end.
package fcfake

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/clarateach/backend/internal/host/seatruntime/firecracker/fcapi"
)

// Call is one request the fake received.
type Call struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Body   json.RawMessage `json:"body,omitempty"` // compacted JSON, nil for no body
	Status int             `json:"status"`         // status the fake answered
}

// String renders "METHOD PATH BODY" for readable test diffs.
func (c Call) String() string {
	if len(c.Body) == 0 {
		return c.Method + " " + c.Path
	}
	return c.Method + " " + c.Path + " " + string(c.Body)
}

// Fault makes the fake answer a request with an error instead of handling it.
type Fault struct {
	Method       string // e.g. "PUT"
	Path         string // e.g. "/drives/rootfs"
	Status       int    // e.g. 400
	FaultMessage string
}

// Options configure a Server.
type Options struct {
	// ID is reported by GET / (firecracker --id).
	ID string
	// SkipFileChecks disables the existence checks on kernel, drive and log paths.
	SkipFileChecks bool
	// CheckTap makes PUT /network-interfaces fail unless host_dev_name exists
	// in /sys/class/net (Firecracker opens the TAP there and then).
	CheckTap bool
	// Faults are answered instead of the matching requests (each once).
	Faults []Fault
	// RecordPath, if set, gets every call appended as a JSON line.
	RecordPath string
	// OnStart runs on a valid InstanceStart; an error fails the action.
	OnStart func() error
	// OnCtrlAltDel runs on a valid SendCtrlAltDel.
	OnCtrlAltDel func()
}

// Server is a running fake.
type Server struct {
	opts Options
	ln   net.Listener
	srv  *http.Server

	mu       sync.Mutex
	calls    []Call
	faults   []Fault
	started  bool
	kernel   bool
	rootSet  bool
	drives   map[string]fcapi.Drive
	ifaces   map[string]fcapi.NetworkInterface
	logger   bool
	machine  fcapi.MachineConfig
	bootArgs string
}

// Listen starts a fake on socketPath. Like Firecracker it refuses a path that
// already exists.
func Listen(socketPath string, opts Options) (*Server, error) {
	ln, err := net.Listen("unix", socketPath)
	if err != nil {
		return nil, fmt.Errorf("fcfake: %w", err)
	}
	s := &Server{
		opts:    opts,
		ln:      ln,
		faults:  append([]Fault(nil), opts.Faults...),
		drives:  map[string]fcapi.Drive{},
		ifaces:  map[string]fcapi.NetworkInterface{},
		machine: fcapi.MachineConfig{VCPUCount: 1, MemSizeMiB: 128},
	}
	s.srv = &http.Server{Handler: s}
	go s.srv.Serve(ln) //nolint:errcheck // ends with Close
	return s, nil
}

// Close stops the server and removes its socket.
func (s *Server) Close() error {
	err := s.srv.Close()
	os.Remove(s.ln.Addr().String())
	return err
}

// Calls returns the calls received so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Started reports whether InstanceStart succeeded.
func (s *Server) Started() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started
}

// ReadRecord reads the calls a fake appended to Options.RecordPath.
func ReadRecord(path string) ([]Call, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Call
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var c Call
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return nil, fmt.Errorf("fcfake: record %s: %w", path, err)
		}
		out = append(out, c)
	}
	return out, sc.Err()
}

const errAfterStart = "The requested operation is not supported after starting the microVM."

type apiErr struct {
	status int
	msg    string
}

func bad(format string, a ...any) *apiErr {
	return &apiErr{status: http.StatusBadRequest, msg: fmt.Sprintf(format, a...)}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	call := Call{Method: r.Method, Path: r.URL.Path}
	if len(bytes.TrimSpace(raw)) > 0 {
		var buf bytes.Buffer
		if json.Compact(&buf, raw) == nil {
			call.Body = buf.Bytes()
		} else {
			call.Body, _ = json.Marshal(string(raw)) // keep invalid JSON visible
		}
	}

	s.mu.Lock()
	var out any
	var e *apiErr
	if f, ok := s.takeFault(r.Method, r.URL.Path); ok {
		e = &apiErr{status: f.Status, msg: f.FaultMessage}
	} else {
		out, e = s.handle(r.Method, r.URL.Path, raw)
	}
	// A successful start/ctrl-alt-del runs its hook outside the lock.
	hookStart := e == nil && r.Method == http.MethodPut && r.URL.Path == "/actions" && s.started && isAction(raw, fcapi.ActionInstanceStart)
	hookCAD := e == nil && r.Method == http.MethodPut && r.URL.Path == "/actions" && isAction(raw, fcapi.ActionSendCtrlAltDel)
	s.mu.Unlock()

	if hookStart && s.opts.OnStart != nil {
		if herr := s.opts.OnStart(); herr != nil {
			e = bad("Cannot start microvm: %v", herr)
			s.mu.Lock()
			s.started = false
			s.mu.Unlock()
		}
	}

	switch {
	case e != nil:
		call.Status = e.status
	case out != nil:
		call.Status = http.StatusOK
	default:
		call.Status = http.StatusNoContent
	}
	s.record(call)

	switch {
	case e != nil:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(e.status)
		json.NewEncoder(w).Encode(fcapi.Error{FaultMessage: e.msg}) //nolint:errcheck
	case out != nil:
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out) //nolint:errcheck
	default:
		w.WriteHeader(http.StatusNoContent)
	}
	if hookCAD && s.opts.OnCtrlAltDel != nil {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		s.opts.OnCtrlAltDel()
	}
}

func isAction(raw []byte, t string) bool {
	var a fcapi.InstanceActionInfo
	return json.Unmarshal(raw, &a) == nil && a.ActionType == t
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	if s.opts.RecordPath == "" {
		return
	}
	line, _ := json.Marshal(c)
	f, err := os.OpenFile(s.opts.RecordPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	f.Write(append(line, '\n')) //nolint:errcheck
	f.Close()
}

func (s *Server) takeFault(method, path string) (Fault, bool) {
	for i, f := range s.faults {
		if f.Method == method && f.Path == path {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			return f, true
		}
	}
	return Fault{}, false
}

// decode is strict like Firecracker's serde(deny_unknown_fields).
func decode(raw []byte, v any) *apiErr {
	if len(bytes.TrimSpace(raw)) == 0 {
		return bad("The request body is empty.")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bad("An error occurred when deserializing the json body of a request: %v", err)
	}
	if dec.More() {
		return bad("An error occurred when deserializing the json body of a request: trailing data")
	}
	return nil
}

// Wire shapes with pointers, to tell a missing required field from a zero.
type machineWire struct {
	VCPUCount       *int    `json:"vcpu_count"`
	MemSizeMiB      *int    `json:"mem_size_mib"`
	SMT             *bool   `json:"smt"`
	TrackDirtyPages *bool   `json:"track_dirty_pages"`
	CPUTemplate     *string `json:"cpu_template"`
	HugePages       *string `json:"huge_pages"`
}

type bootWire struct {
	KernelImagePath *string `json:"kernel_image_path"`
	BootArgs        *string `json:"boot_args"`
	InitrdPath      *string `json:"initrd_path"`
}

type driveWire struct {
	DriveID      *string `json:"drive_id"`
	PathOnHost   *string `json:"path_on_host"`
	IsRootDevice *bool   `json:"is_root_device"`
	IsReadOnly   *bool   `json:"is_read_only"`
	PartUUID     *string `json:"partuuid"`
	CacheType    *string `json:"cache_type"`
	IOEngine     *string `json:"io_engine"`
}

type ifaceWire struct {
	IfaceID     *string `json:"iface_id"`
	HostDevName *string `json:"host_dev_name"`
	GuestMAC    *string `json:"guest_mac"`
}

type loggerWire struct {
	LogPath       *string `json:"log_path"`
	Level         *string `json:"level"`
	ShowLevel     *bool   `json:"show_level"`
	ShowLogOrigin *bool   `json:"show_log_origin"`
	Module        *string `json:"module"`
}

var (
	macRe = regexp.MustCompile(`^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$`)
	idRe  = regexp.MustCompile(`^[a-zA-Z0-9_]+$`)
)

func missing(field string) *apiErr {
	return bad("An error occurred when deserializing the json body of a request: missing field `%s`", field)
}

func (s *Server) fileCheck(what, path string) *apiErr {
	if s.opts.SkipFileChecks {
		return nil
	}
	if _, err := os.Stat(path); err != nil {
		return bad("%s %q cannot be opened: %v", what, path, errors.Unwrap(err))
	}
	return nil
}

func (s *Server) handle(method, path string, raw []byte) (any, *apiErr) {
	preBoot := func() *apiErr {
		if s.started {
			return bad(errAfterStart)
		}
		return nil
	}
	switch {
	case method == http.MethodGet && path == "/":
		state := fcapi.StateNotStarted
		if s.started {
			state = fcapi.StateRunning
		}
		return fcapi.InstanceInfo{AppName: "Firecracker", ID: s.opts.ID, State: state, VMMVersion: "1.7.0-fcfake"}, nil

	case method == http.MethodGet && path == "/machine-config":
		return s.machine, nil

	case method == http.MethodPut && path == "/machine-config":
		if e := preBoot(); e != nil {
			return nil, e
		}
		var m machineWire
		if e := decode(raw, &m); e != nil {
			return nil, e
		}
		if m.VCPUCount == nil {
			return nil, missing("vcpu_count")
		}
		if m.MemSizeMiB == nil {
			return nil, missing("mem_size_mib")
		}
		if *m.VCPUCount < 1 || *m.VCPUCount > 32 {
			return nil, bad("The vCPU number is invalid! The vCPU number can only be 1 or an even number when SMT is enabled.")
		}
		if *m.MemSizeMiB < 1 {
			return nil, bad("The memory size (MiB) is invalid.")
		}
		smt := m.SMT != nil && *m.SMT
		if smt && *m.VCPUCount > 1 && *m.VCPUCount%2 == 1 {
			return nil, bad("The vCPU number is invalid! The vCPU number can only be 1 or an even number when SMT is enabled.")
		}
		s.machine = fcapi.MachineConfig{VCPUCount: *m.VCPUCount, MemSizeMiB: *m.MemSizeMiB, SMT: smt}
		return nil, nil

	case method == http.MethodPut && path == "/boot-source":
		if e := preBoot(); e != nil {
			return nil, e
		}
		var b bootWire
		if e := decode(raw, &b); e != nil {
			return nil, e
		}
		if b.KernelImagePath == nil {
			return nil, missing("kernel_image_path")
		}
		if e := s.fileCheck("The kernel file", *b.KernelImagePath); e != nil {
			return nil, e
		}
		if b.BootArgs != nil {
			s.bootArgs = *b.BootArgs
		}
		s.kernel = true
		return nil, nil

	case method == http.MethodPut && strings.HasPrefix(path, "/drives/"):
		if e := preBoot(); e != nil {
			return nil, e
		}
		id := strings.TrimPrefix(path, "/drives/")
		var d driveWire
		if e := decode(raw, &d); e != nil {
			return nil, e
		}
		if d.DriveID == nil {
			return nil, missing("drive_id")
		}
		if *d.DriveID != id {
			return nil, bad("The id from the path does not match the id from the body!")
		}
		if !idRe.MatchString(id) {
			return nil, bad("Invalid drive ID: %q", id)
		}
		if d.IsRootDevice == nil {
			return nil, missing("is_root_device")
		}
		if d.PathOnHost == nil {
			return nil, missing("path_on_host")
		}
		if e := s.fileCheck("Drive file", *d.PathOnHost); e != nil {
			return nil, e
		}
		if *d.IsRootDevice {
			for oid, od := range s.drives {
				if od.IsRootDevice && oid != id {
					return nil, bad("A root block device already exists!")
				}
			}
		}
		s.drives[id] = fcapi.Drive{DriveID: id, PathOnHost: *d.PathOnHost, IsRootDevice: *d.IsRootDevice, IsReadOnly: d.IsReadOnly != nil && *d.IsReadOnly}
		s.rootSet = false
		for _, od := range s.drives {
			s.rootSet = s.rootSet || od.IsRootDevice
		}
		return nil, nil

	case method == http.MethodPut && strings.HasPrefix(path, "/network-interfaces/"):
		if e := preBoot(); e != nil {
			return nil, e
		}
		id := strings.TrimPrefix(path, "/network-interfaces/")
		var n ifaceWire
		if e := decode(raw, &n); e != nil {
			return nil, e
		}
		if n.IfaceID == nil {
			return nil, missing("iface_id")
		}
		if *n.IfaceID != id {
			return nil, bad("The id from the path does not match the id from the body!")
		}
		if n.HostDevName == nil {
			return nil, missing("host_dev_name")
		}
		if len(*n.HostDevName) == 0 || len(*n.HostDevName) > 15 {
			return nil, bad("Invalid TAP name %q", *n.HostDevName)
		}
		if n.GuestMAC != nil && !macRe.MatchString(*n.GuestMAC) {
			return nil, bad("Invalid guest MAC address %q", *n.GuestMAC)
		}
		if s.opts.CheckTap {
			if _, err := net.InterfaceByName(*n.HostDevName); err != nil {
				return nil, bad("Open tap device failed: %s: No such device", *n.HostDevName)
			}
		}
		for oid, oi := range s.ifaces {
			if oid != id && oi.HostDevName == *n.HostDevName {
				return nil, bad("The host device name %s is already in use.", *n.HostDevName)
			}
		}
		ni := fcapi.NetworkInterface{IfaceID: id, HostDevName: *n.HostDevName}
		if n.GuestMAC != nil {
			ni.GuestMAC = *n.GuestMAC
		}
		s.ifaces[id] = ni
		return nil, nil

	case method == http.MethodPut && path == "/logger":
		var l loggerWire
		if e := decode(raw, &l); e != nil {
			return nil, e
		}
		if s.logger {
			return nil, bad("Reconfiguring the logger is not allowed.")
		}
		if l.LogPath == nil {
			return nil, missing("log_path")
		}
		if l.Level != nil {
			switch strings.ToLower(*l.Level) {
			case "error", "warning", "info", "debug", "trace", "off":
			default:
				return nil, bad("Invalid log level: %q", *l.Level)
			}
		}
		if e := s.fileCheck("Log file", *l.LogPath); e != nil {
			return nil, e
		}
		s.logger = true
		return nil, nil

	case method == http.MethodPut && path == "/actions":
		var a struct {
			ActionType *string `json:"action_type"`
		}
		if e := decode(raw, &a); e != nil {
			return nil, e
		}
		if a.ActionType == nil {
			return nil, missing("action_type")
		}
		switch *a.ActionType {
		case fcapi.ActionInstanceStart:
			if s.started {
				return nil, bad(errAfterStart)
			}
			if !s.kernel {
				return nil, bad("Cannot start microvm without kernel configuration.")
			}
			if !s.rootSet {
				return nil, bad("Cannot start microvm without a root block device.")
			}
			s.started = true
			return nil, nil
		case fcapi.ActionSendCtrlAltDel:
			if !s.started {
				return nil, bad("The requested operation is not supported before starting the microVM.")
			}
			return nil, nil
		case fcapi.ActionFlushMetrics:
			return nil, nil
		default:
			return nil, bad("An error occurred when deserializing the json body of a request: unknown variant `%s`", *a.ActionType)
		}
	}
	return nil, bad("Invalid request method and/or path: %s %s.", method, path)
}
