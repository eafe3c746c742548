// Package gcp is the Compute Engine provisioner: one VM per workshop, named
// clarateach-fc-ws-<workshop ID>, booted from the agent snapshot
// (FC_SNAPSHOT_NAME) with nested virtualization, labelled for ownership and
// cleanup, and given its per-workshop agent token, workspace-token key and
// TLS key pair (made here, package hostcert) in instance metadata. The
// control plane reaches the agent at https://IP:9090 and pins the
// certificate. See README.md in this directory.
package gcevm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/controlplane/gce"
	"github.com/clarateach/backend/internal/controlplane/gce/gcename"
	"github.com/clarateach/backend/internal/controlplane/provision"
	"github.com/clarateach/backend/internal/hostcert"
)

// Metadata keys the agent reads from the metadata server.
const (
	MetaAgentToken   = "agent-token"
	MetaWorkspaceKey = "workspace-key"
	MetaWorkshopID   = "workshop-id"
	MetaSeats        = "seats"
	MetaBackendURL   = "backend-url"
	// MetaAgentTLSCert and MetaAgentTLSKey are the agent's TLS certificate
	// and private key (PEM); the control plane pins the certificate.
	MetaAgentTLSCert = "agent-tls-cert"
	MetaAgentTLSKey  = "agent-tls-key"
)

// Spot termination actions.
const (
	TerminateStop   = "STOP"
	TerminateDelete = "DELETE"
)

// Config configures the provisioner. Project, Zone and SnapshotName are
// required.
type Config struct {
	Project      string // GCP_PROJECT
	Zone         string // GCP_ZONE, e.g. us-central1-b
	SnapshotName string // FC_SNAPSHOT_NAME: boot disk source (global/snapshots/<name>)

	// MachineType overrides the default sizing (DefaultMachineType).
	MachineType string // GCP_MACHINE_TYPE
	// UseSpot makes hosts Spot VMs (GCP_USE_SPOT=true).
	UseSpot bool
	// SpotTerminationAction is what GCE does on preemption: STOP (the
	// default: the disk, and with it the learners' files and the agent's
	// seat state, survives and EnsureHost restarts the VM) or DELETE.
	SpotTerminationAction string

	// Network and Subnetwork (default global/networks/default and the
	// network's auto subnet).
	Network    string
	Subnetwork string
	// UseInternalIP makes AgentURL use the VM's internal IP (control plane
	// in the same VPC, e.g. Cloud Run with Direct VPC egress). Default: the
	// external IP.
	UseInternalIP bool
	// NoExternalIP gives the VM no external address (requires
	// UseInternalIP and Cloud NAT for egress).
	NoExternalIP bool

	// DiskType (default pd-balanced) and DiskSizeGB (0 = the snapshot's
	// size) of the boot disk. The disk is deleted with the VM.
	DiskType   string
	DiskSizeGB int64

	// ServiceAccount, when set, is attached with the cloud-platform scope.
	// Default: none (the agent needs no Google API; the metadata server
	// works without one).
	ServiceAccount string

	// ExtraLabels are added to every host and to the ListHosts filter (e.g.
	// clarateach-deployment=staging to keep two deployments in one project
	// from garbage-collecting each other's VMs).
	ExtraLabels map[string]string

	// AgentPort is the agent's port (default 9090).
	AgentPort int

	// ComputeEndpoint overrides the Compute API endpoint
	// (GCP_COMPUTE_ENDPOINT: host:port or a URL); when set no
	// authentication is used.
	ComputeEndpoint string

	// PollInterval is the pause between two looks at a VM that is not ready
	// yet (default 2s); also the least pause between operations.wait calls
	// that return early.
	PollInterval time.Duration
	// ReadyTimeout bounds EnsureHost's wait for an address (default 5m).
	ReadyTimeout time.Duration
}

// DefaultMachineType sizes a host for its seats (2 vCPU / 512 MiB microVMs,
// overcommitted about 4:1 on vCPU): up to 10 seats n2-standard-4, up to 20
// n2-standard-8, beyond n2-standard-16.
func DefaultMachineType(seats int) string {
	switch {
	case seats <= 10:
		return "n2-standard-4"
	case seats <= 20:
		return "n2-standard-8"
	default:
		return "n2-standard-16"
	}
}

// Provisioner implements provision.Provisioner on Compute Engine.
type Provisioner struct {
	cfg  Config
	c    *gce.Clients
	cpus cpuGate // the vCPUs of the inserts in flight (quota.go)
}

var (
	_ provision.Provisioner = (*Provisioner)(nil)
	_ provision.HostSet     = (*Provisioner)(nil)
)

// New validates cfg and opens the Compute clients.
func New(ctx context.Context, cfg Config) (*Provisioner, error) {
	var missing []string
	if cfg.Project == "" {
		missing = append(missing, "GCP_PROJECT")
	}
	if cfg.Zone == "" {
		missing = append(missing, "GCP_ZONE")
	}
	if cfg.SnapshotName == "" {
		missing = append(missing, "FC_SNAPSHOT_NAME")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("gcp provisioner: %s required", strings.Join(missing, ", "))
	}
	switch cfg.SpotTerminationAction {
	case "":
		cfg.SpotTerminationAction = TerminateStop
	case TerminateStop, TerminateDelete:
	default:
		return nil, fmt.Errorf("gcp provisioner: spot termination action must be STOP or DELETE, not %q", cfg.SpotTerminationAction)
	}
	if cfg.NoExternalIP && !cfg.UseInternalIP {
		return nil, errors.New("gcp provisioner: a VM without an external IP needs UseInternalIP")
	}
	if cfg.Network == "" {
		cfg.Network = "global/networks/default"
	}
	if cfg.DiskType == "" {
		cfg.DiskType = "pd-balanced"
	}
	if cfg.AgentPort == 0 {
		cfg.AgentPort = 9090
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 5 * time.Minute
	}
	c, err := gce.NewClients(ctx, cfg.Project, cfg.ComputeEndpoint)
	if err != nil {
		return nil, err
	}
	c.MinWaitInterval = cfg.PollInterval
	return &Provisioner{cfg: cfg, c: c}, nil
}

// Name is "gcp".
func (p *Provisioner) Name() string { return "gcp" }

// Close releases the Compute client's connections.
func (p *Provisioner) Close() error { return p.c.Close() }

// Clients exposes the Compute clients (for the operations CLI).
func (p *Provisioner) Clients() *gce.Clients { return p.c }

// InstanceRequest builds the instance resource EnsureHost inserts.
func (p *Provisioner) InstanceRequest(req provision.Request) (*gce.Instance, error) {
	name, err := gcename.HostInstanceName(req.WorkshopID, req.Host)
	if err != nil {
		return nil, err
	}
	if req.AgentToken == "" {
		return nil, errors.New("gcp provisioner: a per-workshop agent token is required")
	}
	if req.Seats < 1 {
		return nil, fmt.Errorf("gcp provisioner: seats must be at least 1, not %d", req.Seats)
	}
	cfg := p.cfg
	mt := cfg.MachineType
	if mt == "" {
		mt = DefaultMachineType(req.Seats)
	}
	labels := map[string]string{
		gcename.LabelOwner:    gcename.LabelOwnerValue,
		gcename.LabelWorkshop: req.WorkshopID,
		gcename.LabelHost:     strconv.Itoa(max(req.Host, 1)),
	}
	for k, v := range cfg.ExtraLabels {
		labels[k] = v
	}
	tlsPair, err := hostcert.Generate(name, time.Now())
	if err != nil {
		return nil, fmt.Errorf("gcp provisioner: %w", err)
	}
	in := &gce.Instance{
		Name:        name,
		Description: "ClaraTeach workshop host for workshop " + req.WorkshopID,
		MachineType: fmt.Sprintf("zones/%s/machineTypes/%s", cfg.Zone, mt),
		Labels:      labels,
		Tags:        gce.Tags{Items: []string{gcename.NetworkTag}},
		Disks: []gce.AttachedDisk{{
			Boot:       true,
			AutoDelete: true,
			Type:       "PERSISTENT",
			Mode:       "READ_WRITE",
			InitializeParams: gce.DiskInitializeParams{
				SourceSnapshot: "global/snapshots/" + cfg.SnapshotName,
				DiskType:       fmt.Sprintf("zones/%s/diskTypes/%s", cfg.Zone, cfg.DiskType),
				DiskSizeGB:     max(cfg.DiskSizeGB, 0), // 0 (left out): the snapshot's size
				Labels:         labels,
			},
		}},
		NetworkInterfaces:       []gce.NetworkInterface{p.networkInterface()},
		AdvancedMachineFeatures: gce.AdvancedMachineFeatures{EnableNestedVirtualization: true},
		Metadata: gce.Metadata{Items: []gce.MetadataItem{
			{Key: MetaAgentToken, Value: req.AgentToken},
			{Key: MetaAgentTLSCert, Value: tlsPair.CertPEM},
			{Key: MetaAgentTLSKey, Value: tlsPair.KeyPEM},
			{Key: MetaWorkspaceKey, Value: req.WorkspaceKey},
			{Key: MetaWorkshopID, Value: req.WorkshopID},
			{Key: MetaSeats, Value: strconv.Itoa(req.Seats)},
			{Key: MetaBackendURL, Value: req.BackendURL},
		}},
	}
	if cfg.UseSpot {
		restart := false
		in.Scheduling = gce.Scheduling{
			ProvisioningModel:         "SPOT",
			InstanceTerminationAction: cfg.SpotTerminationAction,
			AutomaticRestart:          &restart,
			OnHostMaintenance:         "TERMINATE",
		}
	}
	if cfg.ServiceAccount != "" {
		in.ServiceAccounts = []gce.ServiceAccount{{
			Email:  cfg.ServiceAccount,
			Scopes: []string{"https://www.googleapis.com/auth/cloud-platform"},
		}}
	}
	return in, nil
}

// networkInterface is the VM's NIC: the configured network and subnetwork,
// with an ephemeral external address unless NoExternalIP.
func (p *Provisioner) networkInterface() gce.NetworkInterface {
	ni := gce.NetworkInterface{Network: p.cfg.Network, Subnetwork: p.cfg.Subnetwork}
	if !p.cfg.NoExternalIP {
		ni.AccessConfigs = []gce.AccessConfig{{Name: "External NAT", Type: "ONE_TO_ONE_NAT", NetworkTier: "PREMIUM"}}
	}
	return ni
}

// EnsureHost creates the workshop's VM if it does not exist and returns it
// once it is RUNNING with an address. An existing VM is returned as is,
// except that a stopped one (a preempted Spot VM) is started again; its
// Host.AgentToken is the token in its metadata, which may differ from
// req.AgentToken if the VM was created by an earlier attempt, and its
// Host.AgentCert the certificate in its metadata (the one to pin).
func (p *Provisioner) EnsureHost(ctx context.Context, req provision.Request) (*provision.Host, error) {
	in, err := p.InstanceRequest(req)
	if err != nil {
		return nil, err
	}
	name := in.Name
	ctx, cancel := context.WithTimeout(ctx, p.cfg.ReadyTimeout)
	defer cancel()

	cur, err := p.get(ctx, name)
	switch {
	case err == nil:
		return p.ready(ctx, cur)
	case !gce.IsNotFound(err):
		return nil, fmt.Errorf("get VM %s: %w", name, err)
	}
	release, err := p.reserveCPUs(ctx, in, req.WorkshopID, req.Host)
	if err != nil {
		return nil, fmt.Errorf("create VM %s: %w", name, err)
	}
	landed := false // GCE has the VM: its vCPUs are in the usage it reports
	defer func() { release(landed) }()
	op, err := p.c.InsertInstance(ctx, p.cfg.Zone, in)
	if err != nil && !gce.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create VM %s: %w", name, err)
	}
	landed = true
	if err == nil {
		if err := p.c.WaitZoneOp(ctx, p.cfg.Zone, op); err != nil {
			// A failed operation created nothing; one given up on may have.
			landed = ctx.Err() != nil
			return nil, fmt.Errorf("create VM %s: %w", name, err)
		}
	}
	cur, err = p.get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("get VM %s after create: %w", name, err)
	}
	return p.ready(ctx, cur)
}

// ready waits until the VM is RUNNING with the address AgentURL needs,
// starting it when it is stopped.
func (p *Provisioner) ready(ctx context.Context, in *gce.Instance) (*provision.Host, error) {
	name := in.Name
	started := false
	for {
		h := p.host(in)
		switch h.State {
		case provision.HostRunning:
			if h.IP != "" {
				return h, nil
			}
		case provision.HostStopped:
			if started {
				return nil, fmt.Errorf("VM %s stopped again after start (%s)", in.Name, in.StatusMessage)
			}
			op, err := p.c.StartInstance(ctx, p.cfg.Zone, in.Name)
			if err == nil {
				err = p.c.WaitZoneOp(ctx, p.cfg.Zone, op)
			}
			if err != nil {
				return nil, fmt.Errorf("start VM %s: %w", in.Name, err)
			}
			started = true
			next, err := p.get(ctx, name)
			if err != nil {
				return nil, fmt.Errorf("get VM %s: %w", name, err)
			}
			in = next
			continue
		case provision.HostSuspended:
			return nil, fmt.Errorf("VM %s is suspended; resume or delete it", in.Name)
		}
		// PROVISIONING, STAGING, STOPPING, REPAIRING, RUNNING without an
		// address yet: look again shortly.
		t := time.NewTimer(p.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("VM %s not ready (status %s): %w", in.Name, in.Status, ctx.Err())
		case <-t.C:
		}
		next, err := p.get(ctx, in.Name)
		if err != nil {
			return nil, fmt.Errorf("get VM %s: %w", in.Name, err)
		}
		in = next
	}
}

// HostState maps a Compute Engine instance status to the control plane's
// host state: the one place GCE's words are read. TERMINATED is a VM that
// is stopped (by someone, or a preempted Spot VM) and keeps its disk; a
// SUSPENDED one keeps its memory too, and is left to a person. STOPPING
// and SUSPENDING are on their way and are looked at again.
func HostState(status string) provision.HostState {
	switch status {
	case "RUNNING":
		return provision.HostRunning
	case "PROVISIONING", "STAGING", "REPAIRING":
		return provision.HostStarting
	case "STOPPING", "SUSPENDING":
		return provision.HostStopping
	case "TERMINATED", "STOPPED":
		return provision.HostStopped
	case "SUSPENDED":
		return provision.HostSuspended
	}
	return provision.HostUnknown
}

func (p *Provisioner) get(ctx context.Context, name string) (*gce.Instance, error) {
	return p.c.GetInstance(ctx, p.cfg.Zone, name)
}

// GetHost returns the workshop's VM, or provision.ErrNotFound. A preempted
// Spot VM shows Status TERMINATED and no IP.
func (p *Provisioner) GetHost(ctx context.Context, workshopID string) (*provision.Host, error) {
	return p.GetHostN(ctx, workshopID, 1)
}

// GetHostN is GetHost for host n of the workshop (provision.HostSet).
func (p *Provisioner) GetHostN(ctx context.Context, workshopID string, n int) (*provision.Host, error) {
	name, err := gcename.HostInstanceName(workshopID, n)
	if err != nil {
		return nil, err
	}
	in, err := p.get(ctx, name)
	if gce.IsNotFound(err) {
		return nil, fmt.Errorf("VM %s: %w", name, provision.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get VM %s: %w", name, err)
	}
	return p.host(in), nil
}

// DeleteHost deletes every VM of the workshop (host 1 by its name, the
// others by their workshop label), with their boot disks, and waits until
// they are gone. A VM that does not exist counts as deleted.
func (p *Provisioner) DeleteHost(ctx context.Context, workshopID string) error {
	if err := p.DeleteHostN(ctx, workshopID, 1); err != nil {
		return err
	}
	hosts, err := p.ListHosts(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range hosts {
		if h.WorkshopID == workshopID {
			errs = append(errs, p.c.DeleteVM(ctx, p.cfg.Zone, h.Name))
		}
	}
	return errors.Join(errs...)
}

// DeleteHostN deletes host n of the workshop (provision.HostSet).
func (p *Provisioner) DeleteHostN(ctx context.Context, workshopID string, n int) error {
	name, err := gcename.HostInstanceName(workshopID, n)
	if err != nil {
		return err
	}
	return p.c.DeleteVM(ctx, p.cfg.Zone, name)
}

// ListHosts lists the VMs in the zone labelled clarateach=workshop-host
// (and ExtraLabels).
func (p *Provisioner) ListHosts(ctx context.Context) ([]provision.Host, error) {
	filter := gcename.HostFilter
	for k, v := range p.cfg.ExtraLabels {
		filter += fmt.Sprintf(" labels.%s = %s", k, v)
	}
	ins, err := p.c.ListInstances(ctx, p.cfg.Zone, filter)
	if err != nil {
		return nil, fmt.Errorf("list VMs: %w", err)
	}
	var out []provision.Host
	for i := range ins {
		out = append(out, *p.host(&ins[i]))
	}
	return out, nil
}

// host converts an instance. AgentURL is empty while the VM has no address.
func (p *Provisioner) host(in *gce.Instance) *provision.Host {
	vm := gce.VMFromInstance(in)
	h := &provision.Host{
		WorkshopID: vm.WorkshopID,
		Name:       vm.Name,
		Zone:       vm.Zone,
		State:      HostState(vm.Status),
		Status:     vm.Status,
		CreatedAt:  vm.Created,
		Spot:       vm.Spot,
	}
	if h.WorkshopID == "" {
		h.WorkshopID = strings.TrimPrefix(vm.Name, gcename.InstancePrefix)
	}
	h.Index, _ = strconv.Atoi(in.Labels[gcename.LabelHost])
	h.Index = max(h.Index, 1)
	h.IP = vm.ExternalIP
	if p.cfg.UseInternalIP {
		h.IP = vm.InternalIP
	}
	if h.IP != "" {
		h.AgentURL = "https://" + net.JoinHostPort(h.IP, strconv.Itoa(p.cfg.AgentPort))
	}
	for _, it := range in.Metadata.Items {
		switch it.Key {
		case MetaAgentToken:
			h.AgentToken = it.Value
		case MetaAgentTLSCert:
			h.AgentCert = it.Value
		}
	}
	return h
}
