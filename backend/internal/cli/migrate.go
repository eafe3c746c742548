package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/clarateach/backend/internal/controlplane/server"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/open"
)

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("database-url", "", "database to migrate (default: the server's DATABASE_URL, or the local SQLite file)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: clarateach migrate [--database-url URL]\n\nApplies pending migrations (safe to run while servers run, and from several places at once).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dsn == "" {
		cfg, err := loadConfigReadOnly(ctx, stderr)
		if err != nil {
			return err
		}
		*dsn = cfg.DatabaseURL
	}
	if err := open.Migrate(ctx, *dsn); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}

// runCreateUser runs `clarateach admin create-user`.
func runCreateUser(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admin create-user", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: clarateach admin create-user --email EMAIL [--name NAME] [--role admin|instructor]\n\nThe password is read from ADMIN_PASSWORD or, if unset, from standard input.")
		fs.PrintDefaults()
	}
	email := fs.String("email", "", "account email (required)")
	name := fs.String("name", "", "display name")
	role := fs.String("role", store.RoleAdmin, "admin or instructor")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		return errors.New("--email is required")
	}
	if *role != store.RoleAdmin && *role != store.RoleInstructor {
		return fmt.Errorf("--role must be admin or instructor, not %q", *role)
	}
	pw := os.Getenv("ADMIN_PASSWORD")
	if pw == "" {
		fmt.Fprint(stderr, "password: ")
		var line string
		if _, err := fmt.Fscanln(os.Stdin, &line); err != nil {
			return errors.New("no password given (set ADMIN_PASSWORD or type it on standard input)")
		}
		pw = strings.TrimSpace(line)
	}
	cfg, err := loadConfigReadOnly(ctx, stderr)
	if err != nil {
		return err
	}
	st, err := open.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	hash, err := server.HashPassword(pw)
	if err != nil {
		return err
	}
	if *name == "" {
		*name = strings.Split(*email, "@")[0]
	}
	u := &store.User{Email: store.NormEmail(*email), Name: *name, PasswordHash: hash, Role: *role}
	if err := st.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("an account with email %s already exists", u.Email)
		}
		return err
	}
	fmt.Fprintf(stdout, "created %s %s (%s)\n", u.Role, u.Email, u.ID)
	return nil
}
