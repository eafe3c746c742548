package gce

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/controlplane/gce/gcename"
)

// VM is a workshop host as the operations tooling sees it.
type VM struct {
	Name        string            `json:"name"`
	Zone        string            `json:"zone"`
	Status      string            `json:"status"` // PROVISIONING, STAGING, RUNNING, STOPPING, TERMINATED, ...
	WorkshopID  string            `json:"workshop_id,omitempty"`
	MachineType string            `json:"machine_type"`
	InternalIP  string            `json:"internal_ip,omitempty"`
	ExternalIP  string            `json:"external_ip,omitempty"`
	Spot        bool              `json:"spot"`
	Created     time.Time         `json:"created"`
	Labels      map[string]string `json:"labels,omitempty"`
	// StatusMessage is GCE's note, e.g. "Instance was preempted."
	StatusMessage string `json:"status_message,omitempty"`
}

// VMFromInstance converts a Compute instance.
func VMFromInstance(in *Instance) VM {
	vm := VM{
		Name:          in.Name,
		Zone:          gcename.LastSegment(in.Zone),
		Status:        in.Status,
		WorkshopID:    in.Labels[gcename.LabelWorkshop],
		MachineType:   gcename.LastSegment(in.MachineType),
		Spot:          in.Scheduling.ProvisioningModel == "SPOT" || in.Scheduling.Preemptible,
		Labels:        in.Labels,
		StatusMessage: in.StatusMessage,
	}
	if nis := in.NetworkInterfaces; len(nis) > 0 {
		vm.InternalIP = nis[0].NetworkIP
		if acs := nis[0].AccessConfigs; len(acs) > 0 {
			vm.ExternalIP = acs[0].NatIP
		}
	}
	if t, err := time.Parse(time.RFC3339, in.CreationTimestamp); err == nil {
		vm.Created = t
	}
	return vm
}

// ListVMs lists the workshop hosts (label clarateach=workshop-host) of every
// zone, sorted by zone and name (instances.aggregatedList).
func (c *Clients) ListVMs(ctx context.Context) ([]VM, error) {
	return c.ListVMsFilter(ctx, gcename.HostFilter)
}

// ListVMsFilter is ListVMs with any Compute list filter, e.g. gcename.NameFilter to
// also find hosts created without labels (by the seed's system).
func (c *Clients) ListVMsFilter(ctx context.Context, filter string) ([]VM, error) {
	ins, err := c.AggregatedListInstances(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("list workshop VMs: %w", err)
	}
	out := make([]VM, 0, len(ins))
	for i := range ins {
		out = append(out, VMFromInstance(&ins[i]))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Zone != out[j].Zone {
			return out[i].Zone < out[j].Zone
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// ListZoneVMs lists the workshop hosts of one zone (instances.list).
func (c *Clients) ListZoneVMs(ctx context.Context, zone string) ([]VM, error) {
	ins, err := c.ListInstances(ctx, zone, gcename.HostFilter)
	if err != nil {
		return nil, fmt.Errorf("list workshop VMs in %s: %w", zone, err)
	}
	var out []VM
	for i := range ins {
		out = append(out, VMFromInstance(&ins[i]))
	}
	return out, nil
}

// DeleteVM deletes an instance and waits for it to be gone. An instance that
// does not exist counts as deleted.
func (c *Clients) DeleteVM(ctx context.Context, zone, name string) error {
	op, err := c.DeleteInstance(ctx, zone, name)
	if IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete instance %s: %w", name, err)
	}
	if err := c.WaitZoneOp(ctx, zone, op); err != nil && !IsNotFound(err) {
		return fmt.Errorf("delete instance %s: %w", name, err)
	}
	return nil
}

// ---------------------------------------------------------------------------
// snapshots

// Snapshot is a disk snapshot.
type Snapshot struct {
	Name       string    `json:"name"`
	Created    time.Time `json:"created"`
	Status     string    `json:"status"`
	SourceDisk string    `json:"source_disk,omitempty"`
	SizeGB     int64     `json:"disk_size_gb"`
}

// ListSnapshots lists the snapshots whose name starts with prefix ("" =
// all), newest first (by creationTimestamp, then name).
func (c *Clients) ListSnapshots(ctx context.Context, prefix string) ([]Snapshot, error) {
	filter := ""
	if prefix != "" {
		filter = "name eq " + regexpQuote(prefix) + ".*"
	}
	all, err := c.listSnapshots(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	var out []Snapshot
	for i := range all {
		if !strings.HasPrefix(all[i].Name, prefix) {
			continue // never trust the server-side filter with deletions
		}
		s, err := snapshotFrom(&all[i])
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].Name > out[j].Name
	})
	return out, nil
}

// snapshotFrom converts a snapshot resource.
func snapshotFrom(s *SnapshotResource) (Snapshot, error) {
	t, err := time.Parse(time.RFC3339, s.CreationTimestamp)
	if err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %s: bad creationTimestamp %q: %w", s.Name, s.CreationTimestamp, err)
	}
	return Snapshot{Name: s.Name, Created: t, Status: s.Status,
		SourceDisk: gcename.LastSegment(s.SourceDisk), SizeGB: s.DiskSizeGB}, nil
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// PruneOptions select what PruneSnapshots deletes.
type PruneOptions struct {
	// Prefix selects snapshots by name ("clara" as in the seed's
	// --filter="name~clara"; "clarateach-snapshot-" for ClaraTeach's own).
	// Required: an empty prefix is refused.
	Prefix string
	// Keep is how many of the newest matching snapshots survive (>= 1).
	Keep int
	// Protect names snapshots never deleted, whatever their age; pass the
	// configured FC_SNAPSHOT_NAME so new workshops can still boot.
	Protect []string
	// DryRun lists what would be deleted without deleting.
	DryRun bool
}

// PruneResult says what was kept and deleted (or would be, in a dry run).
type PruneResult struct {
	Kept    []Snapshot `json:"kept"`
	Deleted []Snapshot `json:"deleted"`
	DryRun  bool       `json:"dry_run"`
}

// PruneSnapshots deletes the matching snapshots beyond the newest Keep, like
// the seed's `gcloud compute snapshots list ... | tail -n +4 | xargs ...
// delete`, but never a protected one, and with a dry-run mode.
func (c *Clients) PruneSnapshots(ctx context.Context, o PruneOptions) (PruneResult, error) {
	res := PruneResult{DryRun: o.DryRun}
	if o.Prefix == "" {
		return res, errors.New("prune snapshots: a name prefix is required")
	}
	if o.Keep < 1 {
		return res, fmt.Errorf("prune snapshots: keep must be at least 1 (got %d)", o.Keep)
	}
	snaps, err := c.ListSnapshots(ctx, o.Prefix)
	if err != nil {
		return res, err
	}
	protected := map[string]bool{}
	for _, p := range o.Protect {
		protected[p] = true
	}
	for i, s := range snaps {
		if i < o.Keep || protected[s.Name] {
			res.Kept = append(res.Kept, s)
			continue
		}
		res.Deleted = append(res.Deleted, s)
	}
	if o.DryRun {
		return res, nil
	}
	for i, s := range res.Deleted {
		op, err := c.DeleteSnapshot(ctx, s.Name)
		if err == nil {
			err = c.WaitGlobalOp(ctx, op)
		}
		if err != nil && !IsNotFound(err) {
			res.Deleted = res.Deleted[:i]
			return res, fmt.Errorf("delete snapshot %s: %w", s.Name, err)
		}
	}
	return res, nil
}

// SnapshotOptions control SnapshotInstance.
type SnapshotOptions struct {
	// Name of the new snapshot; default gcename.SnapshotPrefix + "YYYYMMDD-HHMMSS"
	// (UTC) from Now.
	Name string
	// Now is the clock for the default name (default time.Now).
	Now func() time.Time
	// Restart starts the instance again afterwards (as the seed's quick
	// reference does).
	Restart bool
}

// SnapshotInstance stops an instance (so its disk is consistent), snapshots
// its boot disk and returns the snapshot's name: the new FC_SNAPSHOT_NAME.
func (c *Clients) SnapshotInstance(ctx context.Context, zone, instance string, o SnapshotOptions) (string, error) {
	name := o.Name
	if name == "" {
		now := time.Now
		if o.Now != nil {
			now = o.Now
		}
		name = gcename.SnapshotPrefix + now().UTC().Format("20060102-150405")
	}
	in, err := c.GetInstance(ctx, zone, instance)
	if err != nil {
		return "", fmt.Errorf("get instance %s: %w", instance, err)
	}
	var disk string
	for _, d := range in.Disks {
		if d.Boot {
			disk = d.Source
		}
	}
	if disk == "" {
		return "", fmt.Errorf("instance %s has no boot disk", instance)
	}
	if in.Status != "TERMINATED" {
		op, err := c.StopInstance(ctx, zone, instance)
		if err == nil {
			err = c.WaitZoneOp(ctx, zone, op)
		}
		if err != nil {
			return "", fmt.Errorf("stop instance %s: %w", instance, err)
		}
	}
	op, err := c.InsertSnapshot(ctx, &SnapshotResource{
		Name:        name,
		SourceDisk:  disk,
		Description: "ClaraTeach agent image from " + instance,
		Labels:      map[string]string{gcename.LabelSnapshot: gcename.LabelSnapshotValue},
	})
	if err == nil {
		err = c.WaitGlobalOp(ctx, op)
	}
	if err != nil {
		return "", fmt.Errorf("snapshot disk %s: %w", gcename.LastSegment(disk), err)
	}
	if o.Restart {
		op, err := c.StartInstance(ctx, zone, instance)
		if err == nil {
			err = c.WaitZoneOp(ctx, zone, op)
		}
		if err != nil {
			return name, fmt.Errorf("snapshot %s created, but restarting %s failed: %w", name, instance, err)
		}
	}
	return name, nil
}

// ---------------------------------------------------------------------------
// quota

// QuotaLine is one quota metric.
type QuotaLine struct {
	Scope    string  `json:"scope"` // region name or "project"
	Metric   string  `json:"metric"`
	Usage    float64 `json:"usage"`
	Limit    float64 `json:"limit"`
	Headroom float64 `json:"headroom"`
}

// QuotaReport is the CPU quota picture for a region.
type QuotaReport struct {
	Region string      `json:"region"`
	Lines  []QuotaLine `json:"quotas"`
}

// CPUHeadroom is the number of workshop vCPUs that can still be started
// in the region: the smallest of the region's CPUS, the region's N2_CPUS
// (workshop hosts are n2 machines; the region has that quota where GCE
// counts the family apart) and the project's CPUS_ALL_REGIONS headroom. -1
// when none is known.
func (r QuotaReport) CPUHeadroom() float64 {
	h := -1.0
	for _, l := range r.Lines {
		if (l.Scope == r.Region && (l.Metric == "CPUS" || l.Metric == "N2_CPUS")) || (l.Scope == "project" && l.Metric == "CPUS_ALL_REGIONS") {
			if h < 0 || l.Headroom < h {
				h = l.Headroom
			}
		}
	}
	return h
}

// Line returns the quota line for scope and metric.
func (r QuotaReport) Line(scope, metric string) (QuotaLine, bool) {
	for _, l := range r.Lines {
		if l.Scope == scope && l.Metric == metric {
			return l, true
		}
	}
	return QuotaLine{}, false
}

// Quota reports the CPU quotas of a region (every metric containing "CPU",
// as the seed's `gcloud compute regions describe ... | grep CPU`) and the
// project's CPUS_ALL_REGIONS (the seed's troubleshooting command).
func (c *Clients) Quota(ctx context.Context, region string) (QuotaReport, error) {
	rep := QuotaReport{Region: region}
	reg, err := c.GetRegion(ctx, region)
	if err != nil {
		return rep, fmt.Errorf("get region %s: %w", region, err)
	}
	for _, q := range reg.Quotas {
		if strings.Contains(q.Metric, "CPU") {
			rep.Lines = append(rep.Lines, quotaLine(region, q))
		}
	}
	proj, err := c.GetProject(ctx)
	if err != nil {
		return rep, fmt.Errorf("get project %s: %w", c.Project, err)
	}
	for _, q := range proj.Quotas {
		if q.Metric == "CPUS_ALL_REGIONS" {
			rep.Lines = append(rep.Lines, quotaLine("project", q))
		}
	}
	return rep, nil
}

// quotaLine converts a quota metric of scope.
func quotaLine(scope string, q Quota) QuotaLine {
	return QuotaLine{Scope: scope, Metric: q.Metric, Usage: q.Usage, Limit: q.Limit, Headroom: q.Limit - q.Usage}
}
