package cli

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/open"
)

// emptyStore opens a new SQLite store with no accounts.
func emptyStore(t *testing.T) store.Store {
	t.Helper()
	st, err := open.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "clarateach.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestFirstAdminInLocalMode: sign-up is closed by default, so `make dev`
// must still be usable at once: with no account at all, local mode makes
// admin@localhost with a generated password, kept only in a file the
// operator alone can read, and prints where it is. A restart makes no
// second account and keeps the password; a cloud deployment without
// ADMIN_EMAIL makes none.
func TestFirstAdminInLocalMode(t *testing.T) {
	ctx := context.Background()
	st := emptyStore(t)
	dir := t.TempDir()
	cfg := &config.Config{Provisioner: config.ProvisionerLocal, DataDir: dir, PublicURL: "http://localhost:8080"}
	hint, err := bootstrapAdmin(ctx, cfg, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "first-login.txt")
	if !strings.Contains(hint, "http://localhost:8080/login") || !strings.Contains(hint, path) || !strings.Contains(hint, "admin@localhost") {
		t.Fatalf("sign-in hint %q", hint)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("first-login.txt: %v %v", fi, err)
	}
	body, _ := os.ReadFile(path)
	pw, ok := strings.CutPrefix(strings.Split(strings.TrimSpace(string(body)), "\n")[1], "password: ")
	if !ok || len(pw) < 10 {
		t.Fatalf("first-login.txt %q", body)
	}
	u, err := st.GetUserByEmail(ctx, "admin@localhost")
	if err != nil || u.Role != store.RoleAdmin || bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(pw)) != nil {
		t.Fatalf("first admin %+v %v: not an admin with the password in the file", u, err)
	}

	if _, err := bootstrapAdmin(ctx, cfg, st, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.CountUsers(ctx); n != 1 {
		t.Fatalf("a restart made %d accounts", n)
	}
	if again, _ := os.ReadFile(path); string(again) != string(body) {
		t.Fatalf("a restart changed the first login: %q", again)
	}

	cloud := emptyStore(t)
	gcp := &config.Config{Provisioner: config.ProvisionerGCP, DataDir: t.TempDir()}
	if hint, err := bootstrapAdmin(ctx, gcp, cloud, slog.New(slog.DiscardHandler)); err != nil || hint != "" {
		t.Fatalf("cloud bootstrap: %q %v", hint, err)
	}
	if n, _ := cloud.CountUsers(ctx); n != 0 {
		t.Fatalf("a cloud deployment without ADMIN_EMAIL made %d accounts", n)
	}
	gcp.AdminEmail = "ops@example.com"
	if _, err := bootstrapAdmin(ctx, gcp, cloud, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "ADMIN_PASSWORD") {
		t.Fatalf("ADMIN_EMAIL without ADMIN_PASSWORD: %v", err)
	}
}
