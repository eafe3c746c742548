package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clarateach/backend/internal/authtoken"
)

// benchDB is the run's fresh database.
type benchDB struct {
	dsn  string
	drop func()
}

// database returns a fresh database for the run (PostgreSQL from
// CLARATEACH_TEST_DATABASE_URL, or an SQLite file).
func database(ctx context.Context, engine string) (*benchDB, error) {
	if engine == "sqlite" {
		dir, err := os.MkdirTemp("", "bigclass")
		if err != nil {
			return nil, err
		}
		return &benchDB{dsn: "sqlite:" + filepath.Join(dir, "bench.db"), drop: func() { os.RemoveAll(dir) }}, nil
	}
	base := os.Getenv("CLARATEACH_TEST_DATABASE_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return nil, fmt.Errorf("postgres not reachable (set CLARATEACH_TEST_DATABASE_URL): %w", err)
	}
	name := "ct_bigclass_" + authtoken.Random(4)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return &benchDB{dsn: u.String(), drop: func() {
		conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(context.Background())
	}}, nil
}

// selfCPU is this process's user and system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
