package authtoken

import (
	"errors"
	"testing"
	"time"
)

func TestPreviewTokens(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Now()
	key := PreviewKey(secret, "ws1")
	tok, _, err := IssuePreview(key, PreviewClaims{WorkshopID: "ws1", Seat: 2, Port: 8000, Role: "learner", Gen: 7, Use: PreviewOpen}, time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := VerifyPreview(key, tok, "ws1", 2, 8000, PreviewOpen, now)
	if err != nil || c.Gen != 7 || c.Role != "learner" {
		t.Fatalf("verify = %+v, %v", c, err)
	}
	for _, tt := range []struct {
		name       string
		ws         string
		seat, port int
		use        string
		at         time.Time
		want       error
	}{
		{"other port", "ws1", 2, 8001, PreviewOpen, now, ErrMismatch},
		{"other seat", "ws1", 3, 8000, PreviewOpen, now, ErrMismatch},
		{"other use", "ws1", 2, 8000, PreviewCookie, now, ErrMismatch},
		{"expired", "ws1", 2, 8000, PreviewOpen, now.Add(2 * time.Minute), ErrExpired},
	} {
		if _, err := VerifyPreview(key, tok, tt.ws, tt.seat, tt.port, tt.use, tt.at); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	// Neither key verifies the other's tokens.
	wsTok, _, _ := Issue(WorkshopKey(secret, "ws1"), "ws1", 2, "learner", 7, time.Minute, now)
	if _, err := VerifyPreview(key, wsTok, "ws1", 2, 0, "", now); !errors.Is(err, ErrInvalid) {
		t.Errorf("a workspace token verified as a preview token: %v", err)
	}
	if _, err := Verify(WorkshopKey(secret, "ws1"), tok, "ws1", 2, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("a preview token verified as a workspace token: %v", err)
	}
	if _, err := VerifyPreview(PreviewKey(secret, "ws2"), tok, "ws1", 2, 8000, PreviewOpen, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("another workshop's key verified it: %v", err)
	}
}
