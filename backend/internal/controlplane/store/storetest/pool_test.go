package storetest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestPooledSchemaIsLikeANewOne: with the pool on, a test's schema goes back
// to the pool when it ends, and the next test gets the same schema as a
// freshly migrated one is: every table empty, every sequence restarted,
// golang-migrate's version kept (so Migrate has nothing to do).
func TestPooledSchemaIsLikeANewOne(t *testing.T) {
	schemaPool.Lock()
	schemaPool.on = true
	schemaPool.Unlock()
	t.Cleanup(func() {
		if err := drainPool(); err != nil {
			t.Error(err)
		}
	})
	ctx := context.Background()
	var first, fresh string
	t.Run("first", func(t *testing.T) {
		first = migratedSchema(t)
		conn := connect(t, first)
		fresh = contents(t, conn)
		for _, stmt := range []string{
			`INSERT INTO users (id, email, password_hash) VALUES ('u1', 'a@example.com', 'x')`,
			`INSERT INTO workshops (id, owner_id, name, code, seats) VALUES ('w1', 'u1', 'W', 'c1', 3)`,
			`INSERT INTO workshop_events (workshop_id, message) VALUES ('w1', 'm')`,
			`SELECT nextval('token_generations')`,
		} {
			if _, err := conn.Exec(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		if got := contents(t, conn); got == fresh {
			t.Fatalf("the rows written do not show: %s", got)
		}
	})
	t.Run("second", func(t *testing.T) {
		second := migratedSchema(t)
		if second != first {
			t.Fatalf("got schema %s, want the first test's %s back", second, first)
		}
		if got := contents(t, connect(t, second)); got != fresh {
			t.Errorf("reused schema:\n%s\nwant, as the fresh one was:\n%s", got, fresh)
		}
	})
	// A schema its test analyzed or altered is not handed out again.
	for _, change := range []string{"INSERT INTO users (id, email, password_hash) VALUES ('u1', 'a@example.com', 'x'); ANALYZE users", "ALTER TABLE users ADD COLUMN x int", "CREATE INDEX users_name_idx ON users (name)"} {
		var used string
		t.Run("changed", func(t *testing.T) {
			used = migratedSchema(t)
			if _, err := connect(t, used).Exec(ctx, change); err != nil {
				t.Fatalf("%s: %v", change, err)
			}
		})
		t.Run("after", func(t *testing.T) {
			if got := migratedSchema(t); got == used {
				t.Errorf("after %q the next test got that schema again", change)
			}
		})
	}
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// contents describes what the schema holds: each table's row count, the
// next value of each sequence, and the migration version.
func contents(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	var out string
	err := conn.QueryRow(context.Background(), `
		SELECT string_agg(c.relname || '=' || (xpath('/row/n/text()',
			query_to_xml(CASE c.relkind WHEN 'S'
				THEN format('SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END AS n FROM %I', c.relname)
				ELSE format('SELECT count(*) AS n FROM %I', c.relname) END, false, true, '')))[1]::text, ' ' ORDER BY c.relname)
		FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'S')`).Scan(&out)
	if err != nil {
		t.Fatal(err)
	}
	var version int64
	var dirty bool
	if err := conn.QueryRow(context.Background(), `SELECT version, dirty FROM schema_migrations`).Scan(&version, &dirty); err != nil {
		t.Fatal(err)
	}
	if version == 0 || dirty {
		t.Fatalf("migration version %d dirty=%v", version, dirty)
	}
	return out
}
