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

	computepb "cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/protobuf/proto"

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
	// (GCP_COMPUTE_ENDPOINT); when set no authentication is used.
	ComputeEndpoint string
	// ClientOptions are extra client options.
	ClientOptions []option.ClientOption

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
	c, err := gce.NewClients(ctx, cfg.Project, cfg.ComputeEndpoint, cfg.ClientOptions...)
	if err != nil {
		return nil, err
	}
	c.MinWaitInterval = cfg.PollInterval
	return &Provisioner{cfg: cfg, c: c}, nil
}

// Name is "gcp".
func (p *Provisioner) Name() string { return "gcp" }

// Close closes the Compute clients.
func (p *Provisioner) Close() error { return p.c.Close() }

// Clients exposes the Compute clients (for the operations CLI).
func (p *Provisioner) Clients() *gce.Clients { return p.c }

// InstanceRequest builds the instance resource EnsureHost inserts.
func (p *Provisioner) InstanceRequest(req provision.Request) (*computepb.Instance, error) {
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
	initParams := &computepb.AttachedDiskInitializeParams{
		SourceSnapshot: proto.String("global/snapshots/" + cfg.SnapshotName),
		DiskType:       proto.String(fmt.Sprintf("zones/%s/diskTypes/%s", cfg.Zone, cfg.DiskType)),
		Labels:         labels,
	}
	if cfg.DiskSizeGB > 0 {
		initParams.DiskSizeGb = proto.Int64(cfg.DiskSizeGB)
	}
	ni := &computepb.NetworkInterface{Network: proto.String(cfg.Network)}
	if cfg.Subnetwork != "" {
		ni.Subnetwork = proto.String(cfg.Subnetwork)
	}
	if !cfg.NoExternalIP {
		ni.AccessConfigs = []*computepb.AccessConfig{{
			Name:        proto.String("External NAT"),
			Type:        proto.String("ONE_TO_ONE_NAT"),
			NetworkTier: proto.String("PREMIUM"),
		}}
	}
	tlsPair, err := hostcert.Generate(name, time.Now())
	if err != nil {
		return nil, fmt.Errorf("gcp provisioner: %w", err)
	}
	meta := []*computepb.Items{
		{Key: proto.String(MetaAgentToken), Value: proto.String(req.AgentToken)},
		{Key: proto.String(MetaAgentTLSCert), Value: proto.String(tlsPair.CertPEM)},
		{Key: proto.String(MetaAgentTLSKey), Value: proto.String(tlsPair.KeyPEM)},
		{Key: proto.String(MetaWorkspaceKey), Value: proto.String(req.WorkspaceKey)},
		{Key: proto.String(MetaWorkshopID), Value: proto.String(req.WorkshopID)},
		{Key: proto.String(MetaSeats), Value: proto.String(strconv.Itoa(req.Seats))},
		{Key: proto.String(MetaBackendURL), Value: proto.String(req.BackendURL)},
	}
	in := &computepb.Instance{
		Name:        proto.String(name),
		Description: proto.String("ClaraTeach workshop host for workshop " + req.WorkshopID),
		MachineType: proto.String(fmt.Sprintf("zones/%s/machineTypes/%s", cfg.Zone, mt)),
		Labels:      labels,
		Tags:        &computepb.Tags{Items: []string{gcename.NetworkTag}},
		Disks: []*computepb.AttachedDisk{{
			Boot:             proto.Bool(true),
			AutoDelete:       proto.Bool(true),
			Type:             proto.String("PERSISTENT"),
			Mode:             proto.String("READ_WRITE"),
			InitializeParams: initParams,
		}},
		NetworkInterfaces:       []*computepb.NetworkInterface{ni},
		AdvancedMachineFeatures: &computepb.AdvancedMachineFeatures{EnableNestedVirtualization: proto.Bool(true)},
		Metadata:                &computepb.Metadata{Items: meta},
	}
	if cfg.UseSpot {
		in.Scheduling = &computepb.Scheduling{
			ProvisioningModel:         proto.String("SPOT"),
			InstanceTerminationAction: proto.String(cfg.SpotTerminationAction),
			AutomaticRestart:          proto.Bool(false),
			OnHostMaintenance:         proto.String("TERMINATE"),
		}
	}
	if cfg.ServiceAccount != "" {
		in.ServiceAccounts = []*computepb.ServiceAccount{{
			Email:  proto.String(cfg.ServiceAccount),
			Scopes: []string{"https://www.googleapis.com/auth/cloud-platform"},
		}}
	}
	return in, nil
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
	name := in.GetName()
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
	defer release()
	op, err := p.c.Instances.Insert(ctx, &computepb.InsertInstanceRequest{
		Project:          p.cfg.Project,
		Zone:             p.cfg.Zone,
		InstanceResource: in,
	})
	if err != nil && !gce.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create VM %s: %w", name, err)
	}
	if err == nil {
		if err := p.c.WaitZoneOp(ctx, p.cfg.Zone, op.Proto()); err != nil {
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
func (p *Provisioner) ready(ctx context.Context, in *computepb.Instance) (*provision.Host, error) {
	name := in.GetName()
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
				return nil, fmt.Errorf("VM %s stopped again after start (%s)", in.GetName(), in.GetStatusMessage())
			}
			op, err := p.c.Instances.Start(ctx, &computepb.StartInstanceRequest{Project: p.cfg.Project, Zone: p.cfg.Zone, Instance: in.GetName()})
			if err == nil {
				err = p.c.WaitZoneOp(ctx, p.cfg.Zone, op.Proto())
			}
			if err != nil {
				return nil, fmt.Errorf("start VM %s: %w", in.GetName(), err)
			}
			started = true
			next, err := p.get(ctx, name)
			if err != nil {
				return nil, fmt.Errorf("get VM %s: %w", name, err)
			}
			in = next
			continue
		case provision.HostSuspended:
			return nil, fmt.Errorf("VM %s is suspended; resume or delete it", in.GetName())
		}
		// PROVISIONING, STAGING, STOPPING, REPAIRING, RUNNING without an
		// address yet: look again shortly.
		t := time.NewTimer(p.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("VM %s not ready (status %s): %w", in.GetName(), in.GetStatus(), ctx.Err())
		case <-t.C:
		}
		next, err := p.get(ctx, in.GetName())
		if err != nil {
			return nil, fmt.Errorf("get VM %s: %w", in.GetName(), err)
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

func (p *Provisioner) get(ctx context.Context, name string) (*computepb.Instance, error) {
	return p.c.Instances.Get(ctx, &computepb.GetInstanceRequest{Project: p.cfg.Project, Zone: p.cfg.Zone, Instance: name})
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
	it := p.c.Instances.List(ctx, &computepb.ListInstancesRequest{
		Project: p.cfg.Project,
		Zone:    p.cfg.Zone,
		Filter:  proto.String(filter),
	})
	var out []provision.Host
	for {
		in, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list VMs: %w", err)
		}
		out = append(out, *p.host(in))
	}
}

// host converts an instance. AgentURL is empty while the VM has no address.
func (p *Provisioner) host(in *computepb.Instance) *provision.Host {
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
	h.Index, _ = strconv.Atoi(in.GetLabels()[gcename.LabelHost])
	h.Index = max(h.Index, 1)
	h.IP = vm.ExternalIP
	if p.cfg.UseInternalIP {
		h.IP = vm.InternalIP
	}
	if h.IP != "" {
		h.AgentURL = "https://" + net.JoinHostPort(h.IP, strconv.Itoa(p.cfg.AgentPort))
	}
	for _, it := range in.GetMetadata().GetItems() {
		switch it.GetKey() {
		case MetaAgentToken:
			h.AgentToken = it.GetValue()
		case MetaAgentTLSCert:
			h.AgentCert = it.GetValue()
		}
	}
	return h
}
