package store

import (
	"context"
	"time"

	"github.com/clarateach/backend/internal/authtoken"
)

// PushedFile is a file the instructor pushed into learners' homes: to every
// learner of the workshop (RegistrationID "") or to one. It is kept so that
// a learner who joins later, or whose seat is rebuilt, gets it too.
type PushedFile struct {
	ID             string
	WorkshopID     string
	RegistrationID string // "": every learner
	Path           string // relative to the home
	Content        []byte // empty in lists
	Size           int
	PushedBy       string // the instructor's email
	PushedAt       time.Time
}

// Push delivery states: claimed by a replica that is writing it, or
// written into the learner's home.
const (
	DeliveryRunning = "running"
	DeliveryDone    = "done"
)

// LearnerPush is a pushed file meant for one learner (without its
// content), with where its delivery to that learner is: Delivery "" when
// it was never written into their home.
type LearnerPush struct {
	PushedFile
	Delivery    string
	DeliveredAt *time.Time // when the delivery was claimed or written
}

// Pushes is the part of Store behind pushed files.
type Pushes interface {
	// AddPushedFile stores a push; it fills ID and PushedAt when empty.
	AddPushedFile(ctx context.Context, p *PushedFile) error
	// GetPushedFile returns one push with its content (ErrNotFound).
	GetPushedFile(ctx context.Context, id string) (*PushedFile, error)
	// ListLearnerPushes lists the pushes of a workshop meant for the
	// learner (to everyone, or to them), oldest first, with their
	// delivery to that learner.
	ListLearnerPushes(ctx context.Context, workshopID, registrationID string) ([]LearnerPush, error)
	// ClaimPushDelivery records that a push is being written into the
	// learner's home (status running, at). It is false when the learner
	// already has a delivery row for it, unless that row is still
	// running from before staleBefore (its replica went away): then it is
	// taken over.
	ClaimPushDelivery(ctx context.Context, pushID, registrationID string, at, staleBefore time.Time) (bool, error)
	// FinishPushDelivery marks a delivery done at at (insert or replace).
	FinishPushDelivery(ctx context.Context, pushID, registrationID string, at time.Time) error
	// DeletePushDelivery forgets a delivery that failed, so it is tried
	// again.
	DeletePushDelivery(ctx context.Context, pushID, registrationID string) error
}

// PreparePushedFile fills a new push's ID, PushedAt and Size.
func PreparePushedFile(p *PushedFile, now time.Time) {
	if p.ID == "" {
		p.ID = authtoken.NewID()
	}
	if p.PushedAt.IsZero() {
		p.PushedAt = now
	}
	p.PushedAt = UTC(p.PushedAt)
	p.Size = len(p.Content)
}
