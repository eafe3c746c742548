// Package agentapi holds the wire types of the workshop host agent's
// control API (port 9090): what the agent serves (package host/agent) and
// what its client in the control plane (package controlplane/agentclient)
// reads. They are the contract between the two tiers and nothing else: the
// seat runtime's result (seatruntime.Seat) and the agent's state-file
// record are separate types, converted explicitly, so runtime details
// (directories, runtime-private state) never travel to the control plane.
package agentapi

import "time"

// Health is the body of GET /health.
type Health struct {
	Status        string  `json:"status"`
	Version       string  `json:"version"`
	VMCount       int     `json:"vm_count"` // seats whose workspace daemon really runs
	Capacity      int     `json:"capacity"`
	Runtime       string  `json:"runtime"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	// WarmSeats are seats started ahead of demand, ready to be claimed
	// (sandbox runtime with --warm-seats; not counted in VMCount).
	WarmSeats int `json:"warm_seats"`
}

// Seat is a seat as the agent reports it (GET /vms, GET /vms/{ws}/{seat},
// the answer of POST /vms/).
type Seat struct {
	WorkshopID string `json:"workshop_id"`
	Seat       int    `json:"seat_id"`
	Runtime    string `json:"runtime"`
	VCPUs      int    `json:"vcpus"`
	MemoryMB   int    `json:"memory_mb"`
	DiskMB     int    `json:"disk_mb,omitempty"` // size of the home (0: no limit)
	Image      string `json:"image,omitempty"`   // digest of the seat's image, if any
	// PID is the seat's top process on the host: what an operator looks
	// for in ps, and how a caller tells a seat started again from the one
	// it saw before.
	PID       int       `json:"pid,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Status is "running", or "dead" when the seat's workspace daemon no
	// longer answers (POST /vms/ for it again replaces it).
	Status string `json:"status"`
	// Health is what the agent's seat watcher last found: "ok", or "down"
	// while the seat's daemon does not answer and the agent has not yet
	// repaired it (it restarts such a seat in place, keeping its files).
	Health string `json:"health"`
	// RestartedAt is when the agent last restarted the seat in place (the
	// learner's "machine restarted"; the files were kept, the terminal
	// sessions were not). Empty if never.
	RestartedAt *time.Time `json:"restarted_at,omitempty"`
}

// Seat health values.
const (
	HealthOK   = "ok"
	HealthDown = "down"
)

// Seat statuses.
const (
	StatusRunning = "running"
	StatusDead    = "dead"
)

// MaxSeatID is the highest seat number a workshop has, and so the
// highest seat_id any host of it is asked for: a multi-host workshop's
// host n holds seats ((n-1)*per-host+1)..(n*per-host), so host 2 of a
// 30-per-host workshop is asked for seats 31..60. A host bounds how many
// seats it holds (its capacity), not their numbers.
const MaxSeatID = 1000

// CreateSeatRequest is the body of POST /vms/.
type CreateSeatRequest struct {
	WorkshopID string `json:"workshop_id"`
	SeatID     int    `json:"seat_id"`
	VCPUs      int    `json:"vcpus,omitempty"`
	MemoryMB   int    `json:"memory_mb,omitempty"`
	// DiskMB is the size of the seat's home (the workshop's disk_mb).
	DiskMB int `json:"disk_mb,omitempty"`
	// EgressAllow opens lab servers on private addresses to this seat
	// ("CIDR[:port]" rules; by default seats reach the public internet only).
	EgressAllow []string `json:"egress_allow,omitempty"`
	// Image is the digest (or the reference, for the one last pulled) of
	// an image pulled on this host (POST /images/pull) the seat runs on;
	// empty: the host's own root.
	Image string `json:"image,omitempty"`
	// LearnerRoot makes the learner root inside the seat's own namespaces
	// (sandbox seats) or the guest's root (firecracker seats); the process
	// runtime ignores it.
	LearnerRoot bool `json:"learner_root,omitempty"`
}

// SeatList is the body of GET /vms.
type SeatList struct {
	VMs []Seat `json:"vms"`
}

// Home is a seat home kept on the host (GET /homes).
type Home struct {
	WorkshopID string `json:"workshop_id"`
	Seat       int    `json:"seat_id"`
}

// HomeList is the body of GET /homes.
type HomeList struct {
	Homes []Home `json:"homes"`
}

// DisconnectRequest is the body of POST /vms/{ws}/{seat}/disconnect.
type DisconnectRequest struct {
	// MinGeneration, when set, makes the agent refuse, from now on and
	// across restarts, the seat's workspace tokens whose generation (the
	// token's "gen" claim) is below it, and close only their connections.
	// It never goes down: a lower value than the agent's keeps the agent's.
	// Zero closes every connection of the seat and refuses nothing new.
	MinGeneration int64 `json:"min_generation,omitempty"`
}

// DisconnectResult is the answer to a disconnect.
type DisconnectResult struct {
	Closed int `json:"closed"` // live proxy connections closed
	// MinGeneration is the seat's lowest valid token generation now.
	MinGeneration int64 `json:"min_generation,omitempty"`
}

// RestoreResult is the answer of PUT /vms/{ws}/{seat}/restore (the seat's
// workspace daemon's own answer, relayed).
type RestoreResult struct {
	Files   int64 `json:"files"`
	Bytes   int64 `json:"bytes"`
	Skipped int64 `json:"skipped"`
}

// ExecRequest is the body of the agent's POST /vms/{ws}/{seat}/exec: a lab
// script to run in the seat as the learner.
type ExecRequest struct {
	Script    string `json:"script"`
	TimeoutMS int    `json:"timeout_ms,omitempty"`
	// User is "" or "learner" (the learner, through the seat's workspace
	// daemon), or "root": the seat's own root, root inside the seat's user
	// namespace only (lab setup scripts). A runtime without one answers
	// 501 root_unsupported.
	User string `json:"user,omitempty"`
}

// ExecResult is what a script did. A script that ran is a result whatever
// its exit code; errors are for a seat that could not run it.
type ExecResult struct {
	ExitCode   int    `json:"exit_code"`
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	Truncated  bool   `json:"truncated"`
	TimedOut   bool   `json:"timed_out"`
	DurationMS int64  `json:"duration_ms"`
}

// PullImageRequest is the body of POST /images/pull: pull an image into
// the host's cache (in the background; GET /images/pull?ref= follows it).
type PullImageRequest struct {
	Ref string `json:"ref"`
	// Username and Password authenticate to the registry (a pull
	// secret); none means anonymous.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// GCEToken: authenticate with this host's service account token from
	// the GCE metadata server (Artifact Registry).
	GCEToken bool `json:"gce_token,omitempty"`
}

// Pull states.
const (
	PullRunning = "pulling"
	PullDone    = "done"
	PullFailed  = "failed"
)

// ImagePull is where a pull stands (POST and GET /images/pull).
type ImagePull struct {
	Ref        string `json:"ref"`
	State      string `json:"state"`
	DoneBytes  int64  `json:"done_bytes"`
	TotalBytes int64  `json:"total_bytes"`
	// Digest is the image's digest once pulled: what seats ask for.
	Digest string `json:"digest,omitempty"`
	// Reason names a failure: not_found, unauthorized, wrong_arch,
	// too_big, no_shell, bad_image, or error; Error says more.
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Image is a cached image (GET /images).
type Image struct {
	Ref       string    `json:"ref"`
	Digest    string    `json:"digest"`
	Bytes     int64     `json:"bytes"`
	PulledAt  time.Time `json:"pulled_at"`
	LastUsed  time.Time `json:"last_used"`
	SeatsUsed int       `json:"seats"` // seats running on it now
}

// ImageList is the body of GET /images and the answer of POST
// /images/prune (the images removed).
type ImageList struct {
	Images []Image `json:"images"`
}

// PruneImagesRequest is the body of POST /images/prune: remove images no
// seat uses that were not used for UnusedForSeconds (0: none by age), then
// the least recently used while the disk is short of free space. All
// removes every image no seat runs on.
type PruneImagesRequest struct {
	UnusedForSeconds int64 `json:"unused_for_seconds,omitempty"`
	All              bool  `json:"all,omitempty"`
}
