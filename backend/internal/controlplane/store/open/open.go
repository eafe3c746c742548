// Package open picks the store engine from a DATABASE_URL-style string,
// applies pending migrations and opens the store:
//
//	postgres://... or postgresql://...   PostgreSQL (pgx; Neon's ?sslmode=require URLs work)
//	sqlite:PATH, sqlite://PATH           SQLite file (created with its directory if missing)
//	file:PATH                            SQLite file
//	PATH ending in .db/.sqlite/.sqlite3  SQLite file
//
// Errors and Describe never contain a password.
package open

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/postgres"
	"github.com/clarateach/backend/internal/controlplane/store/sqlite"
)

// Engine names, as returned by store.Store.Engine.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// Parse returns the engine a DSN selects and what that engine opens: the URL
// itself for PostgreSQL, a file path for SQLite.
func Parse(dsn string) (engine, target string, err error) {
	dsn = strings.TrimSpace(dsn)
	lower := strings.ToLower(dsn)
	switch {
	case dsn == "":
		return "", "", fmt.Errorf("database: empty DATABASE_URL")
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return Postgres, dsn, nil
	case strings.HasPrefix(lower, "sqlite:"):
		return sqlitePath(dsn[len("sqlite:"):])
	case strings.HasPrefix(lower, "file:"):
		return sqlitePath(dsn[len("file:"):])
	case strings.Contains(dsn, "://"):
		scheme := dsn[:strings.Index(dsn, "://")]
		return "", "", fmt.Errorf("database: unsupported URL scheme %q (want postgres://, postgresql://, sqlite:PATH or a .db file)", scheme)
	case hasDBSuffix(lower):
		return sqlitePath(dsn)
	default:
		return "", "", fmt.Errorf("database: DATABASE_URL is neither a postgres:// URL nor a SQLite file (sqlite:PATH, file:PATH or a path ending in .db)")
	}
}

func hasDBSuffix(p string) bool {
	for _, ext := range []string{".db", ".sqlite", ".sqlite3"} {
		if strings.HasSuffix(p, ext) {
			return true
		}
	}
	return false
}

// sqlitePath turns the part after sqlite: or file: into a path:
// "//" + path (sqlite:///abs/x.db, sqlite://./x.db) or the path itself.
func sqlitePath(p string) (string, string, error) {
	p = strings.TrimPrefix(p, "//")
	if p == "" || p == ":memory:" {
		return "", "", fmt.Errorf("database: a SQLite DATABASE_URL needs a file path (in-memory databases are not supported)")
	}
	if strings.ContainsAny(p, "?#") {
		return "", "", fmt.Errorf("database: SQLite path must not contain '?' or '#' (driver options are fixed)")
	}
	if strings.Contains(p, "%") {
		if u, err := url.PathUnescape(p); err == nil {
			p = u
		}
	}
	return SQLite, p, nil
}

// Describe names the database a DSN points at, without any password: for
// logs and /health.
func Describe(dsn string) string {
	engine, target, err := Parse(dsn)
	if err != nil {
		return "(invalid DATABASE_URL)"
	}
	if engine == Postgres {
		return "postgres " + postgres.Describe(target)
	}
	return "sqlite " + target
}

// Migrate applies the pending migrations of the selected engine without
// opening a store (`clarateach migrate`). Safe to run from several
// processes at once.
func Migrate(ctx context.Context, dsn string) error {
	engine, target, err := Parse(dsn)
	if err != nil {
		return err
	}
	switch engine {
	case Postgres:
		return postgres.Migrate(ctx, target)
	default:
		return sqlite.Migrate(ctx, target)
	}
}

// Option configures Open.
type Option func(*options)

type options struct{ warmPool bool }

// WarmPool is for the server: a PostgreSQL store opens its pool's
// connections before Open returns, keeps them, and warms each new one (see
// postgres.WithWarmPool). SQLite ignores it.
func WarmPool() Option { return func(o *options) { o.warmPool = true } }

// Open applies pending migrations and opens the store.
func Open(ctx context.Context, dsn string, opts ...Option) (store.Store, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	engine, target, err := Parse(dsn)
	if err != nil {
		return nil, err
	}
	switch engine {
	case Postgres:
		if err := postgres.Migrate(ctx, target); err != nil {
			return nil, err
		}
		var pgOpts []postgres.Option
		if o.warmPool {
			pgOpts = append(pgOpts, postgres.WithWarmPool())
		}
		return postgres.Open(ctx, target, pgOpts...)
	default:
		if err := sqlite.Migrate(ctx, target); err != nil {
			return nil, err
		}
		return sqlite.Open(ctx, target)
	}
}
