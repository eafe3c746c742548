// Package token holds every secret-derived credential of ClaraTeach in one
// place: workspace tokens (short-lived JWTs naming a workshop and a seat,
// signed with a key derived per workshop), agent tokens, access and workshop
// codes, and constant-time comparison. The control plane issues; the agent
// and the relay verify with the same code.
package authtoken

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Errors returned by Verify.
var (
	ErrInvalid  = errors.New("invalid workspace token")
	ErrExpired  = errors.New("workspace token expired")
	ErrMismatch = errors.New("workspace token is not valid for this seat")
)

const issuer = "clarateach"

// WorkshopKey derives the signing key for one workshop's workspace tokens from
// WORKSPACE_TOKEN_SECRET. A workshop host is given only this derived key, so
// it can verify its own workshop's tokens and nothing else.
func WorkshopKey(secret []byte, workshopID string) []byte {
	return derive(secret, "clarateach/workspace-token/v1\x00", workshopID)
}

// derive is HMAC-SHA256(secret, label + workshopID).
func derive(secret []byte, label, workshopID string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	m.Write([]byte(workshopID))
	return m.Sum(nil)
}

// WorkshopKeyHex is WorkshopKey hex-encoded, for instance metadata and flags.
func WorkshopKeyHex(secret []byte, workshopID string) string {
	return hex.EncodeToString(WorkshopKey(secret, workshopID))
}

// Claims are the claims of a workspace token.
type Claims struct {
	WorkshopID string `json:"ws"`
	Seat       int    `json:"seat"`
	// Role is "learner" (default), "viewer" (read-only terminal) or
	// "instructor" (may take over).
	Role string `json:"role,omitempty"`
	// Gen is the workshop token generation the token was issued at: for a
	// learner, the generation of the seat assignment (store.Seat); for an
	// instructor, the workshop's current one. A revoke or reissue raises the
	// seat's minimum generation above every token issued before it, so
	// "issued before the revoke" is an integer comparison that cannot tie.
	Gen int64 `json:"gen"`
	// By names the instructor an instructor's token (role viewer or
	// instructor) was issued to, as the learner's "watching" notice shows
	// it; empty on learner tokens.
	By string `json:"by,omitempty"`
	jwt.RegisteredClaims
}

// Issue signs a workspace token for a seat, at token generation gen, with
// the workshop's derived key.
func Issue(key []byte, workshopID string, seat int, role string, gen int64, ttl time.Duration, now time.Time) (string, time.Time, error) {
	return IssueBy(key, workshopID, seat, role, gen, "", ttl, now)
}

// IssueBy is Issue for a token that names who holds it (Claims.By).
func IssueBy(key []byte, workshopID string, seat int, role string, gen int64, by string, ttl time.Duration, now time.Time) (string, time.Time, error) {
	if role == "" {
		role = "learner"
	}
	exp := now.Add(ttl)
	c := Claims{
		WorkshopID: workshopID,
		Seat:       seat,
		Role:       role,
		Gen:        gen,
		By:         by,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   workshopID + "/" + strconv.Itoa(seat),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-30 * time.Second)),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign workspace token: %w", err)
	}
	return s, exp, nil
}

// Parse verifies a workspace token's signature and expiry with key and
// returns its claims.
func Parse(key []byte, tok string, now time.Time) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(tok, &c, func(t *jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, ErrExpired
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return &c, nil
}

// Verify parses tok and checks that it names workshopID and seat.
func Verify(key []byte, tok, workshopID string, seat int, now time.Time) (*Claims, error) {
	c, err := Parse(key, tok, now)
	if err != nil {
		return nil, err
	}
	if c.WorkshopID != workshopID || c.Seat != seat {
		return nil, ErrMismatch
	}
	return c, nil
}

// Equal compares two secrets in constant time.
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// Random returns n random bytes from crypto/rand, hex-encoded.
func Random(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}

// NewAgentToken returns a fresh agent token (256 bits).
func NewAgentToken() string { return Random(32) }

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a random identifier of lowercase letters and digits (80 bits),
// valid inside GCE resource names.
func NewID() string {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return idEncoding.EncodeToString(b)
}

// CodeAlphabet has no look-alike characters (no 0/O, 1/I/L, 5/S, 2/Z, 8/B).
const CodeAlphabet = "ACDEFGHJKMNPQRTUVWXY34679"

// Code returns n characters from CodeAlphabet, chosen with crypto/rand.
// Each character carries log2(25) ≈ 4.64 bits.
func Code(n int) string {
	out := make([]byte, n)
	// Random bytes are read a block at a time; a byte of codeByteLimit or
	// more is dropped, so that byte % 25 is uniform over the alphabet.
	var buf [32]byte
	for i := 0; i < n; {
		if _, err := rand.Read(buf[:]); err != nil {
			panic(fmt.Sprintf("crypto/rand: %v", err))
		}
		for _, b := range buf {
			if i == n {
				break
			}
			if int(b) < codeByteLimit {
				out[i] = CodeAlphabet[int(b)%len(CodeAlphabet)]
				i++
			}
		}
	}
	return string(out)
}

// codeByteLimit is the largest multiple of len(CodeAlphabet) a byte can
// hold (250).
const codeByteLimit = 256 - 256%len(CodeAlphabet)

// Code lengths: a workshop code is short enough to read aloud (6 chars, 27.9
// bits); an access code is personal and remembered by the browser (16 chars,
// 74.3 bits, shown in groups of 4), long enough that guessing it is hopeless
// at any rate a server can answer (docs/ARCHITECTURE.md, "Guessing").
// Access codes issued before were 10 chars (46.4 bits, LegacyAccessCodeLen):
// too few to bound guessing below one in a million, so they are no longer
// accepted (without a look-up); the instructor reissues them.
const (
	WorkshopCodeLen     = 6
	AccessCodeLen       = 16
	LegacyAccessCodeLen = 10
)

// NormalizeCode upper-cases a user-typed code and drops spaces and dashes.
func NormalizeCode(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-' || c == '\t':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		}
		out = append(out, c)
	}
	return string(out)
}
