package postgres

import (
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// AssignSQL is AssignSeat's statement and AssignByCodeSQL JoinByCode's,
// for the plan test.
var (
	AssignSQL       = hotDurable.seat
	AssignByCodeSQL = hotDurable.seatByCode
)

// RegisterByCodeStatement and JoinByCodeStatement are the hot statements
// of s with their parameters, for the commit test.
func (s *Store) RegisterByCodeStatement(code string, r *store.Registration, at time.Time, events []store.Event) (string, []any) {
	r2, ev := prepareRegister(r, events)
	return s.registerByCodeStatement(code, r2, at, ev)
}

func (s *Store) JoinByCodeStatement(code string, at time.Time) (string, []any) {
	return s.joinByCodeStatement(code, at)
}

// KeptPlans is a store's kept scan plans, and ScanKept scans row with
// them as the hot statements do, for the scan plan test.
type KeptPlans = scanPlans

func ScanKept(row pgx.Row, p *KeptPlans, dest ...any) error {
	return row.Scan(&keptRow{p, stmtJoinByCode, dest})
}
