package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/gce"
	"github.com/clarateach/backend/internal/controlplane/gce/gcename"
	"github.com/clarateach/backend/internal/controlplane/provision/gcevm"
)

// vmWorkshopID is the workshop a VM serves: its clarateach-workshop label,
// else what follows the name prefix (VMs made without labels).
func vmWorkshopID(vm gce.VM) string {
	if vm.WorkshopID != "" {
		return vm.WorkshopID
	}
	if id, ok := strings.CutPrefix(vm.Name, gcename.InstancePrefix); ok {
		return id
	}
	return ""
}

func runVMsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newOpFlags("vms list", "[--all-zones] [--json]", `
Lists the workshop VMs of GCP_PROJECT, like the seed's
  gcloud compute instances list --filter="name~clarateach-fc-ws"
Only GCP_ZONE unless --all-zones. IP is the external address (else the
internal one); WORKSHOP is the clarateach-workshop label (or the name suffix).
'clarateach gc --dry-run' shows which of them belong to no live workshop.`, stderr)
	allZones := f.Bool("all-zones", false, "list the VMs of every zone")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	return withGCP(ctx, stderr, func(cfg *config.Config, c *gce.Clients) error {
		vms, err := c.ListVMsFilter(ctx, gcename.NameFilter)
		if err != nil {
			return err
		}
		out := []gce.VM{}
		for _, vm := range vms {
			if *allZones || vm.Zone == cfg.GCPZone {
				if vm.WorkshopID == "" {
					vm.WorkshopID = vmWorkshopID(vm)
				}
				out = append(out, vm)
			}
		}
		scope := cfg.GCPZone
		if *allZones {
			scope = "all"
		}
		if f.json {
			return writeJSON(stdout, map[string]any{"project": cfg.GCPProject, "zone": scope, "vms": out})
		}
		if len(out) == 0 {
			where := "zone " + cfg.GCPZone
			if *allZones {
				where = "any zone"
			}
			fmt.Fprintf(stdout, "No workshop VMs in %s of project %s.\n", where, cfg.GCPProject)
			return nil
		}
		t := newTable(stdout, "NAME", "ZONE", "STATUS", "MACHINE", "IP", "WORKSHOP", "CREATED", "NOTE")
		for _, vm := range out {
			ip := vm.ExternalIP
			if ip == "" {
				ip = vm.InternalIP
			}
			note := vm.StatusMessage
			if vm.Spot {
				note = strings.TrimSpace("spot " + note)
			}
			t.row(vm.Name, vm.Zone, vm.Status, vm.MachineType, ip, vm.WorkshopID, stamp(vm.Created), note)
		}
		return t.flush()
	})
}

// ---------------------------------------------------------------------------
// snapshots

// snapshotRow is a snapshot with whether it is the configured one.
type snapshotRow struct {
	gce.Snapshot
	InUse bool `json:"in_use"` // it is FC_SNAPSHOT_NAME
}

func runSnapshotsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newOpFlags("snapshots list", "[--prefix P] [--json]", `
Lists the snapshots whose name starts with the prefix, newest first (by
creationTimestamp), like the seed's
  gcloud compute snapshots list --filter="name~clara" --sort-by=~creationTimestamp
IN USE marks FC_SNAPSHOT_NAME, the image new workshop VMs boot from.`, stderr)
	prefix := f.String("prefix", "clara", "name prefix ('' = every snapshot)")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	return withGCP(ctx, stderr, func(cfg *config.Config, c *gce.Clients) error {
		snaps, err := c.ListSnapshots(ctx, *prefix)
		if err != nil {
			return err
		}
		rows := []snapshotRow{}
		for _, s := range snaps {
			rows = append(rows, snapshotRow{Snapshot: s, InUse: s.Name == cfg.SnapshotName})
		}
		if f.json {
			return writeJSON(stdout, map[string]any{"prefix": *prefix, "fc_snapshot_name": cfg.SnapshotName, "snapshots": rows})
		}
		if len(rows) == 0 {
			fmt.Fprintf(stdout, "No snapshots named %s* in project %s.\n", *prefix, cfg.GCPProject)
			return nil
		}
		t := newTable(stdout, "NAME", "CREATED", "STATUS", "SIZE", "SOURCE DISK", "IN USE")
		for _, r := range rows {
			inUse := ""
			if r.InUse {
				inUse = "FC_SNAPSHOT_NAME"
			}
			t.row(r.Name, stamp(r.Created), r.Status, strconv.FormatInt(r.SizeGB, 10)+" GB", r.SourceDisk, inUse)
		}
		return t.flush()
	})
}

func runSnapshotsPrune(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newOpFlags("snapshots prune", "--keep N [--prefix P] [--dry-run] [--json]", `
Deletes the snapshots named <prefix>* except the newest N (by
creationTimestamp), like the seed's
  gcloud compute snapshots list --filter="name~clara" --sort-by=~creationTimestamp \
    --format="value(name)" | tail -n +4 | xargs -I {} gcloud compute snapshots delete {} --quiet
but never FC_SNAPSHOT_NAME (the image new workshop VMs boot from), and with
--dry-run to see first what would go.`, stderr)
	keep := f.Int("keep", 0, "how many of the newest snapshots to keep (required, at least 1)")
	prefix := f.String("prefix", "clara", "only snapshots whose name starts with this (required)")
	dryRun := f.Bool("dry-run", false, "list what would be deleted, delete nothing")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	if *keep < 1 {
		return errors.New("--keep N is required (N >= 1): the newest N snapshots are kept, older ones deleted")
	}
	if *prefix == "" {
		return errors.New("--prefix must not be empty (it selects which snapshots may be deleted)")
	}
	return withGCP(ctx, stderr, func(cfg *config.Config, c *gce.Clients) error {
		var protect []string
		if cfg.SnapshotName != "" {
			protect = []string{cfg.SnapshotName}
		} else {
			fmt.Fprintln(stderr, "note: FC_SNAPSHOT_NAME is not set, so no snapshot is protected beyond the newest --keep")
		}
		res, err := c.PruneSnapshots(ctx, gce.PruneOptions{Prefix: *prefix, Keep: *keep, Protect: protect, DryRun: *dryRun})
		if res.Kept == nil {
			res.Kept = []gce.Snapshot{}
		}
		if res.Deleted == nil {
			res.Deleted = []gce.Snapshot{}
		}
		if f.json {
			out := map[string]any{"prefix": *prefix, "keep": *keep, "protected": protect, "dry_run": res.DryRun,
				"kept": res.Kept, "deleted": res.Deleted}
			if err != nil {
				out["error"] = err.Error()
			}
			if jerr := writeJSON(stdout, out); jerr != nil {
				return jerr
			}
			return err
		}
		if len(res.Kept)+len(res.Deleted) > 0 {
			gone := "deleted"
			if res.DryRun {
				gone = "would delete"
			}
			t := newTable(stdout, "ACTION", "NAME", "CREATED", "WHY")
			for i, s := range res.Kept {
				// Kept is newest first: its first Keep entries are the
				// newest overall, any later one is kept for being in use.
				var why []string
				if i < *keep {
					why = append(why, "newest "+strconv.Itoa(*keep))
				}
				if slices.Contains(protect, s.Name) {
					why = append(why, "in use (FC_SNAPSHOT_NAME)")
				}
				t.row("keep", s.Name, stamp(s.Created), strings.Join(why, ", "))
			}
			for _, s := range res.Deleted {
				t.row(gone, s.Name, stamp(s.Created), "older than the newest "+strconv.Itoa(*keep))
			}
			if ferr := t.flush(); ferr != nil {
				return ferr
			}
		}
		if err != nil {
			return err
		}
		switch {
		case len(res.Kept)+len(res.Deleted) == 0:
			fmt.Fprintf(stdout, "No snapshots named %s*; nothing to do.\n", *prefix)
		case res.DryRun:
			fmt.Fprintf(stdout, "Dry run: would delete %s, keep %d.\n", plural(len(res.Deleted), "snapshot", "snapshots"), len(res.Kept))
		default:
			fmt.Fprintf(stdout, "Deleted %s, kept %d.\n", plural(len(res.Deleted), "snapshot", "snapshots"), len(res.Kept))
		}
		return nil
	})
}

func runSnapshotsCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newOpFlags("snapshots create", "--vm NAME [--zone Z] [--name N] [--no-restart] [--json]", `
Makes a new agent image from the base VM (the one set up with the host setup
script): stops it so its disk is consistent, snapshots its boot disk as
clarateach-snapshot-YYYYMMDD-HHMMSS (UTC), starts it again, and prints
  FC_SNAPSHOT_NAME=<name>
Set that in .env / the Cloud Run service and restart the backend; new
workshop VMs then boot from it. 'clarateach snapshots prune --keep 3' removes
old ones.`, stderr)
	vm := f.String("vm", "", "the base VM to snapshot (required)")
	zone := f.String("zone", "", "the base VM's zone (default GCP_ZONE)")
	name := f.String("name", "", "snapshot name (default clarateach-snapshot-YYYYMMDD-HHMMSS)")
	noRestart := f.Bool("no-restart", false, "leave the base VM stopped afterwards")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	if *vm == "" {
		return errors.New("--vm NAME is required (the base VM whose disk becomes the agent image)")
	}
	return withGCP(ctx, stderr, func(cfg *config.Config, c *gce.Clients) error {
		z := *zone
		if z == "" {
			z = cfg.GCPZone
		}
		fmt.Fprintf(stderr, "Stopping %s (zone %s), snapshotting its boot disk", *vm, z)
		if !*noRestart {
			fmt.Fprint(stderr, ", starting it again")
		}
		fmt.Fprintln(stderr, "…")
		snap, err := c.SnapshotInstance(ctx, z, *vm, gce.SnapshotOptions{Name: *name, Restart: !*noRestart})
		if err != nil && snap == "" {
			return err
		}
		if f.json {
			out := map[string]any{"fc_snapshot_name": snap, "vm": *vm, "zone": z, "restarted": err == nil && !*noRestart}
			if err != nil {
				out["error"] = err.Error()
			}
			if jerr := writeJSON(stdout, out); jerr != nil {
				return jerr
			}
		} else {
			fmt.Fprintf(stdout, "FC_SNAPSHOT_NAME=%s\n", snap)
		}
		if err != nil {
			return err // the snapshot exists, but the VM did not start again
		}
		fmt.Fprintf(stderr, "Snapshot %s is ready. Set FC_SNAPSHOT_NAME=%s for the backend and restart it.\n", snap, snap)
		return nil
	})
}

// ---------------------------------------------------------------------------
// quota

// hostSizes are the default workshop host sizes (provision/gce.DefaultMachineType).
var hostSizes = []int{10, 20, 30}

// vcpusOf is the vCPU count of a predefined machine type (n2-standard-8 → 8).
func vcpusOf(machineType string) int {
	if i := strings.LastIndex(machineType, "-"); i >= 0 {
		if n, err := strconv.Atoi(machineType[i+1:]); err == nil && n > 0 {
			return n
		}
	}
	return 0
}

type hostFit struct {
	MachineType string `json:"machine_type"`
	VCPUs       int    `json:"vcpus"`
	Seats       string `json:"seats"`
	More        int    `json:"more_hosts"`
}

func runQuota(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newOpFlags("quota", "[--region R] [--json]", `
Shows the CPU quotas of GCP_ZONE's region (every metric with CPU in its
name) and the project's CPUS_ALL_REGIONS: usage, limit and what is free. Like
the seed's
  gcloud compute regions describe us-central1 --format="get(quotas)" | tr ';' '\n' | grep CPU
  gcloud compute project-info describe --format="get(quotas)" | tr ';' '\n' | grep CPUS_ALL_REGIONS
then how many more workshop VMs of each default size fit (the smallest of
the region's CPUS and N2_CPUS and the project's CPUS_ALL_REGIONS headroom).`, stderr)
	region := f.String("region", "", "region (default: GCP_ZONE's region)")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	return withGCP(ctx, stderr, func(cfg *config.Config, c *gce.Clients) error {
		r := *region
		if r == "" {
			r = gcename.RegionOf(cfg.GCPZone)
		}
		rep, err := c.Quota(ctx, r)
		if err != nil {
			return err
		}
		head := rep.CPUHeadroom()
		fits := []hostFit{}
		if head >= 0 {
			seen := map[string]bool{}
			types := []string{}
			if cfg.MachineType != "" {
				types = append(types, cfg.MachineType)
			}
			for _, seats := range hostSizes {
				types = append(types, gcevm.DefaultMachineType(seats))
			}
			for i, mt := range types {
				n := vcpusOf(mt)
				if n == 0 || seen[mt] {
					continue
				}
				seen[mt] = true
				seats := "GCP_MACHINE_TYPE"
				if cfg.MachineType == "" || i > 0 {
					seats = seatRange(mt)
				}
				fits = append(fits, hostFit{MachineType: mt, VCPUs: n, Seats: seats, More: int(math.Floor(math.Max(head, 0) / float64(n)))})
			}
		}
		if rep.Lines == nil {
			rep.Lines = []gce.QuotaLine{}
		}
		if f.json {
			return writeJSON(stdout, map[string]any{"project": cfg.GCPProject, "region": r, "quotas": rep.Lines,
				"cpu_headroom": head, "hosts_that_fit": fits})
		}
		if len(rep.Lines) == 0 {
			fmt.Fprintf(stdout, "No CPU quotas reported for region %s.\n", r)
			return nil
		}
		t := newTable(stdout, "SCOPE", "METRIC", "USAGE", "LIMIT", "FREE")
		for _, l := range rep.Lines {
			t.row(l.Scope, l.Metric, num(l.Usage), num(l.Limit), num(l.Headroom))
		}
		if err := t.flush(); err != nil {
			return err
		}
		if head < 0 {
			fmt.Fprintf(stdout, "\nNeither CPUS for %s nor CPUS_ALL_REGIONS is reported; headroom unknown.\n", r)
			return nil
		}
		fmt.Fprintf(stdout, "\nCPU headroom in %s: %s vCPUs.", r, num(head))
		var parts []string
		for _, h := range fits {
			parts = append(parts, fmt.Sprintf("%d × %s (%s)", h.More, h.MachineType, h.Seats))
		}
		if len(parts) > 0 {
			fmt.Fprintf(stdout, " Room for %s more workshop VMs.", strings.Join(parts, ", or "))
		}
		fmt.Fprintln(stdout)
		return nil
	})
}

// seatRange describes which workshops get a default machine type.
func seatRange(mt string) string {
	switch mt {
	case gcevm.DefaultMachineType(10):
		return "≤10 seats"
	case gcevm.DefaultMachineType(20):
		return "11-20 seats"
	default:
		return ">20 seats"
	}
}

// num prints a quota number without a useless fraction.
func num(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}
