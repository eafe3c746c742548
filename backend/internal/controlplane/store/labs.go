package store

import (
	"context"
	"sort"
	"time"

	"github.com/clarateach/backend/internal/authtoken"
)

// Lab is one stored version of a lab: its canonical folder as a .tar.gz
// (package lab reads and writes it). Versions are immutable; saving a lab
// again adds the next version.
type Lab struct {
	ID        string
	OwnerID   string
	Version   int
	Title     string
	Content   []byte // empty in lists
	CreatedAt time.Time
}

// WorkshopLab says which lab version a workshop's learners follow.
type WorkshopLab struct {
	WorkshopID string
	LabID      string
	Version    int
	UpdatedAt  time.Time
}

// Step progress states.
const (
	ProgressCurrent = "current" // entered, not passed
	ProgressFailing = "failing" // its last check failed
	ProgressDone    = "done"    // its check passed (or it has none and the learner went on)
)

// Progress is one learner's state on one step of the workshop's lab.
// Progress is keyed by step id, so a new lab version keeps the learner's
// place in the steps it still has.
type Progress struct {
	WorkshopID     string
	RegistrationID string
	StepID         string
	Status         string
	Attempts       int    // checks run
	Message        string // the last check's message
	EnteredAt      time.Time
	CheckedAt      *time.Time
	DoneAt         *time.Time
}

// Hand is a learner's raised hand; open while ClosedAt is nil.
type Hand struct {
	ID             string
	WorkshopID     string
	RegistrationID string
	Question       string
	RaisedAt       time.Time
	PickedBy       string // user id of the instructor who picked it up
	PickedAt       *time.Time
	ClosedAt       *time.Time
}

// Broadcast is the instructor's latest message to a workshop's learners.
type Broadcast struct {
	WorkshopID string
	Message    string
	At         time.Time
}

// Watcher is an instructor's open terminal on a learner's seat, as the
// relay records it: mode "ro" watches, "rw" may type. The relay refreshes
// SeenAt while the connection lasts; a row not seen for WatcherStale is
// left over from a replica that went away and counts for nothing.
type Watcher struct {
	ID         string
	WorkshopID string
	Seat       int
	Name       string // the instructor's name as the learner sees it
	Mode       string // "ro" or "rw"
	Since      time.Time
	SeenAt     time.Time
}

// Watcher modes.
const (
	WatchReadOnly  = "ro"
	WatchReadWrite = "rw"
)

// WatcherStale is how long a watcher row lasts without a refresh.
const WatcherStale = 90 * time.Second

// Lab setup states.
const (
	SetupRunning = "running"
	SetupDone    = "done"
	SetupFailed  = "failed"
)

// LabSetup records a lab version's setup (files copied into the learner's
// home, then the lab's setup script run as the seat's root) for one
// learner: claimed once, so two replicas never run it twice.
type LabSetup struct {
	RegistrationID string
	WorkshopID     string
	LabID          string
	Version        int
	Status         string
	Message        string
	StartedAt      time.Time
	FinishedAt     *time.Time
}

// Labs is the part of Store behind labs, progress, raised hands and
// broadcasts.
type Labs interface {
	// SaveLab stores l as a new lab (version 1) when l.ID is empty, else
	// as the next version of lab l.ID, which must belong to l.OwnerID
	// (ErrNotFound otherwise). It fills ID, Version and CreatedAt.
	SaveLab(ctx context.Context, l *Lab) error
	// GetLab returns one version (0: the newest) with its content.
	GetLab(ctx context.Context, id string, version int) (*Lab, error)
	// ListLabs lists the newest version of each lab of an owner ("" = all
	// owners), newest first, without content.
	ListLabs(ctx context.Context, ownerID string) ([]Lab, error)
	// SetWorkshopLab points a workshop at a lab version (ErrNotFound for an
	// unknown workshop or lab version).
	SetWorkshopLab(ctx context.Context, workshopID, labID string, version int) error
	// GetWorkshopLab is ErrNotFound when the workshop has no lab.
	GetWorkshopLab(ctx context.Context, workshopID string) (*WorkshopLab, error)

	// SaveProgress writes a learner's state on a step (insert or replace).
	SaveProgress(ctx context.Context, p *Progress) error
	// ListProgress lists a workshop's progress rows; registrationID ""
	// means every learner.
	ListProgress(ctx context.Context, workshopID, registrationID string) ([]Progress, error)
	// DeleteProgress forgets a learner's state on a step (a reset).
	DeleteProgress(ctx context.Context, registrationID, stepID string) error

	// RaiseHand opens a hand for the registration, or updates the question
	// of its open one; it fills ID and RaisedAt of a new hand.
	RaiseHand(ctx context.Context, h *Hand) (*Hand, error)
	// PickHand records who picked an open hand up; CloseHand closes it.
	// Both are ErrNotFound for an unknown or closed hand of the workshop.
	PickHand(ctx context.Context, workshopID, id, userID string, at time.Time) (*Hand, error)
	CloseHand(ctx context.Context, workshopID, id string, at time.Time) error
	// ListHands lists a workshop's open hands (registrationID "": all
	// learners'), oldest first.
	ListHands(ctx context.Context, workshopID, registrationID string) ([]Hand, error)

	// SetBroadcast replaces the workshop's broadcast ("" clears it).
	SetBroadcast(ctx context.Context, b *Broadcast) error
	// GetBroadcast is ErrNotFound when there is none.
	GetBroadcast(ctx context.Context, workshopID string) (*Broadcast, error)

	// AddWatcher records an instructor's terminal on a seat (it fills ID,
	// Since and SeenAt when zero) and drops the seat's stale rows.
	AddWatcher(ctx context.Context, w *Watcher) error
	// TouchWatcher refreshes a watcher's SeenAt.
	TouchWatcher(ctx context.Context, id string, at time.Time) error
	// RemoveWatcher forgets a closed terminal.
	RemoveWatcher(ctx context.Context, id string) error
	// ListWatchers lists a seat's watchers seen at or after seenSince,
	// oldest first.
	ListWatchers(ctx context.Context, workshopID string, seat int, seenSince time.Time) ([]Watcher, error)

	// ClaimLabSetup inserts s (status running) unless the learner already
	// has a row for that lab version: claimed false then, with the
	// existing row in s.
	ClaimLabSetup(ctx context.Context, s *LabSetup) (claimed bool, err error)
	// FinishLabSetup records a claimed setup's end (status, message,
	// finished_at).
	FinishLabSetup(ctx context.Context, s *LabSetup) error
	// ListLabSetups lists the setups of a workshop's learners for one lab
	// version (what the progress matrix shows).
	ListLabSetups(ctx context.Context, workshopID, labID string, version int) ([]LabSetup, error)
	// DeleteLabSetup forgets a learner's setup of a lab version, so it
	// runs again.
	DeleteLabSetup(ctx context.Context, registrationID, labID string, version int) error
}

// PrepareWatcher fills a new watcher's ID and times.
func PrepareWatcher(w *Watcher, now time.Time) {
	if w.ID == "" {
		w.ID = authtoken.NewID()
	}
	if w.Since.IsZero() {
		w.Since = now
	}
	if w.SeenAt.IsZero() {
		w.SeenAt = w.Since
	}
	w.Since, w.SeenAt = UTC(w.Since), UTC(w.SeenAt)
}

// PrepareLab fills a new lab's ID and CreatedAt.
func PrepareLab(l *Lab, now time.Time) {
	if l.ID == "" {
		l.ID = authtoken.NewID()
	}
	l.CreatedAt = UTC(now)
}

// PrepareHand fills a new hand's ID and RaisedAt.
func PrepareHand(h *Hand, now time.Time) {
	if h.ID == "" {
		h.ID = authtoken.NewID()
	}
	if h.RaisedAt.IsZero() {
		h.RaisedAt = now
	}
	h.RaisedAt = UTC(h.RaisedAt)
}

// SortLabs orders a lab list newest first (by the listed version's time),
// then by id.
func SortLabs(ls []Lab) {
	sort.Slice(ls, func(i, j int) bool {
		if !ls[i].CreatedAt.Equal(ls[j].CreatedAt) {
			return ls[i].CreatedAt.After(ls[j].CreatedAt)
		}
		return ls[i].ID < ls[j].ID
	})
}
