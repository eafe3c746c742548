// Package store is ClaraTeach's persistence: one interface, Store, with a
// PostgreSQL engine (production, pgx v5) and an embedded SQLite engine
// (modernc.org/sqlite, the local default) behind it. Both engines pass the
// same conformance suite (storetest).
package store

import (
	"context"
	"errors"
	"time"
)

// Errors every engine returns (wrapped) so callers can map them to statuses.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
	ErrFull     = errors.New("workshop is full")
	ErrRevoked  = errors.New("registration revoked")
)

// Roles.
const (
	RoleInstructor = "instructor"
	RoleAdmin      = "admin"
)

// Status is what a workshop is; DesiredState is what the instructor asked
// for (running, stopped or deleted) and what the reconciler drives Status
// towards.
type Status string

// Workshop statuses.
const (
	StatusCreated      Status = "created"
	StatusProvisioning Status = "provisioning"
	StatusRunning      Status = "running"
	StatusStopping     Status = "stopping"
	StatusStopped      Status = "stopped"
	StatusDeleted      Status = "deleted"
	StatusError        Status = "error"
)

// DesiredState is what the instructor asked a workshop to be.
type DesiredState string

// Desired states.
const (
	DesiredStopped DesiredState = "stopped"
	DesiredRunning DesiredState = "running"
	DesiredDeleted DesiredState = "deleted"
)

// StepName names a step of provisioning or teardown (the reconciler
// defines them); StepStatus is where one step is.
type StepName string

// StepStatus is the state of one step.
type StepStatus string

// Step statuses.
const (
	StepRunning StepStatus = "running"
	StepDone    StepStatus = "done"
	StepFailed  StepStatus = "failed"
)

// User is an instructor or admin account.
type User struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	PasswordHash string    `json:"-"`
	Role         string    `json:"role"`
	CreatedAt    time.Time `json:"created_at"`
}

// AuthSession is a signed-in instructor session; logout deletes it.
type AuthSession struct {
	ID        string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Workshop is one class.
type Workshop struct {
	ID           string       `json:"id"`
	OwnerID      string       `json:"owner_id"`
	Name         string       `json:"name"`
	Code         string       `json:"code"`
	Seats        int          `json:"seats"`
	Status       Status       `json:"status"`
	DesiredState DesiredState `json:"desired_state"`
	StatusReason string       `json:"status_reason,omitempty"`
	Step         StepName     `json:"step,omitempty"`
	StartsAt     *time.Time   `json:"starts_at,omitempty"`
	EndsAt       *time.Time   `json:"ends_at,omitempty"`
	LabGuide     string       `json:"lab_guide,omitempty"`
	// DiskMB is the size of each seat's home, in MiB (0: the host's
	// default). Writing past it fails inside the seat.
	DiskMB int `json:"disk_mb"`
	// EgressAllow opens lab servers on private addresses to the seats:
	// space-separated rules "CIDR[:port]" (egress.ParseRule), empty
	// for none. The server validates them.
	EgressAllow string `json:"-"`
	// SeatsPerHost is how many seats each of the workshop's hosts holds,
	// fixed when the workshop is created (0: every seat on one host, as
	// before multi-host workshops). Seat s lives on host HostOf(s).
	SeatsPerHost int `json:"seats_per_host"`
	// Environment is the OCI image reference the seats run on (empty: the
	// host's own root).
	Environment string `json:"environment,omitempty"`
	// EnvironmentAuth is the image's registry pull secret, sealed by the
	// server (package sealed); empty for none.
	EnvironmentAuth string `json:"-"`
	// LearnerRoot makes the learner root inside their seat's own
	// namespaces (sandbox seats; docs/ARCHITECTURE.md "Learner root").
	LearnerRoot bool `json:"learner_root,omitempty"`
	// Runtime options, chosen by the provisioner.
	Provisioner string `json:"provisioner,omitempty"`
	// AgentURL is where the workshop's agent listens once provisioned.
	AgentURL string `json:"agent_url,omitempty"`
	// AgentToken authenticates the control plane to the workshop's agent.
	AgentToken string `json:"-"`
	// AgentCert is the workshop host's TLS certificate (PEM), pinned by
	// every client of its agent; empty for a loopback agent (plain HTTP).
	AgentCert string `json:"-"`
	// Attempts counts failed provisioning attempts since the last success;
	// NextAttemptAt is when the reconciler may try again.
	Attempts      int        `json:"attempts,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	DeletedAt     *time.Time `json:"deleted_at,omitempty"`
}

// PullSecret is a workshop's registry pull secret: the JSON that
// Workshop.EnvironmentAuth seals (package sealed, PullSecretPurpose, with
// WORKSPACE_TOKEN_SECRET).
type PullSecret struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// PullSecretPurpose is what a pull secret is sealed for.
const PullSecretPurpose = "workshop pull secret"

// Registration is a learner's registration for a workshop.
type Registration struct {
	ID         string     `json:"id"`
	WorkshopID string     `json:"workshop_id"`
	Name       string     `json:"name"`
	Email      string     `json:"email"`
	AccessCode string     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// Seat statuses.
const (
	SeatAssigned  = "assigned"
	SeatConnected = "connected"
	SeatRevoked   = "revoked"
)

// Seat is a learner seat (a row of the sessions table): one registration's
// place in a workshop, numbered 1..Seats.
type Seat struct {
	ID             string     `json:"id"`
	WorkshopID     string     `json:"workshop_id"`
	RegistrationID string     `json:"registration_id"`
	Seat           int        `json:"seat"`
	Status         string     `json:"status"`
	LastActivity   *time.Time `json:"last_activity,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	// Generation is the workshop token generation this seat was assigned
	// (or its code reissued) with; the workspace tokens of this seat carry
	// it, and the relay accepts a learner token only when they are equal.
	Generation int64 `json:"generation"`
}

// OpenAt reports whether learners may register for and join the workshop
// at `at`: it is not deleted (nor being deleted) and has not ended.
// PostgreSQL's RegisterByCode and JoinByCode check the same in SQL
// (openSQL in the postgres engine).
func (w *Workshop) OpenAt(at time.Time) bool {
	return w.Status != StatusDeleted && w.DesiredState != DesiredDeleted && (w.EndsAt == nil || w.EndsAt.After(at))
}

// SeatJoin is a learner's seat and what a join answer tells about it.
type SeatJoin struct {
	Seat *Seat
	// ResetPending: the seat has a pending revoke with Reset (the
	// workspace of a revoked learner who held it is not reset yet).
	ResetPending bool
	// RestoredFrom is when the learner's newest archive was saved, if it
	// has been restored into a seat (RestoredAt set); nil otherwise.
	RestoredFrom *time.Time
}

// PendingRevoke is a revoke or reissue that the workshop's host has not yet
// confirmed: until it does, the reconciler retries telling the agent to
// refuse the seat's workspace tokens below MinGeneration and to close their
// connections (and, with Reset, to give the seat a fresh workspace).
type PendingRevoke struct {
	WorkshopID string `json:"workshop_id"`
	Seat       int    `json:"seat"`
	// RegistrationID is the learner revoked (a reset saves their home
	// first) or whose code was reissued.
	RegistrationID string    `json:"registration_id"`
	MinGeneration  int64     `json:"min_generation"`
	Reset          bool      `json:"reset"`
	Attempts       int       `json:"attempts"`
	LastError      string    `json:"last_error,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// RegistrationView is a registration with its seat, for the instructor.
type RegistrationView struct {
	Registration
	Seat         *int       `json:"seat,omitempty"`
	SeatStatus   string     `json:"seat_status,omitempty"`
	LastActivity *time.Time `json:"last_activity,omitempty"`
	// OldCode: the learner's access code is an old 10-letter one, no
	// longer accepted; the instructor gives them a new one (files kept).
	// ListRegistrations fills it.
	OldCode bool `json:"old_code,omitempty"`
}

// WorkshopVM is one host (GCE VM or local agent) serving a workshop: host
// 1 is the seed's single host, hosts 2.. are the added hosts of a workshop
// bigger than one host (Workshop.Hosts).
type WorkshopVM struct {
	ID         string `json:"id"`
	WorkshopID string `json:"workshop_id"`
	// HostIndex numbers the workshop's hosts from 1 (0 is written as 1).
	HostIndex int    `json:"host_index"`
	Name      string `json:"name"`
	Zone      string `json:"zone,omitempty"`
	IP        string `json:"ip,omitempty"`
	Status    string `json:"status"`
	AgentURL  string `json:"agent_url,omitempty"`
	// AgentToken and AgentCert are the host's own agent token and TLS
	// certificate, for hosts 2..; host 1 uses the workshop's (AgentToken,
	// AgentCert), as a single-host workshop always has.
	AgentToken string    `json:"-"`
	AgentCert  string    `json:"-"`
	Steps      []Step    `json:"steps,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Step is one provisioning step with its timing.
type Step struct {
	Name       StepName   `json:"name"`
	Status     StepStatus `json:"status"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Error      string     `json:"error,omitempty"`
	// Progress of a running step (pull_image: "12.5 of 48.0 MB").
	Progress string `json:"progress,omitempty"`
}

// Transition is what one step of the reconciler changes (Store.Transition).
type Transition struct {
	// Workshop changes the workshop as UpdateWorkshop's fn does; nil
	// leaves it as it is.
	Workshop func(*Workshop) error
	// Host, when not nil, is written as one of the workshop's host records
	// (as UpsertWorkshopVM, keyed by its HostIndex: its ID and CreatedAt
	// are filled back).
	Host *WorkshopVM
	// DeleteHost removes every host record of the workshop (none is not an
	// error). It is applied before Host.
	DeleteHost bool
	// Events are added in order (as AddEvent: IDs filled back; the
	// WorkshopID is the transition's). Workshop runs before they are
	// written, so it may still complete them (a failure's message names
	// the attempt count it reads).
	Events []*Event
}

// Event is a line of a workshop's history, shown in the class view.
type Event struct {
	ID         int64     `json:"id"`
	WorkshopID string    `json:"workshop_id"`
	At         time.Time `json:"at"`
	Level      string    `json:"level"` // info, warn, error
	Step       StepName  `json:"step,omitempty"`
	Message    string    `json:"message"`
}

// WorkshopFilter selects workshops for ListWorkshops.
type WorkshopFilter struct {
	OwnerID        string // "" = all owners
	IncludeDeleted bool
	// NeedsWork selects workshops whose status differs from their desired
	// state, or that are running and must be watched (for the reconciler).
	NeedsWork bool
}

// Store is the persistence interface. Every method is safe for concurrent use
// by many goroutines and by several server replicas sharing one database.
type Store interface {
	Engine() string // "postgres" or "sqlite"
	Ping(ctx context.Context) error
	Close() error

	// Users. CreateUser fills ID/CreatedAt when empty; a duplicate email
	// (case-insensitive) is ErrConflict.
	CreateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, id string) (*User, error)
	GetUserByEmail(ctx context.Context, email string) (*User, error)
	CountUsers(ctx context.Context) (int, error)

	CreateAuthSession(ctx context.Context, s *AuthSession) error
	GetAuthSession(ctx context.Context, id string) (*AuthSession, error)
	DeleteAuthSession(ctx context.Context, id string) error

	// Workshops. CreateWorkshop fills ID/CreatedAt/UpdatedAt when empty; a
	// duplicate code is ErrConflict (callers retry with a new code).
	CreateWorkshop(ctx context.Context, w *Workshop) error
	GetWorkshop(ctx context.Context, id string) (*Workshop, error)
	GetWorkshopByCode(ctx context.Context, code string) (*Workshop, error)
	ListWorkshops(ctx context.Context, f WorkshopFilter) ([]Workshop, error)
	// UpdateWorkshop reads the workshop, locked against concurrent updates,
	// calls fn to change it, and writes it back in one transaction. fn's
	// error aborts the update and is returned as is. Fewer seats than the
	// registrations, or than a seat number a learner holds, is allowed: the
	// seats held stay, and no new registration or seat is given until there
	// is room within the new count.
	UpdateWorkshop(ctx context.Context, id string, fn func(*Workshop) error) (*Workshop, error)
	// PurgeWorkshop permanently removes a workshop whose status is deleted,
	// with everything that belongs to it (registrations, seats, its host
	// record, events). A workshop that is not deleted yet is ErrConflict.
	PurgeWorkshop(ctx context.Context, id string) error
	// SeatsUsed is the number of non-revoked registrations of a workshop.
	SeatsUsed(ctx context.Context, workshopID string) (int, error)

	// Register is idempotent on (workshop, lower(email)): registering again
	// returns the existing registration with created=false (even when
	// revoked; the caller checks RevokedAt). A new registration when the
	// workshop already has Seats non-revoked registrations is ErrFull. The
	// check and insert are atomic. The events in onCreate are added in the
	// same transaction when, and only when, the registration is created
	// (one commit instead of two on a join storm's hottest path).
	Register(ctx context.Context, r *Registration, onCreate ...Event) (reg *Registration, created bool, err error)
	// RegisterByCode is GetWorkshopByCode and Register in one call (one
	// round trip on PostgreSQL): the workshop whose code is code (exact
	// match; ErrNotFound when there is none) and, when it is open to
	// learners at `at` (Workshop.OpenAt), r registered for it with
	// Register's rules and errors (r's and the events' WorkshopID are the
	// workshop's). For a workshop that is not open, nothing is written and
	// reg is nil. The workshop is returned with Register's errors too.
	RegisterByCode(ctx context.Context, code string, r *Registration, at time.Time, onCreate ...Event) (w *Workshop, reg *Registration, created bool, err error)
	GetRegistration(ctx context.Context, id string) (*Registration, error)
	GetRegistrationByAccessCode(ctx context.Context, code string) (*Registration, error)
	// GetLearner is the registration of an access code (exact match) and
	// its workshop, read together; ErrNotFound when no registration has
	// the code.
	GetLearner(ctx context.Context, accessCode string) (*Registration, *Workshop, error)
	ListRegistrations(ctx context.Context, workshopID string) ([]RegistrationView, error)
	// RevokeRegistration marks the registration revoked and frees its seat.
	// When it held a seat, it takes the workshop's next token generation and
	// records, in the same transaction, a pending revoke (Reset) of that
	// seat with it as MinGeneration, which it returns; otherwise nil.
	RevokeRegistration(ctx context.Context, workshopID, registrationID string) (*PendingRevoke, error)
	// ReissueAccessCode gives a registration that is not revoked a new
	// access code (empty: a fresh one), so the old one stops working. When
	// it holds a seat, the seat takes the workshop's next token generation
	// and a pending revoke (no Reset) records it, in the same transaction.
	// A revoked registration is ErrRevoked.
	ReissueAccessCode(ctx context.Context, workshopID, registrationID, code string) (*Registration, *PendingRevoke, error)
	// TokenGeneration is the workshop's current token generation: every
	// seat assignment, revoke and reissue so far has a value <= it.
	TokenGeneration(ctx context.Context, workshopID string) (int64, error)
	// ListPendingRevokes returns the workshop's unconfirmed revokes, by seat.
	ListPendingRevokes(ctx context.Context, workshopID string) ([]PendingRevoke, error)
	// ConfirmRevoke removes the pending revoke of a seat if its
	// MinGeneration is still minGeneration (a newer one stays pending).
	ConfirmRevoke(ctx context.Context, workshopID string, seat int, minGeneration int64) error
	// FailRevoke counts a failed attempt of a pending revoke, with its error.
	FailRevoke(ctx context.Context, workshopID string, seat int, minGeneration int64, msg string) error

	// AssignSeat gives the registration a seat, atomically: the lowest free
	// seat number in 1..workshop.Seats, never one another registration
	// holds, under any concurrency (concurrent joins take the lowest ones
	// no other join is taking at that moment, so a class fills 1..N).
	// Calling it again returns the same seat. No free seat is ErrFull; a
	// revoked registration is ErrRevoked. A new seat takes the workshop's
	// next token generation (higher than every earlier one of the
	// workshop; PostgreSQL draws it from one sequence for all workshops).
	AssignSeat(ctx context.Context, registrationID string) (*Seat, error)
	// JoinSeat is AssignSeat (same rules and errors) and what a learner's
	// join tells about the seat, in one call (one round trip on
	// PostgreSQL).
	JoinSeat(ctx context.Context, registrationID string) (*SeatJoin, error)
	// JoinByCode is GetLearner and JoinSeat in one call (one round trip on
	// PostgreSQL): the registration of an access code (ErrNotFound when no
	// registration has it), its workshop and, when the registration is not
	// revoked and the workshop is open to learners at `at`
	// (Workshop.OpenAt), JoinSeat's seat, with its rules and errors; nil
	// otherwise, and nothing is written. The registration and workshop are
	// returned with JoinSeat's errors too.
	JoinByCode(ctx context.Context, accessCode string, at time.Time) (*Registration, *Workshop, *SeatJoin, error)
	GetSeat(ctx context.Context, workshopID string, seat int) (*Seat, error)
	ListSeats(ctx context.Context, workshopID string) ([]Seat, error)
	// TouchSeat records activity (and a status such as connected).
	TouchSeat(ctx context.Context, workshopID string, seat int, status string, at time.Time) error

	// Transition writes one step transition of the reconciler in one
	// transaction: the workshop change (read locked, as UpdateWorkshop),
	// the host record (written or deleted) and the events. Nothing is
	// written when any part fails. It returns the workshop as written (as
	// read, when t.Workshop is nil); a missing workshop is ErrNotFound.
	Transition(ctx context.Context, workshopID string, t Transition) (*Workshop, error)

	// Workshop hosts. UpsertWorkshopVM is keyed by (WorkshopID,
	// HostIndex); GetWorkshopVM is host 1; ListWorkshopHosts is every host
	// of one workshop by HostIndex; ListWorkshopVMs every host of every
	// workshop; DeleteWorkshopVM removes all of a workshop's hosts and
	// DeleteWorkshopHost one (a missing one is not an error).
	UpsertWorkshopVM(ctx context.Context, vm *WorkshopVM) error
	GetWorkshopVM(ctx context.Context, workshopID string) (*WorkshopVM, error)
	ListWorkshopHosts(ctx context.Context, workshopID string) ([]WorkshopVM, error)
	ListWorkshopVMs(ctx context.Context) ([]WorkshopVM, error)
	DeleteWorkshopVM(ctx context.Context, workshopID string) error
	DeleteWorkshopHost(ctx context.Context, workshopID string, hostIndex int) error

	// Events, newest last. ListEvents returns those with ID > afterID; when
	// more than limit match, the newest limit of them (still oldest first).
	AddEvent(ctx context.Context, e *Event) error
	ListEvents(ctx context.Context, workshopID string, afterID int64, limit int) ([]Event, error)

	// Archives of learners' homes (the objects are in the blob store; these
	// rows index them). AddArchive fills ID/CreatedAt when empty; an
	// unknown workshop or registration is ErrNotFound. ListArchives is
	// newest first. LatestArchive is the registration's newest archive
	// (ErrNotFound when it has none). Rows go with their workshop when it
	// is purged (the caller deletes the objects first).
	AddArchive(ctx context.Context, a *Archive) error
	ListArchives(ctx context.Context, f ArchiveFilter) ([]Archive, error)
	LatestArchive(ctx context.Context, registrationID string) (*Archive, error)
	MarkArchiveRestored(ctx context.Context, id string, at time.Time) error
	DeleteArchive(ctx context.Context, id string) error

	// Preview share links. CreatePreviewShare fills ID/CreatedAt when
	// empty; ErrNotFound for an unknown workshop, ErrFull when the seat
	// already has MaxPreviewShares. ListPreviewShares is oldest first.
	// DeletePreviewShare is ErrNotFound when the seat has no such share.
	CreatePreviewShare(ctx context.Context, p *PreviewShare) error
	GetPreviewShare(ctx context.Context, id string) (*PreviewShare, error)
	ListPreviewShares(ctx context.Context, workshopID string, seat int) ([]PreviewShare, error)
	DeletePreviewShare(ctx context.Context, workshopID string, seat int, id string) error

	// Leases give one holder exclusive, expiring ownership of a name (a
	// workshop's reconcile work). TryLease succeeds when the lease is free,
	// expired, or already held by holder (then it is extended).
	TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error

	// WatchClass returns a channel that receives a signal soon after each
	// write that changes what the class view of workshopID shows (its
	// workshop, host, events, registrations, seats, seat activity, lab
	// progress, lab setups and hands), made through this store or, on PostgreSQL, through
	// any replica sharing the database (LISTEN/NOTIFY). Signals coalesce: the
	// channel holds at most one, so a burst of writes is one wake-up. They
	// are a hint to read again, not a guarantee: a watcher still re-reads
	// now and then. The channel is closed when ctx ends.
	WatchClass(ctx context.Context, workshopID string) (<-chan struct{}, error)

	Accounts
	Labs
	Pushes
	Failures
	Activity
}

// ---- accounts: quotas, invites, co-instructors ------------------------------

// ErrInvite is what CreateUserWithInvite returns for an invite token that
// is unknown, expired, already used, or made out to another email.
var ErrInvite = errors.New("invite is invalid, expired, used or for another email")

// Quota is an instructor's limits (admins have none). RunningWorkshops and
// Seats bound the owner's workshops whose desired state is running (0 means
// none may run); WorkshopHours bounds how long one started workshop may run
// (at least 1).
type Quota struct {
	RunningWorkshops int `json:"running_workshops"`
	Seats            int `json:"seats"`
	WorkshopHours    int `json:"workshop_hours"`
}

// Usage is what an owner's workshops that are desired running (and not
// deleted) take.
type Usage struct {
	RunningWorkshops int `json:"running_workshops"`
	Seats            int `json:"seats"`
}

// Invite lets one person create an instructor account until ExpiresAt.
// Only the SHA-256 of the token is stored; the token is shown once.
type Invite struct {
	ID        string     `json:"id"`
	TokenHash string     `json:"-"`
	Email     string     `json:"email,omitempty"` // "" = anyone holding the link
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
	UsedBy    string     `json:"used_by,omitempty"`
}

// Member roles.
const MemberAssistant = "assistant"

// Member is a co-instructor (teaching assistant) of a workshop; Email and
// Name are the user's, filled when listing.
type Member struct {
	WorkshopID string    `json:"workshop_id"`
	UserID     string    `json:"user_id"`
	Role       string    `json:"role"`
	Email      string    `json:"email"`
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"created_at"`
}

// Accounts is the part of Store behind sign-up, quotas and co-instructors.
type Accounts interface {
	// ListUsers lists every account, oldest first.
	ListUsers(ctx context.Context) ([]User, error)

	// GetQuota is the user's own quota; ErrNotFound means the server's
	// defaults apply. SetQuota writes it (the user must exist);
	// DeleteQuota returns the user to the defaults (no-op when none).
	GetQuota(ctx context.Context, userID string) (*Quota, error)
	SetQuota(ctx context.Context, userID string, q Quota) error
	DeleteQuota(ctx context.Context, userID string) error
	// OwnerUsage is what the owner's running workshops take now.
	OwnerUsage(ctx context.Context, ownerID string) (Usage, error)
	// CreateWorkshopWithin is CreateWorkshop, with check called first with
	// the owner's usage while the owner is locked: concurrent calls (and
	// UpdateWorkshopWithin calls) for one owner are serialised, so checks
	// against a quota cannot race. check's error aborts and is returned.
	CreateWorkshopWithin(ctx context.Context, w *Workshop, check func(Usage) error) error
	// UpdateWorkshopWithin is UpdateWorkshop under the same owner lock; fn
	// also gets the usage of the owner's OTHER workshops.
	UpdateWorkshopWithin(ctx context.Context, id string, fn func(w *Workshop, others Usage) error) (*Workshop, error)

	// CreateInvite stores an invite (ID and CreatedAt filled when empty).
	CreateInvite(ctx context.Context, inv *Invite) error
	ListInvites(ctx context.Context) ([]Invite, error)
	// DeleteInvite withdraws an unused invite; ErrNotFound when missing.
	DeleteInvite(ctx context.Context, id string) error
	// CreateUserWithInvite uses the invite whose token hashes to tokenHash
	// and creates u in one transaction: an unknown, expired (at now), used
	// or other-email invite is ErrInvite and creates nothing; a taken email
	// is ErrConflict and leaves the invite unused.
	CreateUserWithInvite(ctx context.Context, u *User, tokenHash string, now time.Time) (*Invite, error)

	// AddMember makes a user a co-instructor of a workshop (ErrConflict
	// when already one, ErrNotFound when either is missing).
	AddMember(ctx context.Context, m *Member) error
	// RemoveMember is ErrNotFound when the user is not a member.
	RemoveMember(ctx context.Context, workshopID, userID string) error
	// GetMember is ErrNotFound when the user is not a member.
	GetMember(ctx context.Context, workshopID, userID string) (*Member, error)
	ListMembers(ctx context.Context, workshopID string) ([]Member, error)
	// ListMemberWorkshops lists the workshops (not deleted) a user assists
	// on, newest first.
	ListMemberWorkshops(ctx context.Context, userID string) ([]Workshop, error)
}

// ---- failure clocks: the guessing limits, shared by every replica ----------

// Failures holds the failure clocks behind the guessing limits (wrong codes,
// wrong passwords), so that every control-plane replica counts the same
// failures. A key's clock says how far its failures reach into the future:
// each failure moves it to max(clock, now) + its cost, so time pays failures
// off at one cost per cost and a clock in the past holds nothing
// (docs/ARCHITECTURE.md, "Guessing"). Only failures write.
type Failures interface {
	// AddFailure counts one failure of key at now: the clock becomes
	// min(max(clock, now) + cost, now + limit) and is returned. The update
	// is atomic, so concurrent replicas each get their own place.
	AddFailure(ctx context.Context, key string, now time.Time, cost, limit time.Duration) (time.Time, error)
	// FailureClock is key's clock, or the zero time when it has none.
	FailureClock(ctx context.Context, key string) (time.Time, error)
	// ResetFailures forgets key's failures (no error when it has none).
	ResetFailures(ctx context.Context, key string) error
	// PruneFailures deletes the clocks before `before`, which hold
	// nothing any more, and says how many it deleted.
	PruneFailures(ctx context.Context, before time.Time) (int64, error)
}

// FailureTime converts a stored failure clock (Unix microseconds; 0 = none).
func FailureTime(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}
