package sqlite

import (
	"context"

	"github.com/clarateach/backend/internal/controlplane/store/internal/query"
)

// list runs sql and scans every row with scan, in order (never nil when
// there is no error); what names the errors (mapErr).
func list[T any](ctx context.Context, q querier, what string, scan func(scanner) (*T, error), sql string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, sql, args...)
	if err != nil {
		return nil, mapErr(what, err)
	}
	defer rows.Close()
	out, err := query.Collect(rows, func() (*T, error) { return scan(rows) })
	return out, mapErr(what, err)
}
