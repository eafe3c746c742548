package gcetest

import (
	"bytes"
	"encoding/json"
)

// The fake's resources, written out independently of the client's types
// (package gce) so that a field the client names wrong is not read back by
// the same mistake: requests are decoded strictly (an unknown field is a
// 400, as with the real API's "Invalid JSON payload received. Unknown
// name"). JSON names are the Compute Engine v1 REST API's; int64 and
// uint64 fields travel as strings, as the API sends them.

// Instance is compute#instance.
type Instance struct {
	Kind                    string                   `json:"kind,omitempty"`
	ID                      uint64                   `json:"id,omitempty,string"`
	Name                    string                   `json:"name,omitempty"`
	Description             string                   `json:"description,omitempty"`
	CreationTimestamp       string                   `json:"creationTimestamp,omitempty"`
	Zone                    string                   `json:"zone,omitempty"`
	SelfLink                string                   `json:"selfLink,omitempty"`
	MachineType             string                   `json:"machineType,omitempty"`
	Status                  string                   `json:"status,omitempty"`
	StatusMessage           string                   `json:"statusMessage,omitempty"`
	LastStartTimestamp      string                   `json:"lastStartTimestamp,omitempty"`
	LastStopTimestamp       string                   `json:"lastStopTimestamp,omitempty"`
	Labels                  map[string]string        `json:"labels,omitempty"`
	Tags                    *Tags                    `json:"tags,omitempty"`
	Disks                   []*AttachedDisk          `json:"disks,omitempty"`
	NetworkInterfaces       []*NetworkInterface      `json:"networkInterfaces,omitempty"`
	Metadata                *Metadata                `json:"metadata,omitempty"`
	Scheduling              *Scheduling              `json:"scheduling,omitempty"`
	ServiceAccounts         []*ServiceAccount        `json:"serviceAccounts,omitempty"`
	AdvancedMachineFeatures *AdvancedMachineFeatures `json:"advancedMachineFeatures,omitempty"`
}

// Tags is compute#tags.
type Tags struct {
	Items       []string `json:"items,omitempty"`
	Fingerprint string   `json:"fingerprint,omitempty"`
}

// AttachedDisk is compute#attachedDisk.
type AttachedDisk struct {
	Kind             string                        `json:"kind,omitempty"`
	Index            int                           `json:"index,omitempty"`
	Boot             bool                          `json:"boot,omitempty"`
	AutoDelete       bool                          `json:"autoDelete,omitempty"`
	Type             string                        `json:"type,omitempty"`
	Mode             string                        `json:"mode,omitempty"`
	Source           string                        `json:"source,omitempty"`
	DeviceName       string                        `json:"deviceName,omitempty"`
	InitializeParams *AttachedDiskInitializeParams `json:"initializeParams,omitempty"`
}

// AttachedDiskInitializeParams is the disk an instance insert creates.
type AttachedDiskInitializeParams struct {
	DiskName       string            `json:"diskName,omitempty"`
	SourceSnapshot string            `json:"sourceSnapshot,omitempty"`
	DiskType       string            `json:"diskType,omitempty"`
	DiskSizeGb     int64             `json:"diskSizeGb,omitempty,string"`
	Labels         map[string]string `json:"labels,omitempty"`
}

// NetworkInterface is compute#networkInterface.
type NetworkInterface struct {
	Name          string          `json:"name,omitempty"`
	Network       string          `json:"network,omitempty"`
	Subnetwork    string          `json:"subnetwork,omitempty"`
	NetworkIP     string          `json:"networkIP,omitempty"`
	AccessConfigs []*AccessConfig `json:"accessConfigs,omitempty"`
}

// AccessConfig is compute#accessConfig.
type AccessConfig struct {
	Kind        string `json:"kind,omitempty"`
	Name        string `json:"name,omitempty"`
	Type        string `json:"type,omitempty"`
	NetworkTier string `json:"networkTier,omitempty"`
	NatIP       string `json:"natIP,omitempty"`
}

// Metadata is compute#metadata.
type Metadata struct {
	Kind        string  `json:"kind,omitempty"`
	Fingerprint string  `json:"fingerprint,omitempty"`
	Items       []*Item `json:"items,omitempty"`
}

// Item is one metadata entry.
type Item struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Scheduling is an instance's scheduling; AutomaticRestart is unset
// (nil), true or false, as in the API.
type Scheduling struct {
	ProvisioningModel         string `json:"provisioningModel,omitempty"`
	Preemptible               bool   `json:"preemptible,omitempty"`
	InstanceTerminationAction string `json:"instanceTerminationAction,omitempty"`
	AutomaticRestart          *bool  `json:"automaticRestart,omitempty"`
	OnHostMaintenance         string `json:"onHostMaintenance,omitempty"`
}

// ServiceAccount is an instance's service account.
type ServiceAccount struct {
	Email  string   `json:"email,omitempty"`
	Scopes []string `json:"scopes,omitempty"`
}

// AdvancedMachineFeatures holds enableNestedVirtualization.
type AdvancedMachineFeatures struct {
	EnableNestedVirtualization bool `json:"enableNestedVirtualization,omitempty"`
}

// Disk is compute#disk.
type Disk struct {
	Kind              string   `json:"kind,omitempty"`
	ID                uint64   `json:"id,omitempty,string"`
	Name              string   `json:"name,omitempty"`
	CreationTimestamp string   `json:"creationTimestamp,omitempty"`
	Zone              string   `json:"zone,omitempty"`
	SelfLink          string   `json:"selfLink,omitempty"`
	Status            string   `json:"status,omitempty"`
	SizeGb            int64    `json:"sizeGb,omitempty,string"`
	SourceSnapshot    string   `json:"sourceSnapshot,omitempty"`
	Type              string   `json:"type,omitempty"`
	Users             []string `json:"users,omitempty"`
}

// Snapshot is compute#snapshot.
type Snapshot struct {
	Kind              string            `json:"kind,omitempty"`
	ID                uint64            `json:"id,omitempty,string"`
	Name              string            `json:"name,omitempty"`
	Description       string            `json:"description,omitempty"`
	CreationTimestamp string            `json:"creationTimestamp,omitempty"`
	SelfLink          string            `json:"selfLink,omitempty"`
	Status            string            `json:"status,omitempty"`
	SourceDisk        string            `json:"sourceDisk,omitempty"`
	SourceDiskId      string            `json:"sourceDiskId,omitempty"`
	DiskSizeGb        int64             `json:"diskSizeGb,omitempty,string"`
	StorageBytes      int64             `json:"storageBytes,omitempty,string"`
	Labels            map[string]string `json:"labels,omitempty"`
}

// Operation statuses.
const (
	OpPending = "PENDING"
	OpRunning = "RUNNING"
	OpDone    = "DONE"
)

// Operation is compute#operation.
type Operation struct {
	Kind                string          `json:"kind,omitempty"`
	ID                  uint64          `json:"id,omitempty,string"`
	Name                string          `json:"name,omitempty"`
	Zone                string          `json:"zone,omitempty"`
	OperationType       string          `json:"operationType,omitempty"`
	TargetLink          string          `json:"targetLink,omitempty"`
	TargetID            uint64          `json:"targetId,omitempty,string"`
	Status              string          `json:"status,omitempty"`
	Progress            int             `json:"progress,omitempty"`
	User                string          `json:"user,omitempty"`
	InsertTime          string          `json:"insertTime,omitempty"`
	StartTime           string          `json:"startTime,omitempty"`
	EndTime             string          `json:"endTime,omitempty"`
	CreationTimestamp   string          `json:"creationTimestamp,omitempty"`
	SelfLink            string          `json:"selfLink,omitempty"`
	Error               *OperationError `json:"error,omitempty"`
	HTTPErrorStatusCode int             `json:"httpErrorStatusCode,omitempty"`
	HTTPErrorMessage    string          `json:"httpErrorMessage,omitempty"`
}

// OperationError is a finished operation's errors.
type OperationError struct {
	Errors []OperationErrorItem `json:"errors"`
}

// OperationErrorItem is one of them.
type OperationErrorItem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Quota is one quota metric.
type Quota struct {
	Metric string  `json:"metric"`
	Limit  float64 `json:"limit"`
	Usage  float64 `json:"usage"`
}

// Region is compute#region.
type Region struct {
	Kind     string   `json:"kind"`
	ID       uint64   `json:"id,string"`
	Name     string   `json:"name"`
	Status   string   `json:"status"`
	SelfLink string   `json:"selfLink"`
	Zones    []string `json:"zones"`
	Quotas   []Quota  `json:"quotas"`
}

// Project is compute#project.
type Project struct {
	Kind     string  `json:"kind"`
	ID       uint64  `json:"id,string"`
	Name     string  `json:"name"`
	SelfLink string  `json:"selfLink"`
	Quotas   []Quota `json:"quotas"`
}

type instanceList struct {
	Kind          string      `json:"kind"`
	ID            string      `json:"id"`
	SelfLink      string      `json:"selfLink"`
	Items         []*Instance `json:"items,omitempty"`
	NextPageToken string      `json:"nextPageToken,omitempty"`
}

type instancesScopedList struct {
	Instances []*Instance `json:"instances,omitempty"`
}

type instanceAggregatedList struct {
	Kind     string                          `json:"kind"`
	ID       string                          `json:"id"`
	SelfLink string                          `json:"selfLink"`
	Items    map[string]*instancesScopedList `json:"items"`
}

type snapshotList struct {
	Kind          string      `json:"kind"`
	ID            string      `json:"id"`
	SelfLink      string      `json:"selfLink"`
	Items         []*Snapshot `json:"items,omitempty"`
	NextPageToken string      `json:"nextPageToken,omitempty"`
}

// clone deep-copies a resource (through its JSON, which is all it is).
func clone[T any](v *T) *T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(err)
	}
	return out
}

// decodeStrict decodes a request body, refusing fields the resource does
// not have.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// initParams is a disk's initializeParams, empty when it has none.
func initParams(d *AttachedDisk) AttachedDiskInitializeParams {
	if d.InitializeParams == nil {
		return AttachedDiskInitializeParams{}
	}
	return *d.InitializeParams
}

// MetadataValues returns the instance's metadata items as a map.
func (in *Instance) MetadataValues() map[string]string {
	m := map[string]string{}
	if in.Metadata != nil {
		for _, it := range in.Metadata.Items {
			m[it.Key] = it.Value
		}
	}
	return m
}
