package query

import (
	"strings"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// ArchiveCols are the archives columns in the order the engines scan them.
const ArchiveCols = `id, workshop_id, registration_id, seat, blob_key, size_bytes, fingerprint, reason, created_at, restored_at`

// ListArchives builds the query of store.ListArchives; enc formats a time
// argument for the engine.
func ListArchives(f store.ArchiveFilter, param func(n int) string, enc func(time.Time) any) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, cond+" "+param(len(args)))
	}
	if f.WorkshopID != "" {
		add("workshop_id =", f.WorkshopID)
	}
	if f.RegistrationID != "" {
		add("registration_id =", f.RegistrationID)
	}
	if f.CreatedBefore != nil {
		add("created_at <", enc(*f.CreatedBefore))
	}
	q := `SELECT ` + ArchiveCols + ` FROM archives`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	return q + ` ORDER BY created_at DESC, id DESC`, args
}
