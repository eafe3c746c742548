package store

import (
	"time"

	"github.com/clarateach/backend/internal/authtoken"
)

// Archive is one saved copy of a learner's home: a tar.gz in the blob
// store (BlobKey), taken from the seat the registration held.
type Archive struct {
	ID             string `json:"id"`
	WorkshopID     string `json:"workshop_id"`
	RegistrationID string `json:"registration_id"`
	Seat           int    `json:"seat"`
	BlobKey        string `json:"blob_key"`
	SizeBytes      int64  `json:"size_bytes"`
	// Fingerprint is the workspace daemon's cheap summary of the home
	// when it was archived (an unchanged home is not archived again).
	Fingerprint string `json:"fingerprint,omitempty"`
	// Reason is why it was taken: periodic, stop, end, delete, reset, host.
	Reason    string    `json:"reason"`
	CreatedAt time.Time `json:"created_at"`
	// RestoredAt is when it was last unpacked into a seat.
	RestoredAt *time.Time `json:"restored_at,omitempty"`
}

// ArchiveFilter selects archives for ListArchives; empty fields match all.
type ArchiveFilter struct {
	WorkshopID     string
	RegistrationID string
	// CreatedBefore, when set, keeps only archives created before it.
	CreatedBefore *time.Time
}

// PrepareArchive fills an archive's ID and CreatedAt when empty.
func PrepareArchive(a *Archive, now time.Time) {
	if a.ID == "" {
		a.ID = authtoken.NewID()
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now
	}
	a.CreatedAt = UTC(a.CreatedAt)
}
