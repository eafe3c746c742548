// Package api holds the control plane's HTTP API types: the JSON bodies
// that docs/openapi.yaml describes, one Go type per named schema there
// (the server's OpenAPI test compares the two). Handlers encode these
// types only, never store rows: the server converts rows explicitly
// (server/convert.go), so a column added to the database never reaches a
// client by accident, and a field of the API is a decision.
//
// The package imports nothing of the control plane; the web app's
// TypeScript types are generated from docs/openapi.yaml.
package api

import "time"

// Health is the body of GET /health.
type Health struct {
	Status        string `json:"status"` // ok, degraded
	Version       string `json:"version"`
	DB            string `json:"db"` // ok, unreachable
	DBEngine      string `json:"db_engine"`
	Provisioner   string `json:"provisioner"`
	SeatsIsolated bool   `json:"seats_isolated"`
	UptimeSeconds int    `json:"uptime_seconds"`
}

// Done is the body of POST /internal/reconcile.
type Done struct {
	Status string `json:"status"` // ok
}

// ---- accounts ---------------------------------------------------------------

// User is an instructor or admin account.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"role"` // instructor, admin
	CreatedAt time.Time `json:"created_at"`
}

// AuthResponse is the answer of register and login.
type AuthResponse struct {
	User  User   `json:"user"`
	Token string `json:"token"`
}

// Quota is an instructor's limits.
type Quota struct {
	RunningWorkshops int `json:"running_workshops"`
	Seats            int `json:"seats"`
	WorkshopHours    int `json:"workshop_hours"`
}

// Usage is what an owner's workshops desired running take.
type Usage struct {
	RunningWorkshops int `json:"running_workshops"`
	Seats            int `json:"seats"`
}

// Me is the body of GET /api/auth/me. Quota is null for admins.
type Me struct {
	User   User   `json:"user"`
	Quota  *Quota `json:"quota"`
	Usage  Usage  `json:"usage"`
	Limits Limits `json:"limits"`
}

// Limits are the server's own limits on what an instructor asks for, so
// forms offer what the server accepts.
type Limits struct {
	// MaxSeats is the most seats one workshop may have (MAX_SEATS).
	MaxSeats int `json:"max_seats"`
}

// SignupInfo is the body of GET /api/auth/signup.
type SignupInfo struct {
	Mode string `json:"mode"` // closed, invite, open
}

// UserRow is an account as the admin's user list shows it. Quota is null
// for admins (no quota).
type UserRow struct {
	User
	Quota       *Quota `json:"quota"`
	QuotaCustom bool   `json:"quota_custom"`
	Usage       Usage  `json:"usage"`
}

// UserList is the body of GET /api/admin/users.
type UserList struct {
	Users        []UserRow `json:"users"`
	DefaultQuota Quota     `json:"default_quota"`
	Signup       string    `json:"signup"`
}

// Invite is an instructor invite (never its token).
type Invite struct {
	ID        string     `json:"id"`
	Email     string     `json:"email,omitempty"` // "": anyone holding the link
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
	UsedBy    string     `json:"used_by,omitempty"`
	Status    string     `json:"status"` // pending, used, expired
}

// InviteCreated is the answer of POST /api/invites: the token is shown
// only here.
type InviteCreated struct {
	Invite Invite `json:"invite"`
	Token  string `json:"token"`
	URL    string `json:"url"`
}

// InviteList is the body of GET /api/invites.
type InviteList struct {
	Invites []Invite `json:"invites"`
}

// Member is a co-instructor (teaching assistant) of a workshop.
type Member struct {
	WorkshopID string    `json:"workshop_id"`
	UserID     string    `json:"user_id"`
	Role       string    `json:"role"` // assistant
	Email      string    `json:"email"`
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"created_at"`
}

// Person names an account briefly (a workshop's owner).
type Person struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

// MemberList is the body of GET /api/workshops/{id}/members.
type MemberList struct {
	Owner   Person   `json:"owner"`
	Members []Member `json:"members"`
}

// ---- workshops --------------------------------------------------------------

// Workshop is a workshop as the instructor sees it.
type Workshop struct {
	ID           string     `json:"id"`
	OwnerID      string     `json:"owner_id"`
	Name         string     `json:"name"`
	Code         string     `json:"code"`
	Seats        int        `json:"seats"`
	SeatsUsed    int        `json:"seats_used"`
	Access       string     `json:"access,omitempty"` // owner, assistant, admin
	Status       string     `json:"status"`
	DesiredState string     `json:"desired_state"`
	StatusReason string     `json:"status_reason,omitempty"`
	Step         string     `json:"step,omitempty"`
	StartsAt     *time.Time `json:"starts_at,omitempty"`
	EndsAt       *time.Time `json:"ends_at,omitempty"`
	LabGuide     string     `json:"lab_guide,omitempty"`
	DiskMB       int        `json:"disk_mb"`
	// Environment is the OCI image the seats run on ("" : the host's root);
	// EnvironmentAuth says a pull secret is kept for it (never shown).
	Environment     string `json:"environment"`
	EnvironmentAuth bool   `json:"environment_auth"`
	// LearnerRoot: the learner is root inside their seat's own namespaces.
	LearnerRoot bool `json:"learner_root"`
	// EgressAllow: the lab servers its seats may reach ("CIDR[:port]").
	EgressAllow   []string   `json:"egress_allow"`
	Provisioner   string     `json:"provisioner,omitempty"`
	AgentURL      string     `json:"agent_url,omitempty"`
	Attempts      int        `json:"attempts,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	DeletedAt     *time.Time `json:"deleted_at,omitempty"`
}

// WorkshopList is the body of GET /api/workshops.
type WorkshopList struct {
	Workshops []Workshop `json:"workshops"`
}

// Host is the machine (GCE VM or local agent) serving a workshop.
type Host struct {
	ID         string    `json:"id"`
	WorkshopID string    `json:"workshop_id"`
	Name       string    `json:"name"`
	Zone       string    `json:"zone,omitempty"`
	IP         string    `json:"ip,omitempty"`
	Status     string    `json:"status"`
	AgentURL   string    `json:"agent_url,omitempty"`
	Steps      []Step    `json:"steps,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Step is one provisioning step with its timing.
type Step struct {
	Name       string     `json:"name"`
	Status     string     `json:"status"` // running, done, failed
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Error      string     `json:"error,omitempty"`
	// Progress of a running step, e.g. "12.5 of 48.0 MB" (pull_image).
	Progress string `json:"progress,omitempty"`
}

// Event is a line of a workshop's history.
type Event struct {
	ID         int64     `json:"id"`
	WorkshopID string    `json:"workshop_id"`
	At         time.Time `json:"at"`
	Level      string    `json:"level"` // info, warn, error
	Step       string    `json:"step,omitempty"`
	Message    string    `json:"message"`
}

// WorkshopDetail is one workshop with its host and newest events.
type WorkshopDetail struct {
	Workshop
	VM *Host `json:"vm,omitempty"`
	// Hosts are every host the workshop has or needs (1..N), by number.
	Hosts  []WorkshopHost `json:"hosts"`
	Events []Event        `json:"events"`
}

// WorkshopHost is one host of a workshop as the class view shows it: the
// seats placed on it (FirstSeat..LastSeat, Seats of them) wait for it
// alone. State is provisioning, ready, unhealthy, failed (Reason says why,
// e.g. the region's CPU quota) or stopped.
type WorkshopHost struct {
	Number    int    `json:"number"`
	Name      string `json:"name"`
	State     string `json:"state"`
	Reason    string `json:"reason,omitempty"`
	FirstSeat int    `json:"first_seat"`
	LastSeat  int    `json:"last_seat"`
	Seats     int    `json:"seats"`
	Zone      string `json:"zone,omitempty"`
	IP        string `json:"ip,omitempty"`
}

// ClassSnapshot is the data of the class view's server-sent "workshop"
// event (GET /api/workshops/{id}/stream): everything the class view shows,
// so the stream is its one source of updates.
type ClassSnapshot struct {
	Workshop      WorkshopDetail `json:"workshop"`
	Seats         []SeatView     `json:"seats"`
	Events        []Event        `json:"events"`
	Registrations []Registration `json:"registrations"`
	// Lab is the workshop's lab and its live progress, when it has one.
	Lab *ClassLab `json:"lab,omitempty"`
}

// ClassDelta is the data of the class stream's "delta" event: what changed
// since the stream's previous event. An absent part is unchanged; seats and
// registrations carry only the entries that changed, by seat number and id.
type ClassDelta struct {
	// Workshop is the whole workshop part when any of it changed (its events
	// are in Events, not here).
	Workshop *WorkshopDetail `json:"workshop,omitempty"`
	// Events is the whole event list when it changed.
	Events *[]Event `json:"events,omitempty"`
	// Seats are the seats that changed or appeared; SeatsRemoved the seat
	// numbers that are gone (the workshop shrank).
	Seats        []SeatView `json:"seats,omitempty"`
	SeatsRemoved []int      `json:"seats_removed,omitempty"`
	// Registrations that changed or are new; RegistrationsRemoved the ids of
	// those that are gone.
	Registrations        []Registration `json:"registrations,omitempty"`
	RegistrationsRemoved []string       `json:"registrations_removed,omitempty"`
	// Lab is the whole lab part when it changed; LabRemoved when the
	// workshop no longer has one.
	Lab        *ClassLab `json:"lab,omitempty"`
	LabRemoved bool      `json:"lab_removed,omitempty"`
}

// Registration is a learner's registration with its seat.
type Registration struct {
	ID           string     `json:"id"`
	WorkshopID   string     `json:"workshop_id"`
	Name         string     `json:"name"`
	Email        string     `json:"email"`
	CreatedAt    time.Time  `json:"created_at"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	Seat         *int       `json:"seat,omitempty"`
	SeatStatus   string     `json:"seat_status,omitempty"`
	LastActivity *time.Time `json:"last_activity,omitempty"`
	// OldCode: the learner holds an old 10-letter access code, no longer
	// accepted; a reissue gives a new one (files kept).
	OldCode bool `json:"old_code,omitempty"`
}

// RegistrationList is the body of GET /api/workshops/{id}/registrations.
type RegistrationList struct {
	Registrations []Registration `json:"registrations"`
}

// RevokePending is the 202 answer of a revoke the host has not confirmed
// yet (it is retried).
type RevokePending struct {
	RevokePending bool   `json:"revoke_pending"`
	Seat          int    `json:"seat"`
	Error         string `json:"error"`
}

// Reissued is the answer of a reissue: the new access code, shown once.
type Reissued struct {
	RegistrationID string `json:"registration_id"`
	Email          string `json:"email"`
	AccessCode     string `json:"access_code"`
	// RevokePending: the host has not confirmed that the old code's
	// tokens are refused (Error says why); Seat is the learner's seat.
	RevokePending bool   `json:"revoke_pending"`
	Seat          int    `json:"seat,omitempty"`
	Error         string `json:"error,omitempty"`
}

// SeatView is one seat of the class view's grid.
type SeatView struct {
	Seat           int        `json:"seat"`
	RegistrationID string     `json:"registration_id,omitempty"`
	LearnerName    string     `json:"learner_name,omitempty"`
	LearnerEmail   string     `json:"learner_email,omitempty"`
	Status         string     `json:"status"` // empty, waiting, ready, connected, idle, down
	LastActivity   *time.Time `json:"last_activity,omitempty"`
	RestartedAt    *time.Time `json:"restarted_at,omitempty"`
	RevokePending  bool       `json:"revoke_pending,omitempty"`
	RevokeError    string     `json:"revoke_error,omitempty"`
}

// SeatList is the body of GET /api/workshops/{id}/seats.
type SeatList struct {
	Seats []SeatView `json:"seats"`
}

// Endpoints are a seat's relay routes.
type Endpoints struct {
	Terminal string `json:"terminal"`
	Files    string `json:"files"`
	Sessions string `json:"sessions"`
}

// WorkspaceAccess is a workspace token for a seat (the instructor's watch
// or take-over).
type WorkspaceAccess struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	Endpoints Endpoints `json:"endpoints"`
}

// ArchivesDeleted is the answer of DELETE /api/workshops/{id}/archives.
type ArchivesDeleted struct {
	Deleted int `json:"deleted"`
}

// ---- learners ---------------------------------------------------------------

// WorkshopRef names a workshop briefly.
type WorkshopRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Registered is the answer of POST /api/register: the access code.
type Registered struct {
	AccessCode string      `json:"access_code"`
	Workshop   WorkshopRef `json:"workshop"`
}

// Learner names the learner of a join.
type Learner struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// JoinWorkshop is the workshop as a learner sees it.
type JoinWorkshop struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Status   string     `json:"status"`
	Step     string     `json:"step,omitempty"`
	LabGuide string     `json:"lab_guide,omitempty"`
	StartsAt *time.Time `json:"starts_at,omitempty"`
	EndsAt   *time.Time `json:"ends_at,omitempty"`
}

// Join is the answer of POST /api/join.
type Join struct {
	// Status is pending (not started yet, being prepared, or the seat's
	// machine is not answering), ready (only when the workshop runs and
	// nothing says the seat's machine is down), or stopped (the
	// instructor stopped the workshop).
	Status string `json:"status"`
	// StoppedByInstructor tells a stopped workshop from one that has not
	// started yet.
	StoppedByInstructor bool         `json:"stopped_by_instructor"`
	Workshop            JoinWorkshop `json:"workshop"`
	Learner             Learner      `json:"learner"`
	Seat                int          `json:"seat,omitempty"`
	Token               string       `json:"token,omitempty"`
	ExpiresAt           *time.Time   `json:"expires_at,omitempty"`
	Endpoints           *Endpoints   `json:"endpoints,omitempty"`
	// MachineStatus is the seat's health as last learned from its agent
	// ("ok", or "down" while it does not answer and is being restarted);
	// omitted when nothing is known. RestartedAt is when the agent last
	// restarted the seat's machine in place (files kept, shells new).
	MachineStatus string     `json:"machine_status,omitempty"`
	RestartedAt   *time.Time `json:"restarted_at,omitempty"`
	// RestoredFrom, when set, is when the work the seat was restored with
	// was saved. It stays until a newer save of the learner's work.
	RestoredFrom *time.Time `json:"restored_from,omitempty"`
}
