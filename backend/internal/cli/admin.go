package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/store"
)

const adminUsage = `Usage: clarateach admin <command> [flags]

Accounts:
  create-user     create an instructor or admin account
  users           list accounts with their quotas and what they use
  quota set       set an instructor's quota (--email, and any of
                  --running-workshops, --seats, --workshop-hours)
  quota reset     return an instructor to the default quota (QUOTA_*)

Run 'clarateach admin <command> --help' for its flags.
`

// runAdmin runs `clarateach admin ...`.
func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, adminUsage)
		return errors.New("missing admin command")
	}
	switch args[0] {
	case "create-user":
		return runCreateUser(ctx, args[1:], stdout, stderr)
	case "users":
		return runAdminUsers(ctx, args[1:], stdout, stderr)
	case "quota":
		if len(args) > 1 && args[1] == "set" {
			return runQuotaSet(ctx, args[2:], stdout, stderr)
		}
		if len(args) > 1 && args[1] == "reset" {
			return runQuotaReset(ctx, args[2:], stdout, stderr)
		}
		fmt.Fprint(stderr, adminUsage)
		if len(args) > 1 && isHelp(args[1]) {
			return flag.ErrHelp
		}
		return errors.New("admin quota needs set or reset")
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, adminUsage)
		return flag.ErrHelp
	}
	fmt.Fprint(stderr, adminUsage)
	return fmt.Errorf("unknown admin command %q", args[0])
}

func isHelp(s string) bool { return s == "-h" || s == "-help" || s == "--help" || s == "help" }

// accountRow is one line of `admin users`.
type accountRow struct {
	store.User
	Quota       *store.Quota `json:"quota"` // nil: admin, no quota
	QuotaCustom bool         `json:"quota_custom"`
	Usage       store.Usage  `json:"usage"`
}

func defaultQuota(cfg *config.Config) store.Quota {
	return store.Quota{RunningWorkshops: cfg.Quota.RunningWorkshops, Seats: cfg.Quota.Seats, WorkshopHours: cfg.Quota.WorkshopHours}
}

// effectiveQuota is the user's quota: their own, or the configured default.
func effectiveQuota(ctx context.Context, cfg *config.Config, st store.Store, u *store.User) (store.Quota, bool, error) {
	q, err := st.GetQuota(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return defaultQuota(cfg), false, nil
	}
	if err != nil {
		return store.Quota{}, false, err
	}
	return *q, true, nil
}

func runAdminUsers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newOpFlags("admin users", "[--json]", `
Lists every account with its role, its quota (running workshops / seats /
workshop hours; "default" marks the QUOTA_* defaults, admins have none)
and what its running workshops use now.`, stderr)
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	cfg, st, err := opsDatabase(ctx, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	users, err := st.ListUsers(ctx)
	if err != nil {
		return err
	}
	rows := []accountRow{}
	for i := range users {
		row := accountRow{User: users[i]}
		if row.Usage, err = st.OwnerUsage(ctx, users[i].ID); err != nil {
			return err
		}
		if users[i].Role != store.RoleAdmin {
			q, custom, err := effectiveQuota(ctx, cfg, st, &users[i])
			if err != nil {
				return err
			}
			row.Quota, row.QuotaCustom = &q, custom
		}
		rows = append(rows, row)
	}
	if f.json {
		return writeJSON(stdout, rows)
	}
	t := newTable(stdout, "EMAIL", "ROLE", "RUNNING", "SEATS", "HOURS", "QUOTA", "CREATED")
	for _, r := range rows {
		run, seats, hours, kind := "-", "-", "-", "none"
		if r.Quota != nil {
			run = fmt.Sprintf("%d/%d", r.Usage.RunningWorkshops, r.Quota.RunningWorkshops)
			seats = fmt.Sprintf("%d/%d", r.Usage.Seats, r.Quota.Seats)
			hours = strconv.Itoa(r.Quota.WorkshopHours)
			kind = "default"
			if r.QuotaCustom {
				kind = "own"
			}
		}
		t.row(r.Email, r.Role, run, seats, hours, kind, stamp(r.CreatedAt))
	}
	return t.flush()
}

// instructorByEmail loads the account an admin command names.
func instructorByEmail(ctx context.Context, st store.Store, email string) (*store.User, error) {
	if email == "" {
		return nil, errors.New("--email is required")
	}
	u, err := st.GetUserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no account has the email %s", store.NormEmail(email))
	}
	if err != nil {
		return nil, err
	}
	if u.Role == store.RoleAdmin {
		return nil, fmt.Errorf("%s is an admin: admins have no quota", u.Email)
	}
	return u, nil
}

func printQuota(stdout io.Writer, u *store.User, q store.Quota, custom bool) {
	kind := "default"
	if custom {
		kind = "own"
	}
	fmt.Fprintf(stdout, "%s: %d running workshops, %d seats, %d workshop hours (%s quota)\n",
		u.Email, q.RunningWorkshops, q.Seats, q.WorkshopHours, kind)
}

func runQuotaSet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newOpFlags("admin quota set", "--email EMAIL [--running-workshops N] [--seats N] [--workshop-hours N]", `
Sets an instructor's own quota. Limits not given keep their current value
(the instructor's own, or the QUOTA_* default). 0 running workshops or 0
seats means the instructor cannot start any workshop. It applies to the
next start; workshops already running keep running.`, stderr)
	email := f.String("email", "", "the instructor's account email (required)")
	run := f.Int("running-workshops", 0, "workshops that may run at once")
	seats := f.Int("seats", 0, "seats across the running workshops")
	hours := f.Int("workshop-hours", 0, "hours one started workshop may run (at least 1)")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	cfg, st, err := opsDatabase(ctx, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := instructorByEmail(ctx, st, *email)
	if err != nil {
		return err
	}
	q, _, err := effectiveQuota(ctx, cfg, st, u)
	if err != nil {
		return err
	}
	given := false
	f.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "running-workshops":
			q.RunningWorkshops, given = *run, true
		case "seats":
			q.Seats, given = *seats, true
		case "workshop-hours":
			q.WorkshopHours, given = *hours, true
		}
	})
	if !given {
		return errors.New("give at least one of --running-workshops, --seats, --workshop-hours")
	}
	if err := store.CheckQuota(q); err != nil {
		return err
	}
	if err := st.SetQuota(ctx, u.ID, q); err != nil {
		return err
	}
	if f.json {
		return writeJSON(stdout, accountRow{User: *u, Quota: &q, QuotaCustom: true})
	}
	printQuota(stdout, u, q, true)
	return nil
}

func runQuotaReset(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newOpFlags("admin quota reset", "--email EMAIL", `
Returns an instructor to the default quota (QUOTA_RUNNING_WORKSHOPS,
QUOTA_SEATS, QUOTA_WORKSHOP_HOURS).`, stderr)
	email := f.String("email", "", "the instructor's account email (required)")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	cfg, st, err := opsDatabase(ctx, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := instructorByEmail(ctx, st, *email)
	if err != nil {
		return err
	}
	if err := st.DeleteQuota(ctx, u.ID); err != nil {
		return err
	}
	q := defaultQuota(cfg)
	if f.json {
		return writeJSON(stdout, accountRow{User: *u, Quota: &q})
	}
	printQuota(stdout, u, q, false)
	return nil
}
