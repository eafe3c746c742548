package postgres

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// pgx (v5.13) plans how to scan each column afresh for every QueryRow: a
// plan is kept only for the rows of one result. A register's and a join's
// rows are 36 and 45 columns, so every learner paid ~80 plans, most of
// them wrapper plans allocated for the nullable columns (**string,
// **time.Time) and the named string types: about 90 of the ~390
// allocations of a learner's register and join in the server
// (bench/bigclass's README, 2026-12-06). A hot statement's row is scanned
// with plans kept per connection instead (scanRow): the same plans pgx
// would make (the connection's own type map), reused as pgx reuses them
// for the rows of one result, and made again when a column's type, its
// format or a destination's type is not the one they were made for.

// hotStatement names a statement whose row plans are kept.
type hotStatement int

const (
	stmtRegisterByCode hotStatement = iota
	stmtJoinByCode
)

// maxPlanSets bounds the kept plan sets: a pool replaces its connections
// now and then (pool_max_conn_lifetime), and a closed connection's plans
// are not looked up again; past the bound they are all dropped and made
// again on the next use.
const maxPlanSets = 256

// scanPlans is a store's kept plans, per connection and statement. A set
// is used only by the goroutine holding its connection; the mutex guards
// the map.
type scanPlans struct {
	mu   sync.Mutex
	sets map[planKey]*planSet
}

type planKey struct {
	conn *pgx.Conn
	stmt hotStatement
}

// planSet is one statement's plans on one connection and what they were
// made for.
type planSet struct {
	oids    []uint32
	formats []int16
	types   []reflect.Type
	plans   []pgtype.ScanPlan
}

func (c *scanPlans) set(conn *pgx.Conn, stmt hotStatement, n int) *planSet {
	k := planKey{conn, stmt}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.sets[k]; s != nil && len(s.plans) == n {
		return s
	}
	if c.sets == nil || len(c.sets) >= maxPlanSets {
		c.sets = make(map[planKey]*planSet)
	}
	s := &planSet{oids: make([]uint32, n), formats: make([]int16, n), types: make([]reflect.Type, n), plans: make([]pgtype.ScanPlan, n)}
	c.sets[k] = s
	return s
}

// plan is column i's plan for dst, made again if what it was made for
// changed (or it was never made).
func (s *planSet) plan(m *pgtype.Map, i int, fd *pgconn.FieldDescription, dst any) pgtype.ScanPlan {
	t := reflect.TypeOf(dst)
	if s.plans[i] == nil || s.oids[i] != fd.DataTypeOID || s.formats[i] != fd.Format || s.types[i] != t {
		s.plans[i] = m.PlanScan(fd.DataTypeOID, fd.Format, dst)
		s.oids[i], s.formats[i], s.types[i] = fd.DataTypeOID, fd.Format, t
	}
	return s.plans[i]
}

// keptRow scans a hot statement's one row into dest (nil entries are
// skipped) with the connection's kept plans: pass it as the only argument
// of a QueryRow's Scan (pgx calls ScanRow, and keeps QueryRow's handling
// of errors and of no row).
type keptRow struct {
	plans *scanPlans
	stmt  hotStatement
	dest  []any
}

// ScanRow implements pgx.RowScanner.
func (r *keptRow) ScanRow(rows pgx.Rows) error {
	fds, values := rows.FieldDescriptions(), rows.RawValues()
	if len(fds) != len(r.dest) || len(values) != len(fds) {
		return fmt.Errorf("scan: %d columns, %d values, %d destinations", len(fds), len(values), len(r.dest))
	}
	conn := rows.Conn()
	m := conn.TypeMap()
	set := r.plans.set(conn, r.stmt, len(fds))
	for i, dst := range r.dest {
		if dst == nil {
			continue
		}
		if err := set.plan(m, i, &fds[i], dst).Scan(values[i], dst); err != nil {
			return pgx.ScanArgError{ColumnIndex: i, FieldName: fds[i].Name, Err: err}
		}
	}
	return nil
}
