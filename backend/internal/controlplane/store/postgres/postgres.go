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
// defence. Register (with its events) and AssignSeat / JoinSeat each take
// one network round trip (a pipelined batch that PostgreSQL runs as one
// implicit transaction), so no lock is held across the network; see
// WithDurableJoins for how they commit. A learner's register and join are two round trips in all
// (RegisterByCode, JoinByCode: the lookup by code travels in the write's
// batch): bench/joinstorm's README has the profiles that made them so.
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
const DefaultMaxConns = 10

// Store is the PostgreSQL store.
type Store struct {
	pool       *pgxpool.Pool
	asyncJoins bool
	warm       bool
	notice     func(*pgconn.Notice)
	classes    *classNotifier
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

// joinCommit is selected by the first statement of the batch of a hot
// join path (Register's workshop, AssignSeat's registration lock). With async joins it
// turns synchronous commit off for the batch: a batch is one implicit
// transaction, so a local setting applies to it alone. set_config, not
// SET LOCAL, which outside BEGIN works the same but makes the server log a
// warning on every execution. It runs only when the lock statement finds
// its row (the workshop; the registration without a seat); without one
// the batch writes nothing, and a transaction that
// wrote nothing has nothing to flush at commit. Not a statement of its
// own: that was one more parse, bind and execute on every register and
// join.
func (s *Store) joinCommit() string {
	if s.asyncJoins {
		return `, set_config('synchronous_commit', 'off', true)`
	}
	return ``
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

// Register implements store.Store. The email is stored trimmed and
// lower-cased. An empty AccessCode is filled with a fresh access code
// (retrying on collision); a given one that exists is ErrConflict.
//
// One round trip: a pipelined batch, run by PostgreSQL as one implicit
// transaction, reads the workshop, then returns the existing registration
// or inserts one if it can take one of the workshop's free places
// (registerWith), then adds the events.
func (s *Store) Register(ctx context.Context, in *store.Registration, onCreate ...store.Event) (*store.Registration, bool, error) {
	r := *in
	store.PrepareRegistration(&r, now())
	r.RevokedAt = nil // a new registration is never revoked
	events := make([]store.Event, len(onCreate))
	for i, e := range onCreate {
		store.PrepareEvent(&e, now())
		events[i] = e
	}
	var (
		out     *store.Registration
		created bool
	)
	done, err := store.InsertWithCode(&r.AccessCode, authtoken.AccessCodeLen, func() (bool, error) {
		var err error
		out, created, err = s.registerOnce(ctx, &r, events)
		if errors.Is(err, errCodeTaken) {
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return nil, false, err
	}
	if !done {
		return nil, false, fmt.Errorf("register: access code: %w", store.ErrConflict)
	}
	if created {
		s.changed(nil, r.WorkshopID)
	}
	return out, created, nil
}

var errCodeTaken = errors.New("access code taken")

// registerSQL is the register statement for the workshop of id $1 ($2 the
// email, $3 the new registration's id, $4 its name, $5 its access code,
// $6 its creation time).
var registerSQL = registerWith(`SELECT id FROM workshops WHERE id = $1::text`)

// registerWith is the register statement: w selects the workshop (id; no
// row: nothing is written). It returns the existing registration of the
// email, or inserts one when it can take a free place: the first one no
// other register holds locked (SKIP LOCKED, so concurrent registers of a
// class never wait for each other), deleted with the insert. No row: the
// workshop is full, or an insert conflicted (the access code, or the same
// email registering at this moment): see placesLeft.
func registerWith(w string) string {
	return `WITH w AS (
		` + w + `
	), existing AS (
		SELECT ` + query.RegistrationCols + ` FROM registrations WHERE workshop_id = (SELECT id FROM w) AND lower(email) = $2::text
	), place AS (
		SELECT place FROM free_places WHERE workshop_id = (SELECT id FROM w) AND NOT EXISTS (SELECT 1 FROM existing)
		ORDER BY place LIMIT 1 FOR UPDATE SKIP LOCKED
	), ins AS (
		INSERT INTO registrations (id, workshop_id, name, email, access_code, created_at)
		SELECT $3::text, w.id, $4::text, $2::text, $5::text, $6::timestamptz FROM w, place
		ON CONFLICT DO NOTHING
		RETURNING ` + query.RegistrationCols + `
	), taken AS (
		DELETE FROM free_places WHERE workshop_id = (SELECT workshop_id FROM ins) AND place = (SELECT place FROM place)
	)
	SELECT true, ` + query.RegistrationCols + ` FROM ins
	UNION ALL
	SELECT false, ` + query.RegistrationCols + ` FROM existing`
}

// registerEventSQL adds an event if the registration with the (fresh) id
// $6 exists, that is if this batch created it.
const registerEventSQL = `INSERT INTO workshop_events (workshop_id, at, level, step, message)
	SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM registrations WHERE id = $6)`

// registerBatch is the one round trip of registerOnce (and of the
// connection warm-up, which must send the same statements).
func (s *Store) registerBatch(r *store.Registration, events []store.Event) *pgx.Batch {
	b := &pgx.Batch{}
	b.Queue(`SELECT seats`+s.joinCommit()+` FROM workshops WHERE id = $1`, r.WorkshopID)
	b.Queue(registerSQL, r.WorkshopID, r.Email, r.ID, r.Name, r.AccessCode, r.CreatedAt)
	for _, e := range events {
		b.Queue(registerEventSQL, e.WorkshopID, e.At, e.Level, e.Step, e.Message, r.ID)
	}
	return b
}

func (s *Store) registerOnce(ctx context.Context, r *store.Registration, events []store.Event) (*store.Registration, bool, error) {
	br := s.pool.SendBatch(ctx, s.registerBatch(r, events))
	found := true
	dest := []any{nil} // the seats
	if s.asyncJoins {
		dest = append(dest, nil)
	}
	if err := br.QueryRow().Scan(dest...); errors.Is(err, pgx.ErrNoRows) {
		found = false
	} else if err != nil {
		br.Close()
		return nil, false, mapErr("register", err)
	}
	out, created, err := readRegistered(br, len(events))
	switch {
	case err != nil:
		return nil, false, mapErr("register", err)
	case !found:
		return nil, false, fmt.Errorf("register: workshop %w", store.ErrNotFound)
	case out != nil:
		return out, created, nil
	}
	return nil, false, s.noPlace(ctx, r.WorkshopID)
}

// noPlace is why a register statement inserted nothing and found nothing:
// no free place (ErrFull), else a conflict (errCodeTaken: the caller
// retries with a new code, and finds the registration if the same email
// was just registered).
func (s *Store) noPlace(ctx context.Context, workshopID string) error {
	left, err := s.placesLeft(ctx, workshopID)
	switch {
	case err != nil:
		return mapErr("register", err)
	case !left:
		return fmt.Errorf("register: %w", store.ErrFull)
	}
	return errCodeTaken
}

// readRegistered reads the rest of a register batch: the registration
// statement's row (the registration inserted or the existing one; none when
// full or the access code was taken) and the events' inserts, then closes
// the batch (its implicit commit).
func readRegistered(br pgx.BatchResults, events int) (*store.Registration, bool, error) {
	var (
		out     *store.Registration
		created bool
	)
	rows, err := br.Query()
	if err == nil {
		for rows.Next() {
			var reg store.Registration
			if err = rows.Scan(&created, &reg.ID, &reg.WorkshopID, &reg.Name, &reg.Email, &reg.AccessCode,
				&reg.CreatedAt, &reg.RevokedAt); err != nil {
				break
			}
			reg.CreatedAt, reg.RevokedAt = reg.CreatedAt.UTC(), store.UTCPtr(reg.RevokedAt)
			out = &reg
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	for range events {
		if err != nil {
			break
		}
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr // the implicit commit
	}
	return out, created, err
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

// AssignSeat implements store.Store.
//
// One round trip, like Register: a pipelined batch locks the registration
// (only when it holds no seat yet, so re-joins never wait), then one
// statement returns the registration's seat or takes the lowest free one
// (assignWith).
func (s *Store) AssignSeat(ctx context.Context, registrationID string) (*store.Seat, error) {
	j, err := s.seatChanged(s.assignSeat(ctx, registrationID, false))
	if err != nil {
		return nil, err
	}
	return j.Seat, nil
}

// JoinSeat implements store.Store: AssignSeat's batch with one more
// statement, in the same round trip and transaction.
func (s *Store) JoinSeat(ctx context.Context, registrationID string) (*store.SeatJoin, error) {
	return s.seatChanged(s.assignSeat(ctx, registrationID, true))
}

// seatChanged signals the watchers of the class of a seat assignSeat gave.
func (s *Store) seatChanged(j *store.SeatJoin, err error) (*store.SeatJoin, error) {
	if err != nil || j.Seat == nil {
		return j, err
	}
	return j, s.changed(nil, j.Seat.WorkshopID)
}

// joinInfoSQL reads what JoinSeat adds to the seat of registration $1.
var joinInfoSQL = joinInfoWith(`$1`)

// joinInfoWith is the join's facts statement for the registration whose id
// regID is.
func joinInfoWith(regID string) string {
	return `SELECT
	EXISTS (SELECT 1 FROM sessions s JOIN seat_revocations p ON p.workshop_id = s.workshop_id AND p.seat = s.seat
		WHERE s.registration_id = ` + regID + ` AND p.reset),
	(SELECT CASE WHEN a.restored_at IS NOT NULL THEN a.created_at END FROM archives a
		WHERE a.registration_id = ` + regID + ` ORDER BY a.created_at DESC, a.id DESC LIMIT 1)`
}

// seatBatch is the one round trip of assignSeat (and of the connection
// warm-up).
func (s *Store) seatBatch(registrationID string, join bool) *pgx.Batch {
	b := &pgx.Batch{}
	b.Queue(`SELECT 1`+s.joinCommit()+` FROM registrations WHERE id = $1
			AND NOT EXISTS (SELECT 1 FROM sessions WHERE registration_id = $1)
		FOR NO KEY UPDATE`, registrationID)
	b.Queue(assignSQL, registrationID, authtoken.NewID(), now())
	if join {
		b.Queue(joinInfoSQL, registrationID)
	}
	return b
}

func (s *Store) assignSeat(ctx context.Context, registrationID string, join bool) (*store.SeatJoin, error) {
	for attempt := 1; ; attempt++ {
		out, err := readSeat(s.pool.SendBatch(ctx, s.seatBatch(registrationID, join)), join)
		if err != nil {
			return nil, err
		}
		if out.Seat != nil {
			return out, nil
		}
		if err := s.noSeat(ctx, registrationID, attempt); !errors.Is(err, errSeatsBusy) {
			return nil, err
		}
	}
}

// errSeatsBusy: a join found no free seat it could lock, but free seats
// remain: other joins held them locked and rolled back. It tries again.
var errSeatsBusy = errors.New("free seats held by joins that did not take them")

// seatAttempts bounds how often a join tries again on errSeatsBusy.
const seatAttempts = 3

// readSeat reads the rest of a seat batch (the lock, the seat statement and,
// when join, the join's facts) and closes it (its implicit commit).
func readSeat(br pgx.BatchResults, join bool) (*store.SeatJoin, error) {
	out := &store.SeatJoin{}
	_, err := br.Exec()
	if err == nil {
		var rows pgx.Rows
		rows, err = br.Query()
		if err == nil {
			for rows.Next() {
				if out.Seat, err = scanSeat(rows); err != nil {
					break
				}
			}
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
		}
	}
	if err == nil && join {
		err = br.QueryRow().Scan(&out.ResetPending, &out.RestoredFrom)
		out.RestoredFrom = store.UTCPtr(out.RestoredFrom)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, mapErr("assign seat", err)
	}
	return out, nil
}

// noSeat is why the attempt-th seat batch gave registrationID no seat:
// revoked, full, or (before seatAttempts) errSeatsBusy.
func (s *Store) noSeat(ctx context.Context, registrationID string, attempt int) error {
	var revoked, free bool
	err := s.pool.QueryRow(ctx, `SELECT r.revoked_at IS NOT NULL, EXISTS (SELECT 1 FROM free_seats f WHERE f.workshop_id = r.workshop_id)
		FROM registrations r WHERE r.id = $1`, registrationID).Scan(&revoked, &free)
	switch {
	case err != nil:
		return mapErr("assign seat", err)
	case revoked:
		return fmt.Errorf("assign seat: %w", store.ErrRevoked)
	case free && attempt < seatAttempts:
		return errSeatsBusy
	}
	return fmt.Errorf("assign seat: %w", store.ErrFull)
}

// assignSQL is AssignSeat's statement for registration $1 ($2 the new
// seat's id, $3 its creation time).
var assignSQL = assignWith(`SELECT id, workshop_id FROM registrations WHERE id = $1::text AND revoked_at IS NULL`, `$1::text`)

// assignWith is the seat statement: reg is the registration to seat (id,
// workshop_id; no row: nothing is written), regID the expression of its
// id for its existing seat. A new seat is the lowest free number no other
// join holds locked (SKIP LOCKED: concurrent joins of a class take
// different numbers without waiting for each other), taken off the free
// list in the same statement; its generation comes from the sequence.
// The batch has locked the registration before (seatBatch), so two joins
// of one learner never both take a number.
func assignWith(reg, regID string) string {
	return `WITH reg AS (
		` + reg + `
	), existing AS (
		SELECT ` + query.SeatCols + ` FROM sessions WHERE registration_id = ` + regID + `
	), free AS (
		SELECT seat FROM free_seats WHERE workshop_id = (SELECT workshop_id FROM reg) AND NOT EXISTS (SELECT 1 FROM existing)
		ORDER BY seat LIMIT 1 FOR UPDATE SKIP LOCKED
	), taken AS (
		DELETE FROM free_seats WHERE workshop_id = (SELECT workshop_id FROM reg) AND seat = (SELECT seat FROM free)
		RETURNING seat
	), ins AS (
		INSERT INTO sessions (id, workshop_id, registration_id, seat, status, created_at, generation)
		SELECT $2::text, reg.workshop_id, reg.id, taken.seat, 'assigned', $3::timestamptz, nextval('token_generations')
		FROM reg, taken
		RETURNING ` + query.SeatCols + `
	)
	SELECT ` + query.SeatCols + ` FROM ins
	UNION ALL
	SELECT ` + query.SeatCols + ` FROM existing`
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
