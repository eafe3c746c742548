package cli

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// TestAdminQuota: admins list accounts and change an instructor's quota
// from the command line; the defaults come from QUOTA_*.
func TestAdminQuota(t *testing.T) {
	fx := setup(t, localMode)
	t.Setenv("QUOTA_SEATS", "45")
	ctx := context.Background()
	inst := &store.User{Email: "ada@example.com", Name: "Ada", PasswordHash: "x", Role: store.RoleInstructor}
	if err := fx.st.CreateUser(ctx, inst); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "admin", "users")
	if row := rowOf(out, "ada@example.com"); len(row) < 6 || row[2] != "0/2" || row[3] != "0/45" || row[4] != "8" || row[5] != "default" {
		t.Fatalf("admin users row %v:\n%s", row, out)
	}
	if row := rowOf(out, "ops@example.com"); len(row) < 6 || row[1] != "admin" || row[5] != "none" {
		t.Fatalf("admin row %v:\n%s", row, out)
	}

	out = mustRun(t, "admin", "quota", "set", "--email", "ADA@example.com", "--seats", "90", "--running-workshops", "0")
	if !strings.Contains(out, "0 running workshops, 90 seats, 8 workshop hours (own quota)") {
		t.Fatalf("quota set printed %q", out)
	}
	q, err := fx.st.GetQuota(ctx, inst.ID)
	if err != nil || *q != (store.Quota{RunningWorkshops: 0, Seats: 90, WorkshopHours: 8}) {
		t.Fatalf("stored quota %+v %v", q, err)
	}
	rows := decode[[]accountRow](t, mustRun(t, "admin", "users", "--json"))
	if len(rows) != 2 || rows[1].Quota == nil || rows[1].Quota.Seats != 90 || !rows[1].QuotaCustom || rows[0].Quota != nil {
		t.Fatalf("admin users --json: %+v", rows)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"admin", "quota", "set", "--seats", "3"}, "--email is required"},
		{[]string{"admin", "quota", "set", "--email", "ada@example.com"}, "give at least one of"},
		{[]string{"admin", "quota", "set", "--email", "ada@example.com", "--workshop-hours", "0"}, "workshop hours must be at least 1"},
		{[]string{"admin", "quota", "set", "--email", "ada@example.com", "--seats", "-4"}, "must be 0 or more"},
		{[]string{"admin", "quota", "set", "--email", "ops@example.com", "--seats", "4"}, "admins have no quota"},
		{[]string{"admin", "quota", "set", "--email", "nobody@example.com", "--seats", "4"}, "no account has the email"},
		{[]string{"admin", "quota", "bump"}, "admin quota needs set or reset"},
	} {
		_, errOut, code := run(t, c.args...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, errOut, c.want)
		}
	}

	out = mustRun(t, "admin", "quota", "reset", "--email", "ada@example.com")
	if !strings.Contains(out, "2 running workshops, 45 seats, 8 workshop hours (default quota)") {
		t.Fatalf("quota reset printed %q", out)
	}
	if _, err := fx.st.GetQuota(ctx, inst.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("quota after reset: %v", err)
	}
	if _, errOut, code := run(t, "admin", "quota", "set", "--help"); code != 0 || !strings.Contains(errOut, "Usage: clarateach admin quota set --email EMAIL") {
		t.Fatalf("--help: exit %d, %q", code, errOut)
	}
}
