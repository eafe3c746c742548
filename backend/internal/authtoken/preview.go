package authtoken

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Preview tokens open one port of one seat on the preview origin (a
// learner's web app, served from its own origin). They are signed with a
// key of their own (PreviewKey), so a preview token never opens a
// terminal or the file API, and a workspace token is never a preview
// credential.

// Preview token uses: an open token travels in a URL and is exchanged for
// a cookie token on the preview origin.
const (
	PreviewOpen   = "open"
	PreviewCookie = "cookie"
)

const previewAudience = "clarateach-preview"

// PreviewKey derives the signing key of workshop workshopID's preview
// tokens from WORKSPACE_TOKEN_SECRET (with another label than
// WorkshopKey's, so neither key verifies the other's tokens). It stays on
// the control plane: agents never see preview tokens.
func PreviewKey(secret []byte, workshopID string) []byte {
	return derive(secret, "clarateach/preview-token/v1\x00", workshopID)
}

// PreviewClaims are a preview token's claims.
type PreviewClaims struct {
	WorkshopID string `json:"ws"`
	Seat       int    `json:"seat"`
	Port       int    `json:"port"`
	// Role is the role of the workspace token it was issued for
	// ("learner", "viewer", "instructor"), or "share" for a share link.
	Role string `json:"role"`
	Gen  int64  `json:"gen"`
	// Share is the share link's id (Role "share").
	Share string `json:"share,omitempty"`
	Use   string `json:"use"` // PreviewOpen or PreviewCookie
	jwt.RegisteredClaims
}

// IssuePreview signs c (its registered claims are filled here) for ttl.
func IssuePreview(key []byte, c PreviewClaims, ttl time.Duration, now time.Time) (string, time.Time, error) {
	exp := now.Add(ttl)
	c.RegisteredClaims = jwt.RegisteredClaims{
		Issuer:    issuer,
		Audience:  jwt.ClaimStrings{previewAudience},
		Subject:   c.WorkshopID + "/" + strconv.Itoa(c.Seat) + "/" + strconv.Itoa(c.Port),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-30 * time.Second)),
		ExpiresAt: jwt.NewNumericDate(exp),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign preview token: %w", err)
	}
	return s, exp, nil
}

// VerifyPreview checks a preview token for one use on one port of one
// seat: ErrMismatch when it is valid but for another target or use.
func VerifyPreview(key []byte, tok, workshopID string, seat, port int, use string, now time.Time) (*PreviewClaims, error) {
	var c PreviewClaims
	_, err := jwt.ParseWithClaims(tok, &c, func(t *jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(previewAudience),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, ErrExpired
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if c.WorkshopID != workshopID || c.Seat != seat || c.Port != port || c.Use != use {
		return nil, ErrMismatch
	}
	return &c, nil
}
