package api

import "time"

// ---- previews ---------------------------------------------------------------

// PreviewPort is the body of POST /api/workspaces/{ws}/{seat}/preview.
type PreviewPort struct {
	Port int `json:"port"`
}

// PreviewOpen is a link that opens one port's preview: URL, on the
// preview origin, exchanges its short-lived token for a cookie there and
// goes on to the app's "/" (ExpiresAt is the link's, not the cookie's).
type PreviewOpen struct {
	URL       string    `json:"url"`
	Origin    string    `json:"origin"`
	ExpiresAt time.Time `json:"expires_at"`
}

// PreviewShare is a learner's share link for one port. URL is sent only
// when the share is made (its secret is not kept).
type PreviewShare struct {
	ID        string    `json:"id"`
	Port      int       `json:"port"`
	Origin    string    `json:"origin"`
	CreatedAt time.Time `json:"created_at"`
	URL       string    `json:"url,omitempty"`
}

// PreviewShareList is the body of GET /api/workspaces/{ws}/{seat}/shares.
type PreviewShareList struct {
	Shares []PreviewShare `json:"shares"`
}
