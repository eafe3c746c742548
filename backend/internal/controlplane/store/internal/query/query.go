// Package query holds the SQL text and row reading that both store engines
// share: the column lists of every table (one order, which each engine's
// scan functions follow), the WorkshopFilter predicates, and collecting rows
// into a slice. What differs per dialect (placeholders, locking, upserts,
// time encoding) stays in the engines.
package query

import (
	"strings"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// Column lists, in the order the engines insert and scan them.
const (
	UserCols     = `id, email, name, password_hash, role, created_at`
	WorkshopCols = `id, owner_id, name, code, seats, status, desired_state, status_reason, step,
	starts_at, ends_at, lab_guide, provisioner, agent_url, agent_token, attempts, next_attempt_at,
	created_at, updated_at, deleted_at, disk_mb, egress_allow, agent_cert, environment, environment_auth, seats_per_host, learner_root`
	RegistrationCols = `id, workshop_id, name, email, access_code, created_at, revoked_at`
	SeatCols         = `id, workshop_id, registration_id, seat, status, last_activity, created_at, generation`
	RevokeCols       = `workshop_id, seat, registration_id, min_generation, reset, attempts, last_error, created_at, updated_at`
	VMCols           = `id, workshop_id, name, zone, ip, status, agent_url, steps, created_at, updated_at, host_index, agent_token, agent_cert`
)

// LearnerCols are a registration's columns (RegistrationCols of r) and its
// workshop's (WorkshopCols of w), as LearnerFrom reads them.
var LearnerCols = qualify("r", RegistrationCols) + `, ` + qualify("w", WorkshopCols)

// LearnerFrom reads a registration (RegistrationCols, as r) with its
// workshop (WorkshopCols, as w); the engine adds the access code's WHERE.
var LearnerFrom = `SELECT ` + LearnerCols + ` FROM registrations r JOIN workshops w ON w.id = r.workshop_id`

// qualify prefixes each column of a column list with a table alias.
func qualify(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// The predicates behind WorkshopFilter:
//   - deleted: the instructor deleted it (desired_state or status 'deleted',
//     or deleted_at set);
//   - needs work: desired running but not running; desired stopped but not
//     created/stopped; desired deleted but not deleted; or running (watched).
const (
	deletedSQL   = `(desired_state = 'deleted' OR status = 'deleted' OR deleted_at IS NOT NULL)`
	needsWorkSQL = `((desired_state = 'running' AND status <> 'running')
		OR (desired_state = 'stopped' AND status NOT IN ('created', 'stopped'))
		OR (desired_state = 'deleted' AND status <> 'deleted')
		OR status = 'running')`
)

// ListWorkshops returns the query for store.Store.ListWorkshops (newest
// first) and its arguments; param(n) is the engine's placeholder for the
// n-th argument (1-based). With NeedsWork set, IncludeDeleted is ignored: a
// deleted workshop whose teardown is unfinished needs work, a finished one
// never matches.
func ListWorkshops(f store.WorkshopFilter, param func(n int) string) (string, []any) {
	var (
		where []string
		args  []any
	)
	if f.OwnerID != "" {
		args = append(args, f.OwnerID)
		where = append(where, `owner_id = `+param(len(args)))
	}
	if f.NeedsWork {
		where = append(where, needsWorkSQL)
	} else if !f.IncludeDeleted {
		where = append(where, `NOT `+deletedSQL)
	}
	q := `SELECT ` + WorkshopCols + ` FROM workshops`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	return q + ` ORDER BY created_at DESC, id DESC`, args
}

// Rows is what Collect needs of a driver's result set (pgx.Rows, *sql.Rows).
type Rows interface {
	Next() bool
	Err() error
}

// Collect scans every row with scan and returns them in order, never nil
// when there is no error. A scan error stops it (nil, err); a result-set
// error returns what was read with that error. The caller closes rows.
func Collect[T any](rows Rows, scan func() (*T, error)) ([]T, error) {
	out := []T{}
	for rows.Next() {
		v, err := scan()
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}

// ListEvents returns the query for store.Store.ListEvents and its arguments:
// events with ID > afterID, oldest first; with limit > 0 only the newest
// limit of them (the tail of the history). param is as for ListWorkshops.
func ListEvents(workshopID string, afterID int64, limit int, param func(n int) string) (string, []any) {
	const cols = `id, workshop_id, at, level, step, message`
	where := `workshop_id = ` + param(1) + ` AND id > ` + param(2)
	if limit <= 0 {
		return `SELECT ` + cols + ` FROM workshop_events WHERE ` + where + ` ORDER BY id`, []any{workshopID, afterID}
	}
	return `SELECT * FROM (SELECT ` + cols + ` FROM workshop_events
			WHERE ` + where + ` ORDER BY id DESC LIMIT ` + param(3) + `) tail ORDER BY id`,
		[]any{workshopID, afterID, limit}
}

// OwnerUsageSQL counts an owner's (param 1) workshops that are desired
// running and not deleted, and their seats, leaving out the workshop whose
// id is param 2 ("" leaves out none).
func OwnerUsageSQL(param func(n int) string) string {
	return `SELECT count(*), COALESCE(sum(seats), 0) FROM workshops
		WHERE owner_id = ` + param(1) + ` AND id <> ` + param(2) + `
			AND desired_state = 'running' AND NOT ` + deletedSQL
}

// MemberSelect reads workshop_members m joined with users u, in the order
// the engines scan a store.Member: workshop_id, user_id, role, created_at,
// email, name. Append a WHERE clause.
const MemberSelect = `SELECT m.workshop_id, m.user_id, m.role, m.created_at, u.email, u.name
	FROM workshop_members m JOIN users u ON u.id = m.user_id`

// MemberWorkshopsSQL lists the workshops (not deleted) that the user
// (param 1) is a member of, newest first.
func MemberWorkshopsSQL(param func(n int) string) string {
	return `SELECT ` + WorkshopCols + ` FROM workshops
		WHERE id IN (SELECT workshop_id FROM workshop_members WHERE user_id = ` + param(1) + `)
			AND NOT ` + deletedSQL + `
		ORDER BY created_at DESC, id DESC`
}
