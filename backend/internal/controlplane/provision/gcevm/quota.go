package gcevm

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/clarateach/backend/internal/controlplane/gce"
	"github.com/clarateach/backend/internal/controlplane/gce/gcename"
)

// The CPU quotas, respected before asking. Before it inserts a VM,
// EnsureHost reads the three quotas a VM's vCPUs count against: the
// region's CPUS, the region's quota of the machine's family (N2_CPUS for
// n2-standard-16; families without one, such as E2, count only against
// CPUS) and the project's CPUS_ALL_REGIONS (regions.get, projects.get). It
// refuses the host, with a QuotaError naming the quota, when the vCPUs of
// its machine type do not fit one of them: the VMs being created by this
// provisioner (not yet in the usage GCE reports) count as used, and so do
// the lower-numbered hosts of the same workshop that do not exist yet. So
// when a workshop's hosts ask together and the quota holds only some of
// them, hosts 1..k are created and the hosts past k are refused, each
// clearly: the reconciler records the refusal on the host's record
// (failed, with this reason), the class view shows it, and the next pass
// asks again. A quota that cannot be read (no permission, no such metric)
// is not a refusal: GCE still enforces it, and its QUOTA_EXCEEDED is
// reported as before.

// QuotaError is a host refused for a CPU quota.
type QuotaError struct {
	Host        string  // instance name
	Region      string  // e.g. us-central1
	MachineType string  // e.g. n2-standard-16
	Metric      string  // CPUS, the family's (N2_CPUS) or CPUS_ALL_REGIONS
	Need        float64 // vCPUs the host needs
	Limit       float64 // the quota's limit
	Used        float64 // in use, or being created by this provisioner
	Ahead       float64 // held for this workshop's lower-numbered hosts not created yet
}

func (e *QuotaError) Error() string {
	what, where := "region CPU quota", e.Region
	switch e.Metric {
	case "CPUS", "":
	case "CPUS_ALL_REGIONS":
		what, where = "project CPU quota", "the project"
	default:
		what = "region " + e.Metric + " quota"
	}
	metric := e.Metric
	if metric == "" {
		metric = "CPUS"
	}
	msg := fmt.Sprintf("%s: the host needs %g vCPUs (%s) but %s has %g of its %g %s in use or being created",
		what, e.Need, e.MachineType, where, e.Used, e.Limit, metric)
	if e.Ahead > 0 {
		msg += fmt.Sprintf(", and %g held for the workshop's lower-numbered hosts", e.Ahead)
	}
	if e.Metric == "CPUS_ALL_REGIONS" {
		return msg + "; ask for more CPUS_ALL_REGIONS quota (hosts × vCPUs per host, over every region)"
	}
	return msg + fmt.Sprintf("; ask for more %s quota in the region (hosts × vCPUs per host)", metric)
}

// MachineVCPUs is the vCPU count of a predefined or custom machine type
// ("n2-standard-16": 16, "n2-custom-8-32768": 8), or 0 when the name does
// not say it (e.g. e2-medium).
func MachineVCPUs(machineType string) float64 {
	parts := strings.Split(gcename.LastSegment(machineType), "-")
	if len(parts) < 3 {
		return 0
	}
	s := parts[len(parts)-1]
	if parts[len(parts)-3] == "custom" || parts[1] == "custom" {
		s = parts[len(parts)-2]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0
	}
	return float64(n)
}

// cpuGate holds the vCPUs of the inserts in flight, so that hosts asked
// for together do not all see the same free quota.
type cpuGate struct {
	mu       sync.Mutex
	inflight map[string]flying  // instance name -> what it holds
	base     map[string]float64 // quota metric -> the usage GCE reported when the first in flight started
	// landed are the inserts that left the gate since base was read and
	// reached GCE: they are in the usage GCE reports now, but not in base.
	// Without them, a host that finished while another was still on its
	// way to GCE counted nowhere (base was read before it, the newer usage
	// does not have the other yet), and a third host was asked for beyond
	// the quota.
	landed map[string]flying
}

// flying is an insert in flight: its vCPUs and its family's quota metric.
type flying struct {
	cpus   float64
	family string
}

// cpuQuota is one quota a VM's vCPUs count against.
type cpuQuota struct {
	metric       string
	limit, usage float64
}

// reserveCPUs checks the CPU quotas for instance in (host n of workshop id)
// and holds its vCPUs until release is called (after the insert
// finished), with landed true when the insert reached GCE and did not
// fail there: its vCPUs then count until the gate's next reading. A
// refusal is a *QuotaError.
func (p *Provisioner) reserveCPUs(ctx context.Context, in *gce.Instance, id string, n int) (release func(landed bool), err error) {
	need := MachineVCPUs(in.MachineType)
	region := gcename.RegionOf(p.cfg.Zone)
	if need <= 0 {
		return func(bool) {}, nil
	}
	family := FamilyQuotaMetric(in.MachineType)
	// The quotas and the workshop's VMs are read with the gate held: an
	// insert that finished (released) before the reading is in the usage
	// GCE reports, and none can finish during it. Read outside, a reading
	// taken before host 1's insert finished could meet an empty gate after
	// it, and host 1's vCPUs would count nowhere.
	g := &p.cpus
	g.mu.Lock()
	defer g.mu.Unlock()
	quotas := p.cpuQuotas(ctx, region, family)
	if len(quotas) == 0 {
		return func(bool) {}, nil
	}
	ahead := need * float64(p.missingBelowLocked(ctx, id, n))
	if len(g.inflight) == 0 {
		// Every insert asked before this reading has finished: the usage
		// GCE reports now has them all.
		g.inflight, g.base, g.landed = map[string]flying{}, map[string]float64{}, map[string]flying{}
	}
	for _, q := range quotas {
		if _, ok := g.base[q.metric]; !ok {
			g.base[q.metric] = q.usage
		}
		held := g.base[q.metric]
		for _, set := range []map[string]flying{g.inflight, g.landed} {
			for name, f := range set {
				if name != in.Name && (q.metric != family || f.family == family) {
					held += f.cpus
				}
			}
		}
		used := max(q.usage, held)
		if used+ahead+need > q.limit {
			return nil, &QuotaError{Host: in.Name, Region: region, MachineType: gcename.LastSegment(in.MachineType),
				Metric: q.metric, Need: need, Limit: q.limit, Used: used, Ahead: ahead}
		}
	}
	g.inflight[in.Name] = flying{cpus: need, family: family}
	return func(landed bool) {
		g.mu.Lock()
		defer g.mu.Unlock()
		if f, ok := g.inflight[in.Name]; ok && landed {
			g.landed[in.Name] = f
		}
		delete(g.inflight, in.Name)
	}, nil
}

// FamilyQuotaMetric is the region quota metric of a machine type's family
// ("n2-standard-16": "N2_CPUS", "e2-medium": "E2_CPUS"); a region that has
// no such metric (E2, N1) counts the family only against CPUS.
func FamilyQuotaMetric(machineType string) string {
	fam, _, _ := strings.Cut(gcename.LastSegment(machineType), "-")
	if fam == "custom" {
		fam = "n1"
	}
	return strings.ToUpper(fam) + "_CPUS"
}

// cpuQuotas reads the quotas a VM of family counts against: the region's
// CPUS and family metric, the project's CPUS_ALL_REGIONS. A quota that
// cannot be read is left out.
func (p *Provisioner) cpuQuotas(ctx context.Context, region, family string) []cpuQuota {
	var out []cpuQuota
	if reg, err := p.c.GetRegion(ctx, region); err == nil {
		for _, q := range reg.Quotas {
			if q.Metric == "CPUS" || q.Metric == family {
				out = append(out, cpuQuota{metric: q.Metric, limit: q.Limit, usage: q.Usage})
			}
		}
	}
	if proj, err := p.c.GetProject(ctx); err == nil {
		for _, q := range proj.Quotas {
			if q.Metric == "CPUS_ALL_REGIONS" {
				out = append(out, cpuQuota{metric: q.Metric, limit: q.Limit, usage: q.Usage})
			}
		}
	}
	return out
}

// missingBelowLocked (p.cpus.mu held) counts hosts 1..n-1 of workshop id that neither exist nor
// are being created here: their vCPUs are held for them (lower-numbered
// hosts first). Each is counted at host n's size (the lower hosts are
// full, so at least as big). An error counts none.
func (p *Provisioner) missingBelowLocked(ctx context.Context, id string, n int) int {
	if n <= 1 {
		return 0
	}
	// A list that fails part-way counts the VMs of the pages it got.
	ins, _ := p.c.ListInstances(ctx, p.cfg.Zone, gcename.HostFilter+" labels."+gcename.LabelWorkshop+" = "+id)
	have := map[string]bool{}
	for _, in := range ins {
		have[in.Name] = true
	}
	missing := 0
	for i := 1; i < n; i++ {
		name, err := gcename.HostInstanceName(id, i)
		if err != nil {
			return 0
		}
		if _, flying := p.cpus.inflight[name]; !have[name] && !flying {
			missing++
		}
	}
	return missing
}
