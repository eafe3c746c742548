package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/clarateach/backend/internal/controlplane/store/internal/query"
)

// rowsQuerier is what list needs of a pool or a transaction.
type rowsQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// list runs sql and scans every row with scan, in order (never nil when
// there is no error); what names the errors (mapErr).
func list[T any](ctx context.Context, q rowsQuerier, what string, scan func(pgx.Row) (*T, error), sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, mapErr(what, err)
	}
	defer rows.Close()
	out, err := query.Collect(rows, func() (*T, error) { return scan(rows) })
	return out, mapErr(what, err)
}
