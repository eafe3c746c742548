package store

import (
	"time"

	"github.com/clarateach/backend/internal/authtoken"
)

// PreviewShare is a learner's share link for one port of their seat: whoever
// holds the link may open that preview until the learner revokes it, or the
// seat stops being held at Generation (a revoke or a reissue).
type PreviewShare struct {
	ID         string `json:"id"`
	WorkshopID string `json:"workshop_id"`
	Seat       int    `json:"seat"`
	Port       int    `json:"port"`
	Generation int64  `json:"generation"`
	// SecretHash is the hex SHA-256 of the link's secret (the secret is
	// shown once, in the link).
	SecretHash string    `json:"secret_hash"`
	CreatedAt  time.Time `json:"created_at"`
}

// MaxPreviewShares is the most share links one seat keeps at once.
const MaxPreviewShares = 10

// PreparePreviewShare fills a share's ID and CreatedAt when empty.
func PreparePreviewShare(p *PreviewShare, now time.Time) {
	if p.ID == "" {
		p.ID = authtoken.NewID()
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now
	}
	p.CreatedAt = UTC(p.CreatedAt)
}
