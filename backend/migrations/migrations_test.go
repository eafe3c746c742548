package migrations_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	_ "github.com/golang-migrate/migrate/v4/source/file"
	"github.com/jackc/pgx/v5"

	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/open"
	"github.com/clarateach/backend/internal/controlplane/store/postgres"
	"github.com/clarateach/backend/internal/controlplane/store/storetest"
	"github.com/clarateach/backend/migrations"
)

// latest is the newest migration version: the highest among the files.
var latest = latestVersion()

// The tables of 001 (what `psql -f 001_initial_schema.up.sql` makes), and of
// the whole schema, in both dialects.
var (
	tables001 = []string{"auth_sessions", "leases", "registrations", "sessions", "users", "workshop_events", "workshop_vms", "workshops"}
	tables    = []string{"archives", "auth_sessions", "broadcasts", "free_places", "free_seats", "guess_failures", "hands", "invites", "lab_progress", "lab_setups", "labs", "leases", "preview_shares", "push_deliveries", "pushed_files", "registrations",
		"seat_revocations", "seat_watchers", "sessions", "user_quotas", "users", "workshop_events", "workshop_labs", "workshop_members", "workshop_vms",
		"workshops"} // 002 adds seat_revocations; 003 invites, user_quotas, workshop_members; 011 archives; 012 guess_failures; 015 labs, workshop_labs, lab_progress, hands, broadcasts; 016 seat_watchers, lab_setups; 019 preview_shares; 020 pushed_files, push_deliveries; 023 free_seats, free_places
)

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func pgTables(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name <> 'schema_migrations' ORDER BY table_name`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func schemaVersion(t *testing.T, conn *pgx.Conn) (int64, bool) {
	t.Helper()
	var v int64
	var dirty bool
	if err := conn.QueryRow(context.Background(), `SELECT version, dirty FROM schema_migrations`).Scan(&v, &dirty); err != nil {
		t.Fatal(err)
	}
	return v, dirty
}

// TestEmbeddedFiles: the embedded FS holds the up and down files of every
// version, and the SQLite dialect has the same versions.
func TestEmbeddedFiles(t *testing.T) {
	t.Parallel()
	list := func(fsys interface {
		ReadDir(string) ([]os.DirEntry, error)
	}, dir string) []string {
		entries, err := fsys.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".sql") {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		return names
	}
	embedded := list(migrations.FS, ".")
	// Every version has its up and its down file, and 001 is there.
	if len(embedded) < 2 || embedded[0] != "001_initial_schema.down.sql" || embedded[1] != "001_initial_schema.up.sql" {
		t.Fatalf("embedded migrations %v: 001_initial_schema is missing", embedded)
	}
	for _, name := range embedded {
		if up, ok := strings.CutSuffix(name, ".down.sql"); ok && !slices.Contains(embedded, up+".up.sql") {
			t.Errorf("%s has no up file", name)
		}
		if down, ok := strings.CutSuffix(name, ".up.sql"); ok && !slices.Contains(embedded, down+".down.sql") {
			t.Errorf("%s has no down file", name)
		}
	}
	onDisk := list(osDir{}, ".")
	sqliteDir := list(osDir{}, filepath.Join("..", "internal", "controlplane", "store", "sqlite", "migrations"))
	if !reflect.DeepEqual(onDisk, embedded) || !reflect.DeepEqual(sqliteDir, embedded) {
		t.Fatalf("migration files differ: embedded %v, on disk %v, sqlite %v", embedded, onDisk, sqliteDir)
	}
}

// latestVersion is the highest version among the migration files.
func latestVersion() int64 {
	ents, err := os.ReadDir(".")
	if err != nil {
		panic(err)
	}
	var max int64
	for _, e := range ents {
		var v int64
		if _, err := fmt.Sscanf(e.Name(), "%d_", &v); err == nil && strings.HasSuffix(e.Name(), ".up.sql") && v > max {
			max = v
		}
	}
	return max
}

type osDir struct{}

func (osDir) ReadDir(name string) ([]os.DirEntry, error) { return os.ReadDir(name) }

// TestPsqlSeedCommand runs the operations guide's first command,
// `psql "$DATABASE_URL" -f migrations/001_initial_schema.up.sql` in backend/,
// on an empty database; then the server's migration on top of it; then the
// psql command again.
func TestPsqlSeedCommand(t *testing.T) {
	t.Parallel()
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Skip("psql not installed")
	}
	url := storetest.PostgresURL(t)
	run := func() {
		t.Helper()
		cmd := exec.Command(psql, url, "-f", "migrations/001_initial_schema.up.sql")
		cmd.Dir = ".."
		out, err := cmd.CombinedOutput()
		if err != nil || strings.Contains(string(out), "ERROR") {
			t.Fatalf("psql -f: %v\n%s", err, out)
		}
	}
	run()
	conn := connect(t, url)
	if got := pgTables(t, conn); !reflect.DeepEqual(got, tables001) {
		t.Fatalf("tables after psql: %v, want %v", got, tables001)
	}
	// The server starts on the psql-seeded database: golang-migrate re-runs
	// 001 (idempotent), applies the later ones and records the latest.
	if err := postgres.Migrate(context.Background(), url); err != nil {
		t.Fatalf("migrate after psql seeding: %v", err)
	}
	if v, dirty := schemaVersion(t, conn); v != latest || dirty {
		t.Fatalf("schema version %d dirty=%v, want %d clean", v, dirty, latest)
	}
	if got := pgTables(t, conn); !reflect.DeepEqual(got, tables) {
		t.Fatalf("tables after migrate: %v, want %v", got, tables)
	}
	run()
}

// TestMigrateCommandFileSource applies backend/migrations the way
// `migrate -database "$DATABASE_URL" -path migrations up` does (golang-migrate
// with the file source on this directory), then down and up again.
func TestMigrateCommandFileSource(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	// The CLI built with -tags postgres uses lib/pq for postgres:// URLs;
	// the library test uses the pgx v5 driver the server uses.
	dbURL := "pgx5://" + strings.SplitN(url, "://", 2)[1]
	m, err := migrate.New("file://"+dir, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Up(); err != nil {
		t.Fatalf("up: %v", err)
	}
	conn := connect(t, url)
	if got := pgTables(t, conn); !reflect.DeepEqual(got, tables) {
		t.Fatalf("tables after up: %v, want %v", got, tables)
	}
	if v, dirty, err := m.Version(); err != nil || v != uint(latest) || dirty {
		t.Fatalf("version %d dirty=%v err=%v", v, dirty, err)
	}
	if err := m.Down(); err != nil {
		t.Fatalf("down: %v", err)
	}
	if got := pgTables(t, conn); len(got) != 0 {
		t.Fatalf("tables left after down: %v", got)
	}
	if err := m.Up(); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if got := pgTables(t, conn); !reflect.DeepEqual(got, tables) {
		t.Fatalf("tables after second up: %v", got)
	}
}

// TestConcurrentMigrate: replicas starting at once on a fresh database all
// succeed and the schema is applied once (golang-migrate's advisory lock).
func TestConcurrentMigrate(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	const replicas = 4
	errs := make(chan error, replicas)
	start := make(chan struct{})
	for range replicas {
		go func() {
			<-start
			errs <- postgres.Migrate(context.Background(), url)
		}()
	}
	close(start)
	for range replicas {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
	conn := connect(t, url)
	if v, dirty := schemaVersion(t, conn); v != latest || dirty {
		t.Fatalf("schema version %d dirty=%v, want %d clean", v, dirty, latest)
	}
	if got := pgTables(t, conn); !reflect.DeepEqual(got, tables) {
		t.Fatalf("tables: %v", got)
	}
}

// The operations guide's maintenance SQL, exactly as written.
const (
	maintSelect         = `SELECT id, name, status, created_at FROM workshops ORDER BY created_at DESC LIMIT 10;`
	maintDeleteSessions = `DELETE FROM sessions WHERE workshop_id IN (SELECT id FROM workshops WHERE status = 'deleted');`
	maintDeleteOld      = `DELETE FROM workshops WHERE status = 'deleted' AND created_at < NOW() - INTERVAL '7 days';`
)

// populate fills every table for one workshop and returns it.
func populate(t *testing.T, s store.Store, owner string, name string, created time.Time, status store.Status) *store.Workshop {
	t.Helper()
	ctx := context.Background()
	w := &store.Workshop{OwnerID: owner, Name: name, Seats: 3, CreatedAt: created, Status: status}
	if status == store.StatusDeleted {
		w.DesiredState = store.DesiredDeleted
		w.DeletedAt = &created
	}
	if err := s.CreateWorkshop(ctx, w); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"a@example.com", "b@example.com"} {
		r, _, err := s.Register(ctx, &store.Registration{WorkshopID: w.ID, Name: email, Email: email})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AssignSeat(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.UpsertWorkshopVM(ctx, &store.WorkshopVM{WorkshopID: w.ID, Name: "vm-" + name, Status: "running",
		Steps: []store.Step{{Name: "create_vm", Status: "done", StartedAt: created}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddEvent(ctx, &store.Event{WorkshopID: w.ID, Message: "created"}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.TryLease(ctx, "reconcile:"+w.ID, "replica-1", time.Minute); err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	return w
}

// TestMaintenanceSQL runs the guide's maintenance statements as written
// against a migrated database with data in every table: the foreign keys
// must let both DELETEs through and cascade to the children.
func TestMaintenanceSQL(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	ctx := context.Background()
	s, err := open.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u := &store.User{Email: "owner@example.com", PasswordHash: "h"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAuthSession(ctx, &store.AuthSession{UserID: u.ID, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	old := populate(t, s, u.ID, "old-deleted", time.Now().Add(-8*24*time.Hour), store.StatusDeleted)
	recent := populate(t, s, u.ID, "recent-deleted", time.Now().Add(-time.Hour), store.StatusDeleted)
	live := populate(t, s, u.ID, "live", time.Now(), store.StatusRunning)

	conn := connect(t, url)
	count := func(table, workshopID string) int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE workshop_id = $1`, workshopID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tbl := range []string{"registrations", "sessions", "workshop_vms", "workshop_events", "free_seats", "free_places"} {
		if count(tbl, old.ID) == 0 {
			t.Fatalf("setup: no %s rows", tbl)
		}
	}

	rows, err := conn.Query(ctx, maintSelect)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var id, name, status string
		var created time.Time
		if err := rows.Scan(&id, &name, &status, &created); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"live", "recent-deleted", "old-deleted"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("maintenance SELECT: %v, want %v", names, want)
	}

	if tag, err := conn.Exec(ctx, maintDeleteSessions); err != nil {
		t.Fatalf("%s: %v", maintDeleteSessions, err)
	} else if tag.RowsAffected() != 4 {
		t.Errorf("deleted %d sessions, want 4", tag.RowsAffected())
	}
	if tag, err := conn.Exec(ctx, maintDeleteOld); err != nil {
		t.Fatalf("%s: %v", maintDeleteOld, err)
	} else if tag.RowsAffected() != 1 {
		t.Errorf("deleted %d workshops, want 1", tag.RowsAffected())
	}

	for _, tbl := range []string{"registrations", "sessions", "workshop_vms", "workshop_events", "free_seats", "free_places"} {
		if n := count(tbl, old.ID); n != 0 {
			t.Errorf("%s: %d rows of the purged workshop left", tbl, n)
		}
		if n := count(tbl, live.ID); n == 0 {
			t.Errorf("%s: the live workshop lost its rows", tbl)
		}
	}
	if n := count("sessions", recent.ID); n != 0 {
		t.Errorf("sessions of the recent deleted workshop: %d", n)
	}
	if n := count("registrations", recent.ID); n != 2 {
		t.Errorf("registrations of the recent deleted workshop: %d, want 2 (kept until purge)", n)
	}
	if _, err := s.GetWorkshop(ctx, old.ID); err == nil {
		t.Error("purged workshop still readable")
	}
	if _, err := s.GetWorkshop(ctx, recent.ID); err != nil {
		t.Errorf("recent deleted workshop: %v", err)
	}

	// The same statements through psql, as an operator types them.
	if psql, err := exec.LookPath("psql"); err == nil {
		out, err := exec.Command(psql, url, "-v", "ON_ERROR_STOP=1",
			"-c", maintSelect, "-c", maintDeleteSessions, "-c", maintDeleteOld).CombinedOutput()
		if err != nil {
			t.Fatalf("psql: %v\n%s", err, out)
		}
	}
}

// TestSameSchemaBothEngines: the SQLite dialect has the same tables and
// columns as the PostgreSQL schema.
func TestSameSchemaBothEngines(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	ctx := context.Background()
	if err := postgres.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, url)
	rows, err := conn.Query(ctx, `SELECT table_name || '.' || column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name <> 'schema_migrations' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	pgCols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(t.TempDir(), "schema.db")
	if err := open.Migrate(ctx, "sqlite:"+path); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srows, err := db.QueryContext(ctx, `SELECT m.name || '.' || p.name FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name NOT IN ('schema_migrations', 'sqlite_sequence') ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer srows.Close()
	var sqliteCols []string
	for srows.Next() {
		var c string
		if err := srows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		sqliteCols = append(sqliteCols, c)
	}
	if !reflect.DeepEqual(pgCols, sqliteCols) {
		t.Fatalf("columns differ:\npostgres %v\nsqlite   %v", pgCols, sqliteCols)
	}
}
