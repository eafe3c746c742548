package store

// Engine-independent rules shared by the engines: what a row gets before it
// is written (IDs, timestamps, defaults, normalised email and times), how
// workshop and access codes are generated and retried on collision, and how
// a host's Steps are encoded. The engines keep only their SQL and their
// drivers' scanning.

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/authtoken"
)

// CodeAttempts bounds the inserts InsertWithCode tries when generated codes
// collide.
const CodeAttempts = 8

// UTC normalises a time to what the engines store: UTC, microseconds.
func UTC(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// UTCPtr is UTC for an optional time (nil stays nil).
func UTCPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := UTC(*t)
	return &v
}

// Now is the current time as the engines store it.
func Now() time.Time { return UTC(time.Now()) }

// NormEmail is how emails are stored and looked up: trimmed, lower-cased.
func NormEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// PrepareUser fills what CreateUser fills: ID, CreatedAt (now) and Role
// (instructor) when empty; it normalises CreatedAt and Email.
func PrepareUser(u *User, now time.Time) {
	if u.ID == "" {
		u.ID = authtoken.NewID()
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now
	}
	u.CreatedAt = UTC(u.CreatedAt)
	u.Email = NormEmail(u.Email)
	if u.Role == "" {
		u.Role = RoleInstructor
	}
}

// PrepareAuthSession fills an empty ID with 256 random bits (hex, a bearer
// secret) and an empty CreatedAt with now, and normalises both times.
func PrepareAuthSession(a *AuthSession, now time.Time) {
	if a.ID == "" {
		a.ID = authtoken.Random(32)
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now
	}
	a.CreatedAt, a.ExpiresAt = UTC(a.CreatedAt), UTC(a.ExpiresAt)
}

// PrepareWorkshop fills what CreateWorkshop fills: ID, CreatedAt (now) and
// UpdatedAt (CreatedAt) when empty, then applies NormWorkshop. The code is
// left to InsertWithCode.
func PrepareWorkshop(w *Workshop, now time.Time) {
	if w.ID == "" {
		w.ID = authtoken.NewID()
	}
	if w.CreatedAt.IsZero() {
		w.CreatedAt = now
	}
	if w.UpdatedAt.IsZero() {
		w.UpdatedAt = w.CreatedAt
	}
	NormWorkshop(w)
}

// NormWorkshop normalises a workshop's times and fills an empty Status
// (created) and DesiredState (stopped); every write of a workshop applies it.
func NormWorkshop(w *Workshop) {
	w.StartsAt, w.EndsAt, w.NextAttemptAt, w.DeletedAt = UTCPtr(w.StartsAt), UTCPtr(w.EndsAt), UTCPtr(w.NextAttemptAt), UTCPtr(w.DeletedAt)
	w.CreatedAt, w.UpdatedAt = UTC(w.CreatedAt), UTC(w.UpdatedAt)
	if w.Status == "" {
		w.Status = StatusCreated
	}
	if w.DesiredState == "" {
		w.DesiredState = DesiredStopped
	}
}

// PrepareRegistration normalises Email and fills ID and CreatedAt (now) when
// empty, normalising CreatedAt and RevokedAt. The access code is left to
// InsertWithCode.
func PrepareRegistration(r *Registration, now time.Time) {
	r.Email = NormEmail(r.Email)
	if r.ID == "" {
		r.ID = authtoken.NewID()
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	r.CreatedAt, r.RevokedAt = UTC(r.CreatedAt), UTCPtr(r.RevokedAt)
}

// PrepareWorkshopVM fills what UpsertWorkshopVM fills (ID when empty,
// CreatedAt when zero, UpdatedAt always, all now; HostIndex 1 when unset), normalises the Steps, and
// returns them encoded for the steps column (a JSON array, [] when none).
func PrepareWorkshopVM(vm *WorkshopVM, now time.Time) (steps string, err error) {
	if vm.ID == "" {
		vm.ID = authtoken.NewID()
	}
	if vm.CreatedAt.IsZero() {
		vm.CreatedAt = now
	}
	vm.CreatedAt, vm.UpdatedAt = UTC(vm.CreatedAt), now
	if vm.HostIndex <= 0 {
		vm.HostIndex = 1
	}
	vm.Steps = NormSteps(vm.Steps)
	if vm.Steps == nil {
		return "[]", nil
	}
	b, err := json.Marshal(vm.Steps)
	if err != nil {
		return "", fmt.Errorf("encode steps: %w", err)
	}
	return string(b), nil
}

// DecodeSteps reads a steps column written by PrepareWorkshopVM.
func DecodeSteps(b []byte) ([]Step, error) {
	var steps []Step
	if err := json.Unmarshal(b, &steps); err != nil {
		return nil, fmt.Errorf("decode steps: %w", err)
	}
	return NormSteps(steps), nil
}

// NormSteps returns a copy of steps with normalised times (nil when empty).
func NormSteps(steps []Step) []Step {
	if len(steps) == 0 {
		return nil
	}
	out := make([]Step, len(steps))
	for i, st := range steps {
		st.StartedAt, st.FinishedAt = UTC(st.StartedAt), UTCPtr(st.FinishedAt)
		out[i] = st
	}
	return out
}

// PrepareEvent fills At (now) and Level (info) when empty and normalises At.
func PrepareEvent(e *Event, now time.Time) {
	if e.At.IsZero() {
		e.At = now
	}
	e.At = UTC(e.At)
	if e.Level == "" {
		e.Level = "info"
	}
}

// InsertWithCode runs insert until it stores a row. When *code is empty it
// generates a fresh code of length n before each try (up to CodeAttempts);
// a given code is tried once. insert reports whether it inserted (false: the
// code was taken); its error is returned as is. When every try found the
// code taken, InsertWithCode returns false and a nil error, and resets a
// generated *code to "".
func InsertWithCode(code *string, n int, insert func() (inserted bool, err error)) (bool, error) {
	generate := *code == ""
	for attempt := 0; ; attempt++ {
		if generate {
			*code = authtoken.Code(n)
		}
		ok, err := insert()
		if err != nil || ok {
			return ok, err
		}
		if !generate || attempt+1 >= CodeAttempts {
			if generate {
				*code = ""
			}
			return false, nil
		}
	}
}

// CheckQuota refuses a quota no instructor could work with sensibly:
// negative limits, or workshops limited to less than an hour.
func CheckQuota(q Quota) error {
	if q.RunningWorkshops < 0 || q.Seats < 0 {
		return fmt.Errorf("quota: running workshops and seats must be 0 or more (got %d and %d)", q.RunningWorkshops, q.Seats)
	}
	if q.WorkshopHours < 1 {
		return fmt.Errorf("quota: workshop hours must be at least 1 (got %d)", q.WorkshopHours)
	}
	return nil
}

// PrepareInvite fills an empty ID and CreatedAt, and normalises the email
// and times.
func PrepareInvite(inv *Invite, now time.Time) {
	if inv.ID == "" {
		inv.ID = authtoken.NewID()
	}
	if inv.CreatedAt.IsZero() {
		inv.CreatedAt = now
	}
	inv.Email = NormEmail(inv.Email)
	inv.CreatedAt, inv.ExpiresAt, inv.UsedAt = UTC(inv.CreatedAt), UTC(inv.ExpiresAt), UTCPtr(inv.UsedAt)
}

// PrepareMember fills an empty Role (assistant) and CreatedAt.
func PrepareMember(m *Member, now time.Time) {
	if m.Role == "" {
		m.Role = MemberAssistant
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now
	}
	m.CreatedAt = UTC(m.CreatedAt)
}
