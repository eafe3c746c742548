// Package sqlite is the embedded engine of store.Store: one SQLite file
// (modernc.org/sqlite, pure Go, no cgo), the local default.
//
// The file runs in WAL mode with foreign keys on and a busy timeout. All
// writes of a process go through one connection, so they are serialised in
// Go and never fail with SQLITE_BUSY among themselves; every write
// transaction starts with BEGIN IMMEDIATE, so a second process (a CLI
// command next to the server) waits for the lock (busy_timeout) instead of
// failing mid-transaction. Reads use a separate pool and run concurrently
// with the writer (WAL). Register and AssignSeat read and write inside one
// such transaction, which makes them atomic.
//
// Times are stored as TEXT in one fixed-width UTC format with microseconds
// (TimeFormat), so they round-trip exactly and compare as strings.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/internal/classwatch"
	"github.com/clarateach/backend/internal/controlplane/store/internal/flow"
	"github.com/clarateach/backend/internal/controlplane/store/internal/query"
)

// TimeFormat is how times are stored: UTC, microseconds, fixed width.
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// BusyTimeout is how long a connection waits for another process's lock.
const BusyTimeout = 10 * time.Second

// Store is the SQLite store.
type Store struct {
	path string
	w    *sql.DB // the one writer connection
	r    *sql.DB // readers
	hub  classwatch.Hub
}

var _ store.Store = (*Store)(nil)

// dsn builds the driver DSN for path. Writers begin transactions with
// BEGIN IMMEDIATE.
func dsn(path string, write bool) (string, error) {
	if err := checkPath(path); err != nil {
		return "", err
	}
	q := fmt.Sprintf("?_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)",
		BusyTimeout.Milliseconds())
	if write {
		q += "&_txlock=immediate"
	}
	return path + q, nil
}

// checkPath rejects what is not a plain file path: in-memory databases
// (every connection would see its own) and names the driver would parse.
func checkPath(path string) error {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return fmt.Errorf("sqlite: %q is not a database file path", path)
	}
	if strings.ContainsAny(path, "?#") {
		return fmt.Errorf("sqlite: database path %q must not contain '?' or '#'", path)
	}
	return nil
}

// prepareFile creates the database's directory (0700) and, when missing, the
// file itself with mode 0600: it holds password hashes and agent tokens.
func prepareFile(path string) error {
	if err := checkPath(path); err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("sqlite: create directory for %s: %w", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return f.Close()
	}
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	return fmt.Errorf("sqlite: create %s: %w", path, err)
}

// openDB opens one database/sql handle on path.
func openDB(ctx context.Context, path string, write bool) (*sql.DB, error) {
	d, err := dsn(path, write)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", d)
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	if write {
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
	} else {
		n := max(4, runtime.NumCPU())
		db.SetMaxOpenConns(n)
		db.SetMaxIdleConns(n)
	}
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	return db, nil
}

// Open opens (creating if needed) the database file at path. It does not
// migrate; see Migrate.
func Open(ctx context.Context, path string) (*Store, error) {
	if err := prepareFile(path); err != nil {
		return nil, err
	}
	w, err := openDB(ctx, path, true)
	if err != nil {
		return nil, err
	}
	r, err := openDB(ctx, path, false)
	if err != nil {
		w.Close()
		return nil, err
	}
	return &Store{path: path, w: w, r: r}, nil
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Engine implements store.Store.
func (s *Store) Engine() string { return "sqlite" }

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return err
	}
	return s.r.PingContext(ctx)
}

// WatchClass implements store.Store. A SQLite database has one server
// process, so the writes of this store are all there is to hear.
func (s *Store) WatchClass(ctx context.Context, workshopID string) (<-chan struct{}, error) {
	return s.hub.Watch(ctx, workshopID), nil
}

// changed signals the watchers of workshopIDs' classes when err is nil, and
// returns err.
func (s *Store) changed(err error, workshopIDs ...string) error {
	if err == nil {
		s.hub.Changed(workshopIDs...)
	}
	return err
}

// Close implements store.Store.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// ---- helpers ---------------------------------------------------------------

type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// The engine-independent rules (defaults, normalised times and emails,
// code retries) are in package store (prepare.go).

func now() time.Time { return store.Now() }

// param is the placeholder of a query argument.
func param(int) string { return "?" }

// enc formats a time for storage.
func enc(t time.Time) string { return t.UTC().Format(TimeFormat) }

// encp formats an optional time (nil is NULL).
func encp(t *time.Time) any {
	if t == nil {
		return nil
	}
	return enc(*t)
}

// timeCol scans a NOT NULL time column.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	s, err := asString(src)
	if err != nil {
		return err
	}
	v, err := time.Parse(TimeFormat, s)
	if err != nil {
		return fmt.Errorf("sqlite: bad time %q: %w", s, err)
	}
	*c.t = v.UTC()
	return nil
}

// nullTimeCol scans a nullable time column.
type nullTimeCol struct{ t **time.Time }

func (c nullTimeCol) Scan(src any) error {
	if src == nil {
		*c.t = nil
		return nil
	}
	var v time.Time
	if err := (timeCol{&v}).Scan(src); err != nil {
		return err
	}
	*c.t = &v
	return nil
}

func asString(src any) (string, error) {
	switch v := src.(type) {
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	default:
		return "", fmt.Errorf("sqlite: want a TEXT time, got %T", src)
	}
}

func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var se *sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3lib.SQLITE_CONSTRAINT_UNIQUE, sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%s: %w (%s)", op, store.ErrConflict, se.Error())
		case sqlite3lib.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%s: referenced row %w", op, store.ErrNotFound)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// inTx runs fn in a write transaction (BEGIN IMMEDIATE on the writer).
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// ---- users -----------------------------------------------------------------

func scanUser(row scanner) (*store.User, error) {
	var u store.User
	if err := row.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.Role, timeCol{&u.CreatedAt}); err != nil {
		return nil, err
	}
	return &u, nil
}

// CreateUser implements store.Store.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	store.PrepareUser(u, now())
	_, err := s.w.ExecContext(ctx, `INSERT INTO users (`+query.UserCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.Name, u.PasswordHash, u.Role, enc(u.CreatedAt))
	return mapErr("create user", err)
}

// GetUser implements store.Store.
func (s *Store) GetUser(ctx context.Context, id string) (*store.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+query.UserCols+` FROM users WHERE id = ?`, id))
	return u, mapErr("get user", err)
}

// GetUserByEmail implements store.Store.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (*store.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+query.UserCols+` FROM users WHERE lower(email) = lower(?)`, store.NormEmail(email)))
	return u, mapErr("get user by email", err)
}

// CountUsers implements store.Store.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, mapErr("count users", err)
}

// ---- auth sessions ---------------------------------------------------------

// CreateAuthSession implements store.Store. An empty ID is filled with 256
// random bits (hex), suitable as a bearer secret.
func (s *Store) CreateAuthSession(ctx context.Context, a *store.AuthSession) error {
	store.PrepareAuthSession(a, now())
	_, err := s.w.ExecContext(ctx, `INSERT INTO auth_sessions (id, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		a.ID, a.UserID, enc(a.CreatedAt), enc(a.ExpiresAt))
	return mapErr("create auth session", err)
}

// GetAuthSession implements store.Store. Expired sessions are still returned;
// the caller compares ExpiresAt.
func (s *Store) GetAuthSession(ctx context.Context, id string) (*store.AuthSession, error) {
	var a store.AuthSession
	err := s.r.QueryRowContext(ctx, `SELECT id, user_id, created_at, expires_at FROM auth_sessions WHERE id = ?`, id).
		Scan(&a.ID, &a.UserID, timeCol{&a.CreatedAt}, timeCol{&a.ExpiresAt})
	if err != nil {
		return nil, mapErr("get auth session", err)
	}
	return &a, nil
}

// DeleteAuthSession implements store.Store; deleting a missing session is not
// an error.
func (s *Store) DeleteAuthSession(ctx context.Context, id string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM auth_sessions WHERE id = ?`, id)
	return mapErr("delete auth session", err)
}

// ---- workshops -------------------------------------------------------------

type scanner interface{ Scan(dest ...any) error }

func scanWorkshop(row scanner) (*store.Workshop, error) {
	var w store.Workshop
	if err := row.Scan(workshopFields(&w)...); err != nil {
		return nil, err
	}
	return &w, nil
}

// workshopFields are the scan targets of query.WorkshopCols.
func workshopFields(w *store.Workshop) []any {
	return []any{&w.ID, &w.OwnerID, &w.Name, &w.Code, &w.Seats, &w.Status, &w.DesiredState,
		&w.StatusReason, &w.Step, nullTimeCol{&w.StartsAt}, nullTimeCol{&w.EndsAt}, &w.LabGuide, &w.Provisioner,
		&w.AgentURL, &w.AgentToken, &w.Attempts, nullTimeCol{&w.NextAttemptAt}, timeCol{&w.CreatedAt},
		timeCol{&w.UpdatedAt}, nullTimeCol{&w.DeletedAt}, &w.DiskMB, &w.EgressAllow, &w.AgentCert, &w.Environment, &w.EnvironmentAuth, &w.SeatsPerHost, &w.LearnerRoot}
}

// CreateWorkshop implements store.Store. An empty Code is filled with a fresh
// workshop code (retrying on collision); a given Code that exists is
// ErrConflict.
func (s *Store) CreateWorkshop(ctx context.Context, w *store.Workshop) error {
	store.PrepareWorkshop(w, now())
	return s.inTx(ctx, func(tx *sql.Tx) error { return insertWorkshop(ctx, tx, w) })
}

// insertWorkshop inserts a prepared workshop (CreateWorkshop's rules).
func insertWorkshop(ctx context.Context, q querier, w *store.Workshop) error {
	inserted, err := store.InsertWithCode(&w.Code, authtoken.WorkshopCodeLen, func() (bool, error) {
		res, err := q.ExecContext(ctx, `INSERT INTO workshops (`+query.WorkshopCols+`)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (code) DO NOTHING`,
			w.ID, w.OwnerID, w.Name, w.Code, w.Seats, w.Status, w.DesiredState, w.StatusReason, w.Step,
			encp(w.StartsAt), encp(w.EndsAt), w.LabGuide, w.Provisioner, w.AgentURL, w.AgentToken, w.Attempts,
			encp(w.NextAttemptAt), enc(w.CreatedAt), enc(w.UpdatedAt), encp(w.DeletedAt), w.DiskMB, w.EgressAllow, w.AgentCert, w.Environment, w.EnvironmentAuth, w.SeatsPerHost, w.LearnerRoot)
		if err != nil {
			return false, mapErr("create workshop", err)
		}
		n, _ := res.RowsAffected()
		return n == 1, nil
	})
	if err != nil {
		return err
	}
	if !inserted {
		return fmt.Errorf("create workshop: code: %w", store.ErrConflict)
	}
	return fillLists(ctx, q, w.ID, w.Seats)
}

// GetWorkshop implements store.Store.
func (s *Store) GetWorkshop(ctx context.Context, id string) (*store.Workshop, error) {
	w, err := scanWorkshop(s.r.QueryRowContext(ctx, `SELECT `+query.WorkshopCols+` FROM workshops WHERE id = ?`, id))
	return w, mapErr("get workshop", err)
}

// GetWorkshopByCode implements store.Store (exact match).
func (s *Store) GetWorkshopByCode(ctx context.Context, code string) (*store.Workshop, error) {
	w, err := scanWorkshop(s.r.QueryRowContext(ctx, `SELECT `+query.WorkshopCols+` FROM workshops WHERE code = ?`, code))
	return w, mapErr("get workshop by code", err)
}

// ListWorkshops implements store.Store, newest first.
func (s *Store) ListWorkshops(ctx context.Context, f store.WorkshopFilter) ([]store.Workshop, error) {
	q, args := query.ListWorkshops(f, param)
	return list(ctx, s.r, "list workshops", scanWorkshop, q, args...)
}

// UpdateWorkshop implements store.Store. fn may change every field but ID and
// CreatedAt; UpdatedAt is set to now.
func (s *Store) UpdateWorkshop(ctx context.Context, id string, fn func(*store.Workshop) error) (*store.Workshop, error) {
	w, err := inTxValue(ctx, s, func(tx *sql.Tx) (*store.Workshop, error) {
		return flow.UpdateWorkshop(ctx, workshopTx{tx}, id, fn)
	})
	return w, s.changed(err, id)
}

// writeWorkshop writes back a workshop read in tx (UpdatedAt set to now);
// a change of seats resizes its free lists.
func writeWorkshop(ctx context.Context, tx *sql.Tx, id string, w *store.Workshop) (*store.Workshop, error) {
	w.ID = id
	store.NormWorkshop(w)
	w.UpdatedAt = now()
	old, err := workshopSeats(ctx, tx, id)
	if err != nil {
		return nil, fmt.Errorf("update workshop: %w", err)
	}
	_, err = tx.ExecContext(ctx, `UPDATE workshops SET owner_id=?, name=?, code=?, seats=?, status=?,
		desired_state=?, status_reason=?, step=?, starts_at=?, ends_at=?, lab_guide=?,
		provisioner=?, agent_url=?, agent_token=?, attempts=?, next_attempt_at=?,
		updated_at=?, deleted_at=?, disk_mb=?, egress_allow=?, agent_cert=?,
		environment=?, environment_auth=?, seats_per_host=?, learner_root=? WHERE id = ?`,
		w.OwnerID, w.Name, w.Code, w.Seats, w.Status, w.DesiredState, w.StatusReason, w.Step,
		encp(w.StartsAt), encp(w.EndsAt), w.LabGuide, w.Provisioner, w.AgentURL, w.AgentToken, w.Attempts,
		encp(w.NextAttemptAt), enc(w.UpdatedAt), encp(w.DeletedAt), w.DiskMB, w.EgressAllow, w.AgentCert, w.Environment, w.EnvironmentAuth, w.SeatsPerHost, w.LearnerRoot, w.ID)
	if err != nil {
		return nil, mapErr("update workshop", err)
	}
	if old != w.Seats {
		if err := resizeLists(ctx, tx, id, old, w.Seats); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// SeatsUsed implements store.Store.
func (s *Store) SeatsUsed(ctx context.Context, workshopID string) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM registrations WHERE workshop_id = ? AND revoked_at IS NULL`, workshopID).Scan(&n)
	return n, mapErr("seats used", err)
}

func workshopSeats(ctx context.Context, q querier, id string) (int, error) {
	var seats int
	err := q.QueryRowContext(ctx, `SELECT seats FROM workshops WHERE id = ?`, id).Scan(&seats)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("workshop %w", store.ErrNotFound)
	}
	return seats, err
}

// ---- registrations ---------------------------------------------------------

func scanRegistration(row scanner) (*store.Registration, error) {
	var r store.Registration
	if err := row.Scan(registrationFields(&r)...); err != nil {
		return nil, err
	}
	return &r, nil
}

// registrationFields are the scan targets of query.RegistrationCols.
func registrationFields(r *store.Registration) []any {
	return []any{&r.ID, &r.WorkshopID, &r.Name, &r.Email, &r.AccessCode, timeCol{&r.CreatedAt}, nullTimeCol{&r.RevokedAt}}
}

// Register implements store.Store. The email is stored trimmed and
// lower-cased. An empty AccessCode is filled with a fresh access code
// (retrying on collision); a given one that exists is ErrConflict.
func (s *Store) Register(ctx context.Context, in *store.Registration, onCreate ...store.Event) (*store.Registration, bool, error) {
	r := *in
	store.PrepareRegistration(&r, now())
	var (
		out     *store.Registration
		created bool
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := workshopSeats(ctx, tx, r.WorkshopID); err != nil {
			return fmt.Errorf("register: %w", err)
		}
		existing, err := scanRegistration(tx.QueryRowContext(ctx, `SELECT `+query.RegistrationCols+` FROM registrations
			WHERE workshop_id = ? AND lower(email) = lower(?)`, r.WorkshopID, r.Email))
		if err == nil {
			out = existing
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return mapErr("register", err)
		}
		if ok, err := takePlace(ctx, tx, r.WorkshopID); err != nil {
			return mapErr("register", err)
		} else if !ok {
			return fmt.Errorf("register: %w", store.ErrFull)
		}
		inserted, err := store.InsertWithCode(&r.AccessCode, authtoken.AccessCodeLen, func() (bool, error) {
			res, err := tx.ExecContext(ctx, `INSERT INTO registrations (`+query.RegistrationCols+`)
				VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (access_code) DO NOTHING`,
				r.ID, r.WorkshopID, r.Name, r.Email, r.AccessCode, enc(r.CreatedAt), encp(r.RevokedAt))
			if err != nil {
				return false, mapErr("register", err)
			}
			n, _ := res.RowsAffected()
			return n == 1, nil
		})
		if err != nil {
			return err
		}
		if !inserted {
			return fmt.Errorf("register: access code: %w", store.ErrConflict)
		}
		for _, e := range onCreate {
			if err := addEvent(ctx, tx, &e); err != nil {
				return fmt.Errorf("register: %w", err)
			}
		}
		out, created = &r, true
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if created {
		s.hub.Changed(r.WorkshopID)
	}
	return out, created, nil
}

// GetRegistration implements store.Store.
func (s *Store) GetRegistration(ctx context.Context, id string) (*store.Registration, error) {
	r, err := scanRegistration(s.r.QueryRowContext(ctx, `SELECT `+query.RegistrationCols+` FROM registrations WHERE id = ?`, id))
	return r, mapErr("get registration", err)
}

// GetRegistrationByAccessCode implements store.Store (exact match).
func (s *Store) GetRegistrationByAccessCode(ctx context.Context, code string) (*store.Registration, error) {
	r, err := scanRegistration(s.r.QueryRowContext(ctx, `SELECT `+query.RegistrationCols+` FROM registrations WHERE access_code = ?`, code))
	return r, mapErr("get registration by access code", err)
}

// GetLearner implements store.Store.
func (s *Store) GetLearner(ctx context.Context, accessCode string) (*store.Registration, *store.Workshop, error) {
	var r store.Registration
	var w store.Workshop
	err := s.r.QueryRowContext(ctx, query.LearnerFrom+` WHERE r.access_code = ?`, accessCode).
		Scan(append(registrationFields(&r), workshopFields(&w)...)...)
	if err != nil {
		return nil, nil, mapErr("get learner", err)
	}
	return &r, &w, nil
}

// ListRegistrations implements store.Store, oldest first.
func (s *Store) ListRegistrations(ctx context.Context, workshopID string) ([]store.RegistrationView, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT r.id, r.workshop_id, r.name, r.email, r.access_code, r.created_at,
			r.revoked_at, s.seat, s.status, s.last_activity
		FROM registrations r LEFT JOIN sessions s ON s.registration_id = r.id
		WHERE r.workshop_id = ? ORDER BY r.created_at, r.id`, workshopID)
	if err != nil {
		return nil, mapErr("list registrations", err)
	}
	defer rows.Close()
	out := []store.RegistrationView{}
	for rows.Next() {
		var v store.RegistrationView
		var seat sql.NullInt64
		var seatStatus sql.NullString
		if err := rows.Scan(&v.ID, &v.WorkshopID, &v.Name, &v.Email, &v.AccessCode, timeCol{&v.CreatedAt},
			nullTimeCol{&v.RevokedAt}, &seat, &seatStatus, nullTimeCol{&v.LastActivity}); err != nil {
			return nil, mapErr("list registrations", err)
		}
		if seat.Valid {
			n := int(seat.Int64)
			v.Seat = &n
		}
		v.SeatStatus = seatStatus.String
		v.OldCode = len(v.AccessCode) == authtoken.LegacyAccessCodeLen
		out = append(out, v)
	}
	return out, mapErr("list registrations", rows.Err())
}

// ---- seats -----------------------------------------------------------------

func scanSeat(row scanner) (*store.Seat, error) {
	var st store.Seat
	if err := row.Scan(&st.ID, &st.WorkshopID, &st.RegistrationID, &st.Seat, &st.Status,
		nullTimeCol{&st.LastActivity}, timeCol{&st.CreatedAt}, &st.Generation); err != nil {
		return nil, err
	}
	return &st, nil
}

// AssignSeat implements store.Store.
func (s *Store) AssignSeat(ctx context.Context, registrationID string) (*store.Seat, error) {
	// Fast path on a reader: the registration already holds a seat (a seat
	// row exists only while its registration is not revoked).
	st, err := scanSeat(s.r.QueryRowContext(ctx, `SELECT `+query.SeatCols+` FROM sessions WHERE registration_id = ?`, registrationID))
	if err == nil {
		return st, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, mapErr("assign seat", err)
	}
	var out *store.Seat
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var workshopID string
		var revoked sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT workshop_id, revoked_at FROM registrations WHERE id = ?`, registrationID).
			Scan(&workshopID, &revoked); err != nil {
			return mapErr("assign seat: registration", err)
		}
		if revoked.Valid {
			return fmt.Errorf("assign seat: %w", store.ErrRevoked)
		}
		if st, err := scanSeat(tx.QueryRowContext(ctx, `SELECT `+query.SeatCols+` FROM sessions WHERE registration_id = ?`, registrationID)); err == nil {
			out = st
			return nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return mapErr("assign seat", err)
		}
		seat, err := takeSeat(ctx, tx, workshopID)
		if err != nil {
			return mapErr("assign seat", err)
		}
		if seat == 0 {
			return fmt.Errorf("assign seat: %w", store.ErrFull)
		}
		gen, err := nextGeneration(ctx, tx, workshopID)
		if err != nil {
			return mapErr("assign seat", err)
		}
		st := &store.Seat{ID: authtoken.NewID(), WorkshopID: workshopID, RegistrationID: registrationID,
			Seat: seat, Status: store.SeatAssigned, CreatedAt: now(), Generation: gen}
		_, err = tx.ExecContext(ctx, `INSERT INTO sessions (`+query.SeatCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			st.ID, st.WorkshopID, st.RegistrationID, st.Seat, st.Status, encp(st.LastActivity), enc(st.CreatedAt), st.Generation)
		if err != nil {
			return mapErr("assign seat", err)
		}
		out = st
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, s.changed(nil, out.WorkshopID)
}

// JoinSeat implements store.Store.
func (s *Store) JoinSeat(ctx context.Context, registrationID string) (*store.SeatJoin, error) {
	st, err := s.AssignSeat(ctx, registrationID)
	if err != nil {
		return nil, err
	}
	out := &store.SeatJoin{Seat: st}
	err = s.r.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM seat_revocations WHERE workshop_id = ? AND seat = ? AND reset),
		(SELECT CASE WHEN restored_at IS NOT NULL THEN created_at END FROM archives
			WHERE registration_id = ? ORDER BY created_at DESC, id DESC LIMIT 1)`,
		st.WorkshopID, st.Seat, registrationID).Scan(&out.ResetPending, nullTimeCol{&out.RestoredFrom})
	if err != nil {
		return nil, mapErr("join seat", err)
	}
	return out, nil
}

// GetSeat implements store.Store.
func (s *Store) GetSeat(ctx context.Context, workshopID string, seat int) (*store.Seat, error) {
	st, err := scanSeat(s.r.QueryRowContext(ctx, `SELECT `+query.SeatCols+` FROM sessions WHERE workshop_id = ? AND seat = ?`, workshopID, seat))
	return st, mapErr("get seat", err)
}

// ListSeats implements store.Store, by seat number.
func (s *Store) ListSeats(ctx context.Context, workshopID string) ([]store.Seat, error) {
	return list(ctx, s.r, "list seats", scanSeat, `SELECT `+query.SeatCols+` FROM sessions WHERE workshop_id = ? ORDER BY seat`, workshopID)
}

// TouchSeat implements store.Store. An empty status keeps the current one.
func (s *Store) TouchSeat(ctx context.Context, workshopID string, seat int, status string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE sessions SET last_activity = ?, status = COALESCE(NULLIF(?, ''), status)
		WHERE workshop_id = ? AND seat = ?`, enc(at), status, workshopID, seat)
	if err != nil {
		return mapErr("touch seat", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("touch seat: %w", store.ErrNotFound)
	}
	return s.changed(nil, workshopID)
}

// ---- workshop VMs ----------------------------------------------------------

func scanVM(row scanner) (*store.WorkshopVM, error) {
	var vm store.WorkshopVM
	var steps string
	if err := row.Scan(&vm.ID, &vm.WorkshopID, &vm.Name, &vm.Zone, &vm.IP, &vm.Status, &vm.AgentURL, &steps,
		timeCol{&vm.CreatedAt}, timeCol{&vm.UpdatedAt}, &vm.HostIndex, &vm.AgentToken, &vm.AgentCert); err != nil {
		return nil, err
	}
	var err error
	if vm.Steps, err = store.DecodeSteps([]byte(steps)); err != nil {
		return nil, err
	}
	return &vm, nil
}

// UpsertWorkshopVM implements store.Store: one row per workshop host; an existing
// row keeps its ID and CreatedAt, which are copied back into vm.
func (s *Store) UpsertWorkshopVM(ctx context.Context, vm *store.WorkshopVM) error {
	return s.changed(upsertVM(ctx, s.w, vm), vm.WorkshopID)
}

// upsertVM is UpsertWorkshopVM on the writer or in a transaction.
func upsertVM(ctx context.Context, q querier, vm *store.WorkshopVM) error {
	steps, err := store.PrepareWorkshopVM(vm, now())
	if err != nil {
		return fmt.Errorf("upsert workshop vm: %w", err)
	}
	err = q.QueryRowContext(ctx, `INSERT INTO workshop_vms (`+query.VMCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (workshop_id, host_index) DO UPDATE SET name = excluded.name, zone = excluded.zone, ip = excluded.ip,
			status = excluded.status, agent_url = excluded.agent_url, steps = excluded.steps,
			updated_at = excluded.updated_at, agent_token = excluded.agent_token, agent_cert = excluded.agent_cert
		RETURNING id, created_at`,
		vm.ID, vm.WorkshopID, vm.Name, vm.Zone, vm.IP, vm.Status, vm.AgentURL, steps, enc(vm.CreatedAt), enc(vm.UpdatedAt),
		vm.HostIndex, vm.AgentToken, vm.AgentCert).
		Scan(&vm.ID, timeCol{&vm.CreatedAt})
	return mapErr("upsert workshop vm", err)
}

// GetWorkshopVM implements store.Store.
func (s *Store) GetWorkshopVM(ctx context.Context, workshopID string) (*store.WorkshopVM, error) {
	vm, err := scanVM(s.r.QueryRowContext(ctx, `SELECT `+query.VMCols+` FROM workshop_vms WHERE workshop_id = ? AND host_index = 1`, workshopID))
	return vm, mapErr("get workshop vm", err)
}

// ListWorkshopHosts implements store.Store, by host index.
func (s *Store) ListWorkshopHosts(ctx context.Context, workshopID string) ([]store.WorkshopVM, error) {
	return list(ctx, s.r, "list workshop hosts", scanVM,
		`SELECT `+query.VMCols+` FROM workshop_vms WHERE workshop_id = ? ORDER BY host_index`, workshopID)
}

// DeleteWorkshopHost implements store.Store; it signals the class
// watchers (the class view shows each host).
func (s *Store) DeleteWorkshopHost(ctx context.Context, workshopID string, hostIndex int) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM workshop_vms WHERE workshop_id = ? AND host_index = ?`, workshopID, hostIndex)
	return s.changed(mapErr("delete workshop host", err), workshopID)
}

// ListWorkshopVMs implements store.Store, oldest first.
func (s *Store) ListWorkshopVMs(ctx context.Context) ([]store.WorkshopVM, error) {
	return list(ctx, s.r, "list workshop vms", scanVM, `SELECT `+query.VMCols+` FROM workshop_vms ORDER BY created_at, id, host_index`)
}

// DeleteWorkshopVM implements store.Store; deleting a missing row is not an
// error.
// PurgeWorkshop implements store.Store.
func (s *Store) PurgeWorkshop(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM workshops WHERE id = ? AND status = 'deleted'`, id)
	if err != nil {
		return mapErr("purge workshop", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return s.changed(nil, id)
	}
	if _, err := s.GetWorkshop(ctx, id); err != nil {
		return fmt.Errorf("purge workshop: %w", err)
	}
	return fmt.Errorf("purge workshop %s: it is not deleted: %w", id, store.ErrConflict)
}

func (s *Store) DeleteWorkshopVM(ctx context.Context, workshopID string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM workshop_vms WHERE workshop_id = ?`, workshopID)
	return s.changed(mapErr("delete workshop vm", err), workshopID)
}

// ---- events ----------------------------------------------------------------

// AddEvent implements store.Store; it fills e.ID, and e.At (now) and e.Level
// ("info") when empty.
func (s *Store) AddEvent(ctx context.Context, e *store.Event) error {
	return s.changed(addEvent(ctx, s.w, e), e.WorkshopID)
}

// addEvent is AddEvent on the writer or in a transaction.
func addEvent(ctx context.Context, q querier, e *store.Event) error {
	store.PrepareEvent(e, now())
	err := q.QueryRowContext(ctx, `INSERT INTO workshop_events (workshop_id, at, level, step, message)
		VALUES (?, ?, ?, ?, ?) RETURNING id`, e.WorkshopID, enc(e.At), e.Level, e.Step, e.Message).Scan(&e.ID)
	return mapErr("add event", err)
}

// ListEvents implements store.Store: events with ID > afterID, oldest
// first. With limit > 0, only the newest limit of them (the tail of the
// history, what a class view shows); limit <= 0: all.
func (s *Store) ListEvents(ctx context.Context, workshopID string, afterID int64, limit int) ([]store.Event, error) {
	q, args := query.ListEvents(workshopID, afterID, limit, param)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr("list events", err)
	}
	defer rows.Close()
	out, err := query.Collect(rows, func() (*store.Event, error) {
		var e store.Event
		if err := rows.Scan(&e.ID, &e.WorkshopID, timeCol{&e.At}, &e.Level, &e.Step, &e.Message); err != nil {
			return nil, err
		}
		return &e, nil
	})
	return out, mapErr("list events", err)
}

// ---- leases ----------------------------------------------------------------

// TryLease implements store.Store.
func (s *Store) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	t := time.Now()
	var got string
	err := s.w.QueryRowContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.expires_at <= ? OR leases.holder = excluded.holder
		RETURNING holder`, name, holder, enc(t.Add(ttl)), enc(t)).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, mapErr("try lease", err)
	}
	return got == holder, nil
}

// ReleaseLease implements store.Store; only the holder can release.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder)
	return mapErr("release lease", err)
}
