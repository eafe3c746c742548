package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/api"
	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/store"
)

const (
	sessionCookie     = "ct_session"
	sessionIssuer     = "clarateach-session"
	minPasswordLen    = 10
	maxPasswordLen    = 72 // bcrypt's limit
	bcryptCost        = 10
	maxNameLen        = 100
	maxEmailLen       = 254
	authBodyLimit     = 4 << 10
	defaultBodyLimit  = 16 << 10
	workshopBodyLimit = 512 << 10
)

// HashPassword hashes a password with bcrypt after checking its length.
func HashPassword(pw string) (string, error) {
	if err := checkPassword(pw); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

func checkPassword(pw string) error {
	if len(pw) < minPasswordLen {
		return apierror.Invalid("password must be at least %d characters", minPasswordLen)
	}
	if len(pw) > maxPasswordLen {
		return apierror.Invalid("password must be at most %d bytes", maxPasswordLen)
	}
	if strings.ContainsRune(pw, 0) {
		return apierror.Invalid("password must not contain NUL bytes")
	}
	return nil
}

func normalizeEmail(s string) (string, error) {
	s = store.NormEmail(s)
	if s == "" {
		return "", apierror.Invalid("email is required")
	}
	if len(s) > maxEmailLen {
		return "", apierror.Invalid("email is too long")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s[strings.LastIndex(s, "@")+1:], ".") && !strings.HasSuffix(s, "@localhost") {
		return "", apierror.Invalid("email %q is not a valid address", s)
	}
	return s, nil
}

func cleanName(s, field string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", apierror.Invalid("%s is required", field)
	}
	if len([]rune(s)) > maxNameLen {
		return "", apierror.Invalid("%s must be at most %d characters", field, maxNameLen)
	}
	if !utf8.ValidString(s) {
		return "", apierror.Invalid("%s must be valid UTF-8", field)
	}
	for _, r := range s {
		if invisible(r) {
			return "", apierror.Invalid("%s must not contain control, formatting or invisible characters (found U+%04X)", field, r)
		}
	}
	return s, nil
}

// invisible reports characters a name must not carry because they do not
// show, or change how the text around them shows: controls (C0, DEL, C1),
// format characters (bidirectional overrides and isolates, zero-width
// spaces and joiners, the BOM, soft hyphen), line and paragraph separators,
// private-use and unassigned code points, and the blank letters that render
// as nothing (Hangul fillers, the braille blank).
func invisible(r rune) bool {
	switch r {
	case 0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800:
		return true
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co, unicode.Cs) ||
		!unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z)
}

func (s *Server) handleRegisterUser(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		Name     string `json:"name"`
		Invite   string `json:"invite"`
	}
	if err := apierror.Decode(w, r, &req, authBodyLimit); err != nil {
		return err
	}
	// Refused before any work (bcrypt) is spent on it.
	if req.Invite == "" && s.signupMode() != config.SignupOpen {
		return apierror.New(http.StatusForbidden, "signup_closed",
			"sign-up on this server is by invitation only; ask an administrator for an invite link")
	}
	email, err := normalizeEmail(req.Email)
	if err != nil {
		return err
	}
	name, err := cleanName(req.Name, "name")
	if err != nil {
		return err
	}
	hash, err := HashPassword(req.Password)
	if err != nil {
		return err
	}
	u := &store.User{Email: email, Name: name, PasswordHash: hash, Role: store.RoleInstructor}
	if req.Invite != "" {
		err = s.createInvitedUser(r, u, req.Invite)
	} else {
		err = s.st.CreateUser(r.Context(), u)
	}
	if err != nil {
		return answer(err, apierror.Conflict("email_taken", "an account with this email already exists"))
	}
	return s.startSession(w, r, u, http.StatusCreated)
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := apierror.Decode(w, r, &req, authBodyLimit); err != nil {
		return err
	}
	email := store.NormEmail(req.Email)
	if strings.ContainsRune(req.Password, 0) {
		return apierror.Invalid("password must not contain NUL bytes")
	}
	done, err := s.loginTurn(r, email)
	if err != nil {
		return tooMany(w, r, err)
	}
	u, err := s.st.GetUserByEmail(r.Context(), email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		done(false)
		return err
	}
	hash := dummyHash
	if u != nil {
		hash = u.PasswordHash
	}
	// Compare even for unknown emails so timing does not reveal accounts.
	wrong := bcrypt.CompareHashAndPassword([]byte(hash), []byte(req.Password)) != nil || u == nil
	done(wrong)
	if wrong {
		return apierror.Unauthorized("wrong email or password")
	}
	return s.startSession(w, r, u, http.StatusOK)
}

var dummyHash = func() string {
	h, _ := bcrypt.GenerateFromPassword([]byte("clarateach-no-such-user"), bcryptCost)
	return string(h)
}()

func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *store.User, status int) error {
	now := s.now()
	sess := &store.AuthSession{ID: authtoken.Random(16), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}
	if err := s.st.CreateAuthSession(r.Context(), sess); err != nil {
		return err
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Issuer:    sessionIssuer,
		Subject:   u.ID,
		ID:        sess.ID,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(sess.ExpiresAt),
	}).SignedString(s.jwtKey)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: tok, Path: "/", HttpOnly: true,
		Secure: strings.HasPrefix(s.cfg.PublicURL, "https://"), SameSite: http.SameSiteLaxMode,
		Expires: sess.ExpiresAt,
	})
	apierror.JSON(w, status, api.AuthResponse{User: apiUser(u), Token: tok})
	return nil
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	if claims, err := s.sessionClaims(r); err == nil {
		if err := s.st.DeleteAuthSession(r.Context(), claims.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, MaxAge: -1, SameSite: http.SameSiteLaxMode})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) error {
	row, err := s.userRow(r.Context(), userFrom(r.Context()))
	if err != nil {
		return err
	}
	apierror.JSON(w, http.StatusOK, api.Me{User: row.User, Quota: row.Quota, Usage: row.Usage, Limits: api.Limits{MaxSeats: s.maxSeats()}})
	return nil
}

func (s *Server) sessionClaims(r *http.Request) (*jwt.RegisteredClaims, error) {
	raw := ""
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		raw = strings.TrimPrefix(h, "Bearer ")
	} else if c, err := r.Cookie(sessionCookie); err == nil {
		raw = c.Value
	}
	if raw == "" {
		return nil, apierror.Unauthorized("sign in first")
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return s.jwtKey, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(sessionIssuer), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.now))
	if err != nil || claims.ID == "" {
		return nil, apierror.Unauthorized("your session is invalid or has expired; sign in again")
	}
	return &claims, nil
}

type ctxKey int

const (
	userKey ctxKey = iota
	workshopKey
)

func userFrom(ctx context.Context) *store.User {
	u, _ := ctx.Value(userKey).(*store.User)
	return u
}

func workshopFrom(ctx context.Context) *store.Workshop {
	w, _ := ctx.Value(workshopKey).(*store.Workshop)
	return w
}

// auth requires a live instructor session.
func (s *Server) auth(next apierror.HandlerFunc) apierror.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		claims, err := s.sessionClaims(r)
		if err != nil {
			return err
		}
		sess, err := s.st.GetAuthSession(r.Context(), claims.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err != nil || sess.UserID != claims.Subject || !s.now().Before(sess.ExpiresAt) {
			return apierror.Unauthorized("your session has ended; sign in again")
		}
		u, err := s.st.GetUser(r.Context(), sess.UserID)
		if err != nil {
			return apierror.Unauthorized("your account no longer exists")
		}
		return next(w, r.WithContext(context.WithValue(r.Context(), userKey, u)))
	}
}

// owned loads the workshop {id} and requires the user to own it (admins may
// act on every workshop). Co-instructors pass member, not owned.
func (s *Server) owned(next apierror.HandlerFunc) apierror.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ws, err := s.loadWorkshop(r)
		if err != nil {
			return err
		}
		u := userFrom(r.Context())
		if ws.OwnerID != u.ID && u.Role != store.RoleAdmin {
			if _, err := s.st.GetMember(r.Context(), ws.ID, u.ID); err == nil {
				return apierror.Forbidden("only the workshop's owner can do this; teaching assistants can watch, take over and revoke")
			}
			return apierror.Forbidden("this workshop belongs to another instructor")
		}
		return next(w, r.WithContext(context.WithValue(r.Context(), workshopKey, ws)))
	}
}

// EnsureAdmin creates the first admin from ADMIN_EMAIL/ADMIN_PASSWORD when
// that account does not exist yet.
func EnsureAdmin(ctx context.Context, st store.Store, email, password, name string) (*store.User, bool, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return nil, false, fmt.Errorf("admin email: %w", err)
	}
	if u, err := st.GetUserByEmail(ctx, email); err == nil {
		return u, false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, false, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return nil, false, fmt.Errorf("admin password: %w", err)
	}
	if name == "" {
		name = "Administrator"
	}
	u := &store.User{Email: email, Name: name, PasswordHash: hash, Role: store.RoleAdmin}
	if err := st.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			u, err := st.GetUserByEmail(ctx, email)
			return u, false, err
		}
		return nil, false, err
	}
	return u, true, nil
}
