// Package postgres is the PostgreSQL engine of store.Store (pgx v5, pgxpool).
// It accepts any URL pgx does, including Neon-style
// postgresql://user:pass@host/db?sslmode=require&channel_binding=require
// (pool size: pool_max_conns in the URL, else DefaultMaxConns).
//
// Seat assignment and registration are atomic under any concurrency, across
// goroutines and replicas, without serialising a class: a register takes a
// row of the workshop's free places and a join the lowest row of its free
// seat numbers that no other transaction holds (FOR UPDATE SKIP LOCKED;
// seatlists.go), so concurrent learners of one workshop take different
// rows instead of queueing for the workshop's row lock. A join locks only
// the learner's own registration (two joins of one learner, or a join and
// a revoke, are serialised). Changes of the workshop itself (its seats, a
// revoke, a reissue) still lock the workshop row. The unique constraints on
// sessions (workshop_id, seat) and (registration_id) are the last line of
// defence (a join that loses to another join of the same learner on the
// latter tries again, seat.go). Register (with its events) and AssignSeat /
// JoinSeat are each one statement, one network round trip and one implicit
// transaction, so no lock is held across the network; see WithDurableJoins
// for how they commit. A learner's register and join are two statements in
// all (RegisterByCode, JoinByCode: the lookup by code is part of the
// statement that writes): bench/joinstorm's and bench/bigclass's READMEs
// have the profiles that made them so.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/internal/flow"
	"github.com/clarateach/backend/internal/controlplane/store/internal/query"
)

// DefaultMaxConns is the pool size used when the URL has no pool_max_conns.
// Ten, for a remote database (production's), where each statement waits a
// network round trip and the pool bounds the statements in flight. With
// PostgreSQL on the control plane's own two CPUs, four cost PostgreSQL less
// CPU per learner in a join storm (bench/bigclass's README, 2026-12-06):
// pool_max_conns=4 there.
const DefaultMaxConns = 10

// Store is the PostgreSQL store.
type Store struct {
	pool       *pgxpool.Pool
	asyncJoins bool
	warm       bool
	notice     func(*pgconn.Notice)
	classes    *classNotifier
	plans      scanPlans // the hot statements' scan plans (scanplans.go)
}

// Option configures Open.
type Option func(*Store)

// WithDurableJoins makes Register and AssignSeat wait for their commit to
// reach the disk, like every other write. By default those two hot paths
// commit with synchronous_commit=off: the rows they lock (a free place or
// seat, the learner's registration) are then held for microseconds instead
// of a WAL flush (about 1.5 ms on this machine's disk; 600 flushes in a
// 300-learner join storm). The
// database stays consistent either way; a PostgreSQL crash can lose the
// joins of its last ~0.6 s (3 x wal_writer_delay), which learners redo by
// registering and joining again.
func WithDurableJoins() Option { return func(s *Store) { s.asyncJoins = false } }

// WithNotices hands every notice and warning the server sends (RAISE
// NOTICE, "SET LOCAL can only be used in transaction blocks", ...) to fn
// instead of the log. A statement that makes the server warn usually does
// not do what its author meant, and the server writes the warning to its
// own log on every execution.
func WithNotices(fn func(*pgconn.Notice)) Option { return func(s *Store) { s.notice = fn } }

// logNotice is the default notice handler: a warning in the log.
func logNotice(n *pgconn.Notice) {
	slog.Warn("postgres notice", "severity", n.Severity, "code", n.Code, "message", n.Message)
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at dsn (a postgres:// or postgresql:// URL or
// a key=value connection string) and checks that it answers. It does not
// migrate; see Migrate.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	cfg, err := parseConfig(dsn)
	if err != nil {
		return nil, err
	}
	s := &Store{asyncJoins: true, notice: logNotice, classes: newClassNotifier()}
	for _, o := range opts {
		o(s)
	}
	cfg.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { s.notice(n) }
	s.warmConfig(cfg, dsn)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", Describe(dsn), err)
	}
	if err := fill(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres %s: %w", Describe(dsn), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres %s: %w", Describe(dsn), err)
	}
	s.pool = pool
	return s, nil
}

// asyncCommit is a column of the one statement of a register or a join
// (register.go, seat.go) when joins commit asynchronously: it turns
// synchronous commit off for the statement's implicit transaction (a local
// setting applies to it alone). set_config, not SET LOCAL, which outside
// BEGIN works the same but makes the server log a warning on every
// execution. Not a statement of its own: that was one more parse, bind and
// execute on every register and join. A transaction that wrote nothing
// has nothing to flush at commit either way.
const asyncCommit = `, set_config('synchronous_commit', 'off', true)`

// commitDest is where a hot statement's asyncCommit column is scanned to:
// nowhere, when the store's statements have it.
func (s *Store) commitDest() []any {
	if s.asyncJoins {
		return []any{nil}
	}
	return nil
}

// hot is the store's register and join statements: with asyncCommit
// unless WithDurableJoins.
func (s *Store) hot() *hotSQL {
	if s.asyncJoins {
		return &hotAsync
	}
	return &hotDurable
}

// Pool exposes the connection pool (for tests and maintenance commands).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

func parseConfig(dsn string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors mask passwords.
		return nil, fmt.Errorf("postgres: invalid DATABASE_URL: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	return cfg, nil
}

// Describe names the database a DSN points at (user@host:port/db) without its
// password, for logs and error messages.
func Describe(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		if u, uerr := url.Parse(dsn); uerr == nil && u.Host != "" {
			return u.Host + u.Path
		}
		return "(unparsable URL)"
	}
	return fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// Engine implements store.Store.
func (s *Store) Engine() string { return "postgres" }

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Close implements store.Store.
func (s *Store) Close() error { s.closeClasses(); s.pool.Close(); return nil }

// ---- helpers ---------------------------------------------------------------

// The engine-independent rules (defaults, normalised times and emails,
// code retries) are in package store (prepare.go).

func now() time.Time { return store.Now() }

// param is the placeholder of the n-th query argument.
func param(n int) string { return "$" + strconv.Itoa(n) }

// mapErr turns driver errors into the store's sentinel errors.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%s: %w (%s)", op, store.ErrConflict, pe.ConstraintName)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%s: referenced row %w (%s)", op, store.ErrNotFound, pe.ConstraintName)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// ---- users -----------------------------------------------------------------

func scanUser(row pgx.Row) (*store.User, error) {
	var u store.User
	if err := row.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.Role, &u.CreatedAt); err != nil {
		return nil, err
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return &u, nil
}

// CreateUser implements store.Store.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	store.PrepareUser(u, now())
	return insertUser(ctx, s.pool, u)
}

// insertUser inserts a prepared user (CreateUser's rules).
func insertUser(ctx context.Context, q execer, u *store.User) error {
	_, err := q.Exec(ctx, `INSERT INTO users (`+query.UserCols+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		u.ID, u.Email, u.Name, u.PasswordHash, u.Role, u.CreatedAt)
	return mapErr("create user", err)
}

// GetUser implements store.Store.
func (s *Store) GetUser(ctx context.Context, id string) (*store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+query.UserCols+` FROM users WHERE id = $1`, id))
	return u, mapErr("get user", err)
}

// GetUserByEmail implements store.Store.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (*store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+query.UserCols+` FROM users WHERE lower(email) = $1`, store.NormEmail(email)))
	return u, mapErr("get user by email", err)
}

// CountUsers implements store.Store.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, mapErr("count users", err)
}

// ---- auth sessions ---------------------------------------------------------

// CreateAuthSession implements store.Store. An empty ID is filled with 256
// random bits (hex), suitable as a bearer secret.
func (s *Store) CreateAuthSession(ctx context.Context, a *store.AuthSession) error {
	store.PrepareAuthSession(a, now())
	_, err := s.pool.Exec(ctx, `INSERT INTO auth_sessions (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		a.ID, a.UserID, a.CreatedAt, a.ExpiresAt)
	return mapErr("create auth session", err)
}

// GetAuthSession implements store.Store. Expired sessions are still returned;
// the caller compares ExpiresAt.
func (s *Store) GetAuthSession(ctx context.Context, id string) (*store.AuthSession, error) {
	var a store.AuthSession
	err := s.pool.QueryRow(ctx, `SELECT id, user_id, created_at, expires_at FROM auth_sessions WHERE id = $1`, id).
		Scan(&a.ID, &a.UserID, &a.CreatedAt, &a.ExpiresAt)
	if err != nil {
		return nil, mapErr("get auth session", err)
	}
	a.CreatedAt, a.ExpiresAt = a.CreatedAt.UTC(), a.ExpiresAt.UTC()
	return &a, nil
}

// DeleteAuthSession implements store.Store; deleting a missing session is not
// an error (logout is idempotent).
func (s *Store) DeleteAuthSession(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM auth_sessions WHERE id = $1`, id)
	return mapErr("delete auth session", err)
}

// ---- workshops -------------------------------------------------------------

func scanWorkshop(row pgx.Row) (*store.Workshop, error) {
	var w store.Workshop
	if err := row.Scan(workshopFields(&w)...); err != nil {
		return nil, err
	}
	utcWorkshop(&w)
	return &w, nil
}

// workshopFields are the scan targets of query.WorkshopCols.
func workshopFields(w *store.Workshop) []any {
	return []any{&w.ID, &w.OwnerID, &w.Name, &w.Code, &w.Seats, &w.Status, &w.DesiredState,
		&w.StatusReason, &w.Step, &w.StartsAt, &w.EndsAt, &w.LabGuide, &w.Provisioner, &w.AgentURL,
		&w.AgentToken, &w.Attempts, &w.NextAttemptAt, &w.CreatedAt, &w.UpdatedAt, &w.DeletedAt, &w.DiskMB, &w.EgressAllow, &w.AgentCert, &w.Environment, &w.EnvironmentAuth, &w.SeatsPerHost, &w.LearnerRoot}
}

func utcWorkshop(w *store.Workshop) {
	w.StartsAt, w.EndsAt, w.NextAttemptAt, w.DeletedAt = store.UTCPtr(w.StartsAt), store.UTCPtr(w.EndsAt), store.UTCPtr(w.NextAttemptAt), store.UTCPtr(w.DeletedAt)
	w.CreatedAt, w.UpdatedAt = w.CreatedAt.UTC(), w.UpdatedAt.UTC()
}

// CreateWorkshop implements store.Store. An empty Code is filled with a fresh
// workshop code (retrying on collision); a given Code that exists is
// ErrConflict.
func (s *Store) CreateWorkshop(ctx context.Context, w *store.Workshop) error {
	store.PrepareWorkshop(w, now())
	return insertWorkshop(ctx, s.pool, w)
}

// execer is what insertWorkshop needs of a pool or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// insertWorkshop inserts a prepared workshop (CreateWorkshop's rules).
func insertWorkshop(ctx context.Context, q execer, w *store.Workshop) error {
	inserted, err := store.InsertWithCode(&w.Code, authtoken.WorkshopCodeLen, func() (bool, error) {
		tag, err := q.Exec(ctx, `WITH w AS (INSERT INTO workshops (`+query.WorkshopCols+`)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27)
			ON CONFLICT (code) DO NOTHING RETURNING id, seats)`+fillListsSQL,
			w.ID, w.OwnerID, w.Name, w.Code, w.Seats, w.Status, w.DesiredState, w.StatusReason, w.Step,
			w.StartsAt, w.EndsAt, w.LabGuide, w.Provisioner, w.AgentURL, w.AgentToken, w.Attempts,
			w.NextAttemptAt, w.CreatedAt, w.UpdatedAt, w.DeletedAt, w.DiskMB, w.EgressAllow, w.AgentCert, w.Environment, w.EnvironmentAuth, w.SeatsPerHost, w.LearnerRoot)
		if err != nil {
			return false, mapErr("create workshop", err)
		}
		return tag.RowsAffected() > 0, nil // the free places: one per seat, and seats > 0
	})
	if err != nil {
		return err
	}
	if !inserted {
		return fmt.Errorf("create workshop: code: %w", store.ErrConflict)
	}
	return nil
}

// GetWorkshop implements store.Store.
func (s *Store) GetWorkshop(ctx context.Context, id string) (*store.Workshop, error) {
	w, err := scanWorkshop(s.pool.QueryRow(ctx, `SELECT `+query.WorkshopCols+` FROM workshops WHERE id = $1`, id))
	return w, mapErr("get workshop", err)
}

const workshopByCodeSQL = `SELECT ` + query.WorkshopCols + ` FROM workshops WHERE code = $1`

// GetWorkshopByCode implements store.Store (the code is matched exactly;
// callers normalise user input with authtoken.NormalizeCode).
func (s *Store) GetWorkshopByCode(ctx context.Context, code string) (*store.Workshop, error) {
	w, err := scanWorkshop(s.pool.QueryRow(ctx, workshopByCodeSQL, code))
	return w, mapErr("get workshop by code", err)
}

// ListWorkshops implements store.Store, newest first.
func (s *Store) ListWorkshops(ctx context.Context, f store.WorkshopFilter) ([]store.Workshop, error) {
	q, args := query.ListWorkshops(f, param)
	return list(ctx, s.pool, "list workshops", scanWorkshop, q, args...)
}

// UpdateWorkshop implements store.Store. fn may change every field but ID and
// CreatedAt; UpdatedAt is set to now.
func (s *Store) UpdateWorkshop(ctx context.Context, id string, fn func(*store.Workshop) error) (*store.Workshop, error) {
	w, err := inTxValue(ctx, s, func(tx pgx.Tx) (*store.Workshop, error) {
		return flow.UpdateWorkshop(ctx, workshopTx{tx}, id, fn)
	})
	return w, s.changed(err, id)
}

// writeWorkshop writes back a workshop read under lock in tx (UpdatedAt
// set to now); a change of seats resizes its free lists.
func writeWorkshop(ctx context.Context, tx pgx.Tx, id string, w *store.Workshop) (*store.Workshop, error) {
	w.ID = id
	store.NormWorkshop(w)
	w.UpdatedAt = now()
	var old int
	err := tx.QueryRow(ctx, `UPDATE workshops SET owner_id=$2, name=$3, code=$4, seats=$5, status=$6,
		desired_state=$7, status_reason=$8, step=$9, starts_at=$10, ends_at=$11, lab_guide=$12,
		provisioner=$13, agent_url=$14, agent_token=$15, attempts=$16, next_attempt_at=$17,
		updated_at=$18, deleted_at=$19, disk_mb=$20, egress_allow=$21, agent_cert=$22,
		environment=$23, environment_auth=$24, seats_per_host=$25, learner_root=$26
		FROM (SELECT seats FROM workshops WHERE id = $1) prior WHERE workshops.id = $1 RETURNING prior.seats`,
		w.ID, w.OwnerID, w.Name, w.Code, w.Seats, w.Status, w.DesiredState, w.StatusReason, w.Step,
		w.StartsAt, w.EndsAt, w.LabGuide, w.Provisioner, w.AgentURL, w.AgentToken, w.Attempts,
		w.NextAttemptAt, w.UpdatedAt, w.DeletedAt, w.DiskMB, w.EgressAllow, w.AgentCert, w.Environment, w.EnvironmentAuth, w.SeatsPerHost, w.LearnerRoot).Scan(&old)
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
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM registrations WHERE workshop_id = $1 AND revoked_at IS NULL`, workshopID).Scan(&n)
	return n, mapErr("seats used", err)
}

// lockWorkshop takes the per-workshop lock that serialises registrations and
// seat changes, and returns the workshop's seat count.
func lockWorkshop(ctx context.Context, tx pgx.Tx, id string) (int, error) {
	var seats int
	err := tx.QueryRow(ctx, `SELECT seats FROM workshops WHERE id = $1 FOR NO KEY UPDATE`, id).Scan(&seats)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("workshop %w", store.ErrNotFound)
	}
	return seats, err
}

// ---- registrations ---------------------------------------------------------

func scanRegistration(row pgx.Row) (*store.Registration, error) {
	var r store.Registration
	if err := row.Scan(registrationFields(&r)...); err != nil {
		return nil, err
	}
	utcRegistration(&r)
	return &r, nil
}

// registrationFields are the scan targets of query.RegistrationCols.
func registrationFields(r *store.Registration) []any {
	return []any{&r.ID, &r.WorkshopID, &r.Name, &r.Email, &r.AccessCode, &r.CreatedAt, &r.RevokedAt}
}

func utcRegistration(r *store.Registration) {
	r.CreatedAt, r.RevokedAt = r.CreatedAt.UTC(), store.UTCPtr(r.RevokedAt)
}

// GetRegistration implements store.Store.
func (s *Store) GetRegistration(ctx context.Context, id string) (*store.Registration, error) {
	r, err := scanRegistration(s.pool.QueryRow(ctx, `SELECT `+query.RegistrationCols+` FROM registrations WHERE id = $1`, id))
	return r, mapErr("get registration", err)
}

// GetRegistrationByAccessCode implements store.Store (exact match).
func (s *Store) GetRegistrationByAccessCode(ctx context.Context, code string) (*store.Registration, error) {
	r, err := scanRegistration(s.pool.QueryRow(ctx, `SELECT `+query.RegistrationCols+` FROM registrations WHERE access_code = $1`, code))
	return r, mapErr("get registration by access code", err)
}

var learnerSQL = query.LearnerFrom + ` WHERE r.access_code = $1`

// GetLearner implements store.Store.
func (s *Store) GetLearner(ctx context.Context, accessCode string) (*store.Registration, *store.Workshop, error) {
	var r store.Registration
	var w store.Workshop
	err := s.pool.QueryRow(ctx, learnerSQL, accessCode).
		Scan(append(registrationFields(&r), workshopFields(&w)...)...)
	if err != nil {
		return nil, nil, mapErr("get learner", err)
	}
	utcRegistration(&r)
	utcWorkshop(&w)
	return &r, &w, nil
}

// ListRegistrations implements store.Store, oldest first.
func (s *Store) ListRegistrations(ctx context.Context, workshopID string) ([]store.RegistrationView, error) {
	rows, err := s.pool.Query(ctx, `SELECT r.id, r.workshop_id, r.name, r.email, r.access_code, r.created_at,
			r.revoked_at, s.seat, s.status, s.last_activity
		FROM registrations r LEFT JOIN sessions s ON s.registration_id = r.id
		WHERE r.workshop_id = $1 ORDER BY r.created_at, r.id`, workshopID)
	if err != nil {
		return nil, mapErr("list registrations", err)
	}
	defer rows.Close()
	out := []store.RegistrationView{}
	for rows.Next() {
		var v store.RegistrationView
		var seatStatus *string
		if err := rows.Scan(&v.ID, &v.WorkshopID, &v.Name, &v.Email, &v.AccessCode, &v.CreatedAt,
			&v.RevokedAt, &v.Seat, &seatStatus, &v.LastActivity); err != nil {
			return nil, mapErr("list registrations", err)
		}
		v.CreatedAt, v.RevokedAt, v.LastActivity = v.CreatedAt.UTC(), store.UTCPtr(v.RevokedAt), store.UTCPtr(v.LastActivity)
		if seatStatus != nil {
			v.SeatStatus = *seatStatus
		}
		v.OldCode = len(v.AccessCode) == authtoken.LegacyAccessCodeLen
		out = append(out, v)
	}
	return out, mapErr("list registrations", rows.Err())
}

// ---- seats -----------------------------------------------------------------

func scanSeat(row pgx.Row) (*store.Seat, error) {
	var st store.Seat
	if err := row.Scan(&st.ID, &st.WorkshopID, &st.RegistrationID, &st.Seat, &st.Status, &st.LastActivity, &st.CreatedAt,
		&st.Generation); err != nil {
		return nil, err
	}
	st.LastActivity, st.CreatedAt = store.UTCPtr(st.LastActivity), st.CreatedAt.UTC()
	return &st, nil
}

// GetSeat implements store.Store.
func (s *Store) GetSeat(ctx context.Context, workshopID string, seat int) (*store.Seat, error) {
	st, err := scanSeat(s.pool.QueryRow(ctx, `SELECT `+query.SeatCols+` FROM sessions WHERE workshop_id = $1 AND seat = $2`, workshopID, seat))
	return st, mapErr("get seat", err)
}

// ListSeats implements store.Store, by seat number.
func (s *Store) ListSeats(ctx context.Context, workshopID string) ([]store.Seat, error) {
	return list(ctx, s.pool, "list seats", scanSeat, `SELECT `+query.SeatCols+` FROM sessions WHERE workshop_id = $1 ORDER BY seat`, workshopID)
}

// TouchSeat implements store.Store. An empty status keeps the current one.
func (s *Store) TouchSeat(ctx context.Context, workshopID string, seat int, status string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE sessions SET last_activity = $3, status = COALESCE(NULLIF($4, ''), status)
		WHERE workshop_id = $1 AND seat = $2`, workshopID, seat, store.UTC(at), status)
	if err != nil {
		return mapErr("touch seat", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("touch seat: %w", store.ErrNotFound)
	}
	return s.changed(nil, workshopID)
}

// ---- workshop VMs ----------------------------------------------------------

func scanVM(row pgx.Row) (*store.WorkshopVM, error) {
	var vm store.WorkshopVM
	var steps []byte
	if err := row.Scan(&vm.ID, &vm.WorkshopID, &vm.Name, &vm.Zone, &vm.IP, &vm.Status, &vm.AgentURL, &steps,
		&vm.CreatedAt, &vm.UpdatedAt, &vm.HostIndex, &vm.AgentToken, &vm.AgentCert); err != nil {
		return nil, err
	}
	var err error
	if vm.Steps, err = store.DecodeSteps(steps); err != nil {
		return nil, err
	}
	vm.CreatedAt, vm.UpdatedAt = vm.CreatedAt.UTC(), vm.UpdatedAt.UTC()
	return &vm, nil
}

// UpsertWorkshopVM implements store.Store: one row per workshop host; an existing
// row keeps its ID and CreatedAt, which are copied back into vm.
func (s *Store) UpsertWorkshopVM(ctx context.Context, vm *store.WorkshopVM) error {
	return s.changed(upsertVM(ctx, s.pool, vm), vm.WorkshopID)
}

// upsertVM is UpsertWorkshopVM on the pool or in a transaction.
func upsertVM(ctx context.Context, q queryRower, vm *store.WorkshopVM) error {
	steps, err := store.PrepareWorkshopVM(vm, now())
	if err != nil {
		return fmt.Errorf("upsert workshop vm: %w", err)
	}
	err = q.QueryRow(ctx, `INSERT INTO workshop_vms (`+query.VMCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)
		ON CONFLICT (workshop_id, host_index) DO UPDATE SET name = EXCLUDED.name, zone = EXCLUDED.zone, ip = EXCLUDED.ip,
			status = EXCLUDED.status, agent_url = EXCLUDED.agent_url, steps = EXCLUDED.steps,
			updated_at = EXCLUDED.updated_at, agent_token = EXCLUDED.agent_token, agent_cert = EXCLUDED.agent_cert
		RETURNING id, created_at`,
		vm.ID, vm.WorkshopID, vm.Name, vm.Zone, vm.IP, vm.Status, vm.AgentURL, steps, vm.CreatedAt, vm.UpdatedAt,
		vm.HostIndex, vm.AgentToken, vm.AgentCert).
		Scan(&vm.ID, &vm.CreatedAt)
	vm.CreatedAt = vm.CreatedAt.UTC()
	return mapErr("upsert workshop vm", err)
}

// GetWorkshopVM implements store.Store.
func (s *Store) GetWorkshopVM(ctx context.Context, workshopID string) (*store.WorkshopVM, error) {
	vm, err := scanVM(s.pool.QueryRow(ctx, `SELECT `+query.VMCols+` FROM workshop_vms WHERE workshop_id = $1 AND host_index = 1`, workshopID))
	return vm, mapErr("get workshop vm", err)
}

// ListWorkshopHosts implements store.Store, by host index.
func (s *Store) ListWorkshopHosts(ctx context.Context, workshopID string) ([]store.WorkshopVM, error) {
	return list(ctx, s.pool, "list workshop hosts", scanVM,
		`SELECT `+query.VMCols+` FROM workshop_vms WHERE workshop_id = $1 ORDER BY host_index`, workshopID)
}

// DeleteWorkshopHost implements store.Store; it signals the class
// watchers (the class view shows each host).
func (s *Store) DeleteWorkshopHost(ctx context.Context, workshopID string, hostIndex int) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM workshop_vms WHERE workshop_id = $1 AND host_index = $2`, workshopID, hostIndex)
	return s.changed(mapErr("delete workshop host", err), workshopID)
}

// ListWorkshopVMs implements store.Store, oldest first.
func (s *Store) ListWorkshopVMs(ctx context.Context) ([]store.WorkshopVM, error) {
	return list(ctx, s.pool, "list workshop vms", scanVM, `SELECT `+query.VMCols+` FROM workshop_vms ORDER BY created_at, id, host_index`)
}

// DeleteWorkshopVM implements store.Store; deleting a missing row is not an
// error.
// PurgeWorkshop implements store.Store.
func (s *Store) PurgeWorkshop(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM workshops WHERE id = $1 AND status = 'deleted'`, id)
	if err != nil {
		return mapErr("purge workshop", err)
	}
	if tag.RowsAffected() == 1 {
		return s.changed(nil, id)
	}
	if _, err := s.GetWorkshop(ctx, id); err != nil {
		return fmt.Errorf("purge workshop: %w", err)
	}
	return fmt.Errorf("purge workshop %s: it is not deleted: %w", id, store.ErrConflict)
}

func (s *Store) DeleteWorkshopVM(ctx context.Context, workshopID string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM workshop_vms WHERE workshop_id = $1`, workshopID)
	return s.changed(mapErr("delete workshop vm", err), workshopID)
}

// ---- events ----------------------------------------------------------------

// AddEvent implements store.Store; it fills e.ID, and e.At (now) and e.Level
// ("info") when empty.
func (s *Store) AddEvent(ctx context.Context, e *store.Event) error {
	return s.changed(addEvent(ctx, s.pool, e), e.WorkshopID)
}

// addEvent is AddEvent on the pool or in a transaction.
func addEvent(ctx context.Context, q queryRower, e *store.Event) error {
	store.PrepareEvent(e, now())
	err := q.QueryRow(ctx, `INSERT INTO workshop_events (workshop_id, at, level, step, message)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, e.WorkshopID, e.At, e.Level, e.Step, e.Message).Scan(&e.ID)
	return mapErr("add event", err)
}

// ListEvents implements store.Store: events with ID > afterID, oldest
// first. With limit > 0, only the newest limit of them (the tail of the
// history, what a class view shows); limit <= 0: all.
func (s *Store) ListEvents(ctx context.Context, workshopID string, afterID int64, limit int) ([]store.Event, error) {
	q, args := query.ListEvents(workshopID, afterID, limit, param)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, mapErr("list events", err)
	}
	defer rows.Close()
	out, err := query.Collect(rows, func() (*store.Event, error) {
		var e store.Event
		if err := rows.Scan(&e.ID, &e.WorkshopID, &e.At, &e.Level, &e.Step, &e.Message); err != nil {
			return nil, err
		}
		e.At = e.At.UTC()
		return &e, nil
	})
	return out, mapErr("list events", err)
}

// ---- leases ----------------------------------------------------------------

// TryLease implements store.Store. Expiry is computed with the database's
// clock, so replicas with skewed clocks agree.
func (s *Store) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	var got string
	err := s.pool.QueryRow(ctx, `INSERT INTO leases (name, holder, expires_at)
		VALUES ($1, $2, now() + $3::bigint * interval '1 microsecond')
		ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
		WHERE leases.expires_at <= now() OR leases.holder = EXCLUDED.holder
		RETURNING holder`, name, holder, ttl.Microseconds()).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, mapErr("try lease", err)
	}
	return got == holder, nil
}

// ReleaseLease implements store.Store; only the holder can release.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder)
	return mapErr("release lease", err)
}
