package gce

// The Compute Engine v1 resources as they cross the wire (JSON, the REST
// API's field names), holding only the fields ClaraTeach sends or reads.
// Fields the API types int64/uint64 travel as JSON strings (",string").
// Nested objects are values marked omitzero, so an unset one is left out
// of a request and reading through one that is absent is safe. They are
// converted to the operations tooling's types by VMFromInstance,
// snapshotFrom and quotaLine.

// Instance is a VM (compute#instance).
type Instance struct {
	Name                    string                  `json:"name,omitempty"`
	Description             string                  `json:"description,omitempty"`
	Zone                    string                  `json:"zone,omitempty"`        // URL of the zone
	MachineType             string                  `json:"machineType,omitempty"` // partial or full URL
	Status                  string                  `json:"status,omitempty"`      // PROVISIONING, STAGING, RUNNING, STOPPING, TERMINATED, ...
	StatusMessage           string                  `json:"statusMessage,omitempty"`
	CreationTimestamp       string                  `json:"creationTimestamp,omitempty"` // RFC 3339
	Labels                  map[string]string       `json:"labels,omitempty"`
	Tags                    Tags                    `json:"tags,omitzero"`
	Disks                   []AttachedDisk          `json:"disks,omitempty"`
	NetworkInterfaces       []NetworkInterface      `json:"networkInterfaces,omitempty"`
	Metadata                Metadata                `json:"metadata,omitzero"`
	Scheduling              Scheduling              `json:"scheduling,omitzero"`
	ServiceAccounts         []ServiceAccount        `json:"serviceAccounts,omitempty"`
	AdvancedMachineFeatures AdvancedMachineFeatures `json:"advancedMachineFeatures,omitzero"`
}

// Tags are an instance's network tags.
type Tags struct {
	Items []string `json:"items,omitempty"`
}

// AttachedDisk is a disk of an instance; InitializeParams creates it with
// the instance.
type AttachedDisk struct {
	Boot             bool                 `json:"boot,omitempty"`
	AutoDelete       bool                 `json:"autoDelete,omitempty"`
	Type             string               `json:"type,omitempty"` // PERSISTENT or SCRATCH
	Mode             string               `json:"mode,omitempty"` // READ_WRITE or READ_ONLY
	Source           string               `json:"source,omitempty"`
	InitializeParams DiskInitializeParams `json:"initializeParams,omitzero"`
}

// DiskInitializeParams describe the disk an insert creates
// (AttachedDiskInitializeParams).
type DiskInitializeParams struct {
	SourceSnapshot string            `json:"sourceSnapshot,omitempty"`
	DiskType       string            `json:"diskType,omitempty"`
	DiskSizeGB     int64             `json:"diskSizeGb,omitempty,string"`
	Labels         map[string]string `json:"labels,omitempty"`
}

// NetworkInterface is a NIC; NetworkIP is its internal address.
type NetworkInterface struct {
	Network       string         `json:"network,omitempty"`
	Subnetwork    string         `json:"subnetwork,omitempty"`
	NetworkIP     string         `json:"networkIP,omitempty"`
	AccessConfigs []AccessConfig `json:"accessConfigs,omitempty"`
}

// AccessConfig is a NIC's external address (NatIP once the VM runs).
type AccessConfig struct {
	Name        string `json:"name,omitempty"`
	Type        string `json:"type,omitempty"` // ONE_TO_ONE_NAT
	NetworkTier string `json:"networkTier,omitempty"`
	NatIP       string `json:"natIP,omitempty"`
}

// Metadata is an instance's metadata (key/value items).
type Metadata struct {
	Items []MetadataItem `json:"items,omitempty"`
}

// MetadataItem is one metadata entry.
type MetadataItem struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Scheduling is an instance's scheduling policy. AutomaticRestart is a
// pointer because the API's default is true: false must be sent.
type Scheduling struct {
	ProvisioningModel         string `json:"provisioningModel,omitempty"` // STANDARD or SPOT
	Preemptible               bool   `json:"preemptible,omitempty"`
	InstanceTerminationAction string `json:"instanceTerminationAction,omitempty"` // STOP or DELETE
	AutomaticRestart          *bool  `json:"automaticRestart,omitempty"`
	OnHostMaintenance         string `json:"onHostMaintenance,omitempty"` // MIGRATE or TERMINATE
}

// ServiceAccount is an account attached to an instance.
type ServiceAccount struct {
	Email  string   `json:"email,omitempty"`
	Scopes []string `json:"scopes,omitempty"`
}

// AdvancedMachineFeatures holds the nested virtualization switch.
type AdvancedMachineFeatures struct {
	EnableNestedVirtualization bool `json:"enableNestedVirtualization,omitempty"`
}

// SnapshotResource is a disk snapshot as the API has it (compute#snapshot;
// Snapshot is the operations tooling's view).
type SnapshotResource struct {
	Name              string            `json:"name,omitempty"`
	Description       string            `json:"description,omitempty"`
	Status            string            `json:"status,omitempty"` // CREATING, READY, DELETING, ...
	SourceDisk        string            `json:"sourceDisk,omitempty"`
	DiskSizeGB        int64             `json:"diskSizeGb,omitempty,string"`
	CreationTimestamp string            `json:"creationTimestamp,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
}

// Operation is a zonal or global operation (compute#operation).
type Operation struct {
	Name                string          `json:"name"`
	OperationType       string          `json:"operationType"` // insert, delete, start, stop, ...
	TargetLink          string          `json:"targetLink"`
	Status              string          `json:"status"` // PENDING, RUNNING, DONE
	Error               OperationErrors `json:"error,omitzero"`
	HTTPErrorStatusCode int             `json:"httpErrorStatusCode,omitempty"`
	HTTPErrorMessage    string          `json:"httpErrorMessage,omitempty"`
}

// OperationErrors are the errors of a finished operation.
type OperationErrors struct {
	Errors []OperationErrorItem `json:"errors,omitempty"`
}

// OperationErrorItem is one of them: Code is e.g. QUOTA_EXCEEDED,
// ZONE_RESOURCE_POOL_EXHAUSTED, RESOURCE_NOT_FOUND.
type OperationErrorItem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Quota is one quota metric of a region or project.
type Quota struct {
	Metric string  `json:"metric"`
	Limit  float64 `json:"limit"`
	Usage  float64 `json:"usage"`
}

// Region is a region with its quotas (compute#region).
type Region struct {
	Name   string  `json:"name"`
	Quotas []Quota `json:"quotas"`
}

// Project is a project with its project-wide quotas (compute#project).
type Project struct {
	Name   string  `json:"name"`
	Quotas []Quota `json:"quotas"`
}

// the list answers: one page each.
type instanceList struct {
	Items         []Instance `json:"items"`
	NextPageToken string     `json:"nextPageToken"`
}

type instanceAggregatedList struct {
	// Items maps a scope ("zones/us-central1-b") to its instances; a scope
	// with none carries a warning instead.
	Items map[string]struct {
		Instances []Instance `json:"instances"`
	} `json:"items"`
	NextPageToken string `json:"nextPageToken"`
}

type snapshotList struct {
	Items         []SnapshotResource `json:"items"`
	NextPageToken string             `json:"nextPageToken"`
}
