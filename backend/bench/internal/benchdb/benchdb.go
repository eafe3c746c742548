// Package benchdb gives a benchmark run a database of its own: a fresh
// PostgreSQL database on the server of CLARATEACH_TEST_DATABASE_URL (dropped
// at Close), or an SQLite file in a temporary directory.
package benchdb

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/clarateach/backend/internal/authtoken"
)

// DB is the run's fresh database.
type DB struct {
	DSN   string    // what the store opens
	Name  string    // the PostgreSQL database's name; "" for SQLite
	Admin *pgx.Conn // on the base database; nil for SQLite
	drop  func()
}

// Open makes the run's database; prefix names it (prefix_<random>).
func Open(ctx context.Context, engine, prefix string) (*DB, error) {
	if engine == "sqlite" {
		dir, err := os.MkdirTemp("", prefix)
		if err != nil {
			return nil, err
		}
		return &DB{DSN: "sqlite:" + filepath.Join(dir, "bench.db"), drop: func() { os.RemoveAll(dir) }}, nil
	}
	base := os.Getenv("CLARATEACH_TEST_DATABASE_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return nil, fmt.Errorf("postgres not reachable (set CLARATEACH_TEST_DATABASE_URL): %w", err)
	}
	name := prefix + "_" + authtoken.Random(4)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return &DB{DSN: u.String(), Name: name, Admin: conn, drop: func() {
		conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(context.Background())
	}}, nil
}

// PoolDSN is DSN with the store's PostgreSQL pool size set to n
// (pool_max_conns); DSN itself for n <= 0 or SQLite.
func (d *DB) PoolDSN(n int) string {
	if n <= 0 || d.Name == "" {
		return d.DSN
	}
	u, err := url.Parse(d.DSN)
	if err != nil {
		return d.DSN
	}
	q := u.Query()
	q.Set("pool_max_conns", strconv.Itoa(n))
	u.RawQuery = q.Encode()
	return u.String()
}

// Close drops the database (PostgreSQL) or removes its directory (SQLite).
func (d *DB) Close() { d.drop() }

// Backends lists the PostgreSQL backend processes connected to the run's
// database (other users of the same server are not counted); nil for SQLite.
func (d *DB) Backends(ctx context.Context) []int {
	if d.Admin == nil {
		return nil
	}
	rows, err := d.Admin.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = $1", d.Name)
	if err != nil {
		return nil
	}
	pids, _ := pgx.CollectRows(rows, pgx.RowTo[int32])
	out := make([]int, len(pids))
	for i, p := range pids {
		out[i] = int(p)
	}
	return out
}
