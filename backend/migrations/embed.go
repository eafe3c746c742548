// Package migrations holds ClaraTeach's PostgreSQL schema as golang-migrate
// files (NNN_name.up.sql / NNN_name.down.sql). The same files serve the
// operations guide's `psql -f` and `migrate ... up` commands and, embedded
// here, the server, which applies pending ones at start (store/postgres.Migrate).
package migrations

import "embed"

// FS holds every *.sql migration file of this directory.
//
//go:embed *.sql
var FS embed.FS
