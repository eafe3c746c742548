// Package gcename holds the naming and labelling conventions of ClaraTeach's
// workshop hosts on Google Compute Engine (instance names, labels, list
// filters) and the resource-name helpers. It imports no GCP client, so the
// server, which names hosts not created yet, does not link one.
package gcename

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Naming and labelling conventions of workshop hosts. The seed's
// `gcloud compute instances list --filter="name~clarateach-fc-ws"` finds
// them by name; ClaraTeach itself finds them by label.
const (
	// InstancePrefix starts every workshop host's name.
	InstancePrefix = "clarateach-fc-ws-"
	// LabelOwner = LabelOwnerValue marks a VM as a ClaraTeach workshop host.
	LabelOwner      = "clarateach"
	LabelOwnerValue = "workshop-host"
	// LabelWorkshop holds the workshop ID.
	LabelWorkshop = "clarateach-workshop"
	// LabelHost holds the host's number within its workshop (1, 2, ...).
	LabelHost = "clarateach-host"
	// NetworkTag is the tag firewall rules target (allow tcp:9090 from the
	// control plane).
	NetworkTag = "clarateach-agent"
	// SnapshotPrefix starts snapshots made by SnapshotInstance.
	SnapshotPrefix = "clarateach-snapshot-"
	// LabelSnapshot = LabelSnapshotValue marks snapshots made by ClaraTeach.
	LabelSnapshot      = "clarateach"
	LabelSnapshotValue = "agent-image"
)

// HostFilter is the Compute list filter that selects workshop hosts.
const HostFilter = "labels." + LabelOwner + " = " + LabelOwnerValue

// NameFilter selects instances by the workshop host name prefix, as the
// seed's --filter="name~clarateach-fc-ws" does (labelled or not).
const NameFilter = "name eq " + InstancePrefix + ".*"

var workshopIDRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,44}[a-z0-9])?$`)

// InstanceName is the VM name of a workshop's host. The ID must be lowercase
// letters, digits and dashes (token.NewID's alphabet), at most 46 characters,
// so the name is a valid GCE name and label value.
func InstanceName(workshopID string) (string, error) {
	if !workshopIDRE.MatchString(workshopID) {
		return "", fmt.Errorf("workshop id %q cannot be used in a GCE instance name (want [a-z0-9-], at most 46 chars)", workshopID)
	}
	return InstancePrefix + workshopID, nil
}

// HostInstanceName is the VM name of host n of a workshop: InstanceName
// for n <= 1 (the seed's name), InstanceName-n for the others. The name
// must stay a valid GCE name (63 characters).
func HostInstanceName(workshopID string, n int) (string, error) {
	name, err := InstanceName(workshopID)
	if err != nil || n <= 1 {
		return name, err
	}
	name += "-" + strconv.Itoa(n)
	if len(name) > 63 {
		return "", fmt.Errorf("workshop id %q is too long for host %d's GCE instance name %s", workshopID, n, name)
	}
	return name, nil
}

// HostName is HostInstanceName, or "" when the workshop ID cannot be part
// of a GCE name (for displays that name a host not created yet).
func HostName(workshopID string, n int) string {
	name, err := HostInstanceName(workshopID, n)
	if err != nil {
		return ""
	}
	return name
}

// RegionOf maps a zone ("us-central1-b") to its region ("us-central1").
func RegionOf(zone string) string {
	if i := strings.LastIndex(zone, "-"); i > 0 {
		return zone[:i]
	}
	return zone
}

// LastSegment returns the part of a resource URL after the last slash
// ("https://.../zones/us-central1-b" → "us-central1-b").
func LastSegment(s string) string {
	if i := strings.LastIndex(s, "/"); i >= 0 {
		return s[i+1:]
	}
	return s
}
