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

// The region's CPU quota, respected before asking. Before it inserts a
// VM, EnsureHost reads the region's CPUS quota (regions.get) and refuses
// the host, with a QuotaError, when the vCPUs of its machine type do not
// fit: the VMs being created by this provisioner (not yet in the usage
// GCE reports) count as used, and so do the lower-numbered hosts of the
// same workshop that do not exist yet. So when a workshop's hosts ask
// together and the quota holds only some of them, hosts 1..k are created
// and the hosts past k are refused, each clearly: the reconciler records
// the refusal on the host's record (failed, with this reason), the class
// view shows it, and the next pass asks again. A quota that cannot be read
// (no permission, no such metric) is not a refusal: GCE still enforces it,
// and its QUOTA_EXCEEDED is reported as before.

// QuotaError is a host refused for the region's CPU quota.
type QuotaError struct {
	Host        string  // instance name
	Region      string  // e.g. us-central1
	MachineType string  // e.g. n2-standard-16
	Need        float64 // vCPUs the host needs
	Limit       float64 // the region's CPUS limit
	Used        float64 // in use, or being created by this provisioner
	Ahead       float64 // held for this workshop's lower-numbered hosts not created yet
}

func (e *QuotaError) Error() string {
	msg := fmt.Sprintf("region CPU quota: the host needs %g vCPUs (%s) but %s has %g of its %g CPUS in use or being created",
		e.Need, e.MachineType, e.Region, e.Used, e.Limit)
	if e.Ahead > 0 {
		msg += fmt.Sprintf(", and %g held for the workshop's lower-numbered hosts", e.Ahead)
	}
	return msg + "; ask for more CPUS quota in the region (hosts × vCPUs per host)"
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
	inflight map[string]float64 // instance name -> vCPUs
	base     float64            // the usage GCE reported when the first of them started
}

// reserveCPUs checks the region's CPUS quota for instance in (host n of
// workshop id) and holds its vCPUs until release is called (after the
// insert finished). A refusal is a *QuotaError.
func (p *Provisioner) reserveCPUs(ctx context.Context, in *gce.Instance, id string, n int) (release func(), err error) {
	need := MachineVCPUs(in.MachineType)
	region := gcename.RegionOf(p.cfg.Zone)
	if need <= 0 {
		return func() {}, nil
	}
	limit, usage, ok := p.regionCPUs(ctx, region)
	if !ok {
		return func() {}, nil
	}
	ahead := need * float64(p.missingBelow(ctx, id, n))
	g := &p.cpus
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inflight == nil {
		g.inflight = map[string]float64{}
	}
	if len(g.inflight) == 0 {
		g.base = usage
	}
	held := g.base
	for name, c := range g.inflight {
		if name != in.Name {
			held += c
		}
	}
	used := max(usage, held)
	if used+ahead+need > limit {
		return nil, &QuotaError{Host: in.Name, Region: region, MachineType: gcename.LastSegment(in.MachineType),
			Need: need, Limit: limit, Used: used, Ahead: ahead}
	}
	g.inflight[in.Name] = need
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		delete(g.inflight, in.Name)
	}, nil
}

// regionCPUs reads the region's CPUS limit and usage; ok is false when
// they cannot be read.
func (p *Provisioner) regionCPUs(ctx context.Context, region string) (limit, usage float64, ok bool) {
	reg, err := p.c.GetRegion(ctx, region)
	if err != nil {
		return 0, 0, false
	}
	for _, q := range reg.Quotas {
		if q.Metric == "CPUS" {
			return q.Limit, q.Usage, true
		}
	}
	return 0, 0, false
}

// missingBelow counts hosts 1..n-1 of workshop id that neither exist nor
// are being created here: their vCPUs are held for them (lower-numbered
// hosts first). Each is counted at host n's size (the lower hosts are
// full, so at least as big). An error counts none.
func (p *Provisioner) missingBelow(ctx context.Context, id string, n int) int {
	if n <= 1 {
		return 0
	}
	// A list that fails part-way counts the VMs of the pages it got.
	ins, _ := p.c.ListInstances(ctx, p.cfg.Zone, gcename.HostFilter+" labels."+gcename.LabelWorkshop+" = "+id)
	have := map[string]bool{}
	for _, in := range ins {
		have[in.Name] = true
	}
	p.cpus.mu.Lock()
	defer p.cpus.mu.Unlock()
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
