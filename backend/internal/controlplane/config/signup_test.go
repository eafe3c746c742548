package config

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSignupAndQuota: sign-up is closed unless asked for by name, and the
// quota defaults are the documented ones, overridable and range-checked.
func TestSignupAndQuota(t *testing.T) {
	t.Parallel()
	load := func(env map[string]string) (*Config, error) {
		dir := t.TempDir()
		env["DATA_DIR"] = dir
		return Load(context.Background(), Options{Getenv: envMap(env), EnvFile: filepath.Join(dir, "none")})
	}
	c, err := load(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Signup != SignupClosed || c.Quota != DefaultQuota || c.InviteTTL != DefaultInviteTTL {
		t.Fatalf("defaults: signup=%q quota=%+v invite ttl=%s", c.Signup, c.Quota, c.InviteTTL)
	}
	if DefaultQuota != (Quota{RunningWorkshops: 2, Seats: 60, WorkshopHours: 8}) {
		t.Fatalf("DefaultQuota = %+v; the docs say 2 workshops, 60 seats, 8 hours", DefaultQuota)
	}
	for _, mode := range []string{"closed", "invite", "open", " Open "} {
		c, err := load(map[string]string{"SIGNUP": mode})
		if err != nil || c.Signup != strings.ToLower(strings.TrimSpace(mode)) {
			t.Fatalf("SIGNUP=%q: %v %v", mode, c, err)
		}
	}
	c, err = load(map[string]string{"QUOTA_RUNNING_WORKSHOPS": "0", "QUOTA_SEATS": "120", "QUOTA_WORKSHOP_HOURS": "3", "INVITE_TTL": "24h"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Quota != (Quota{RunningWorkshops: 0, Seats: 120, WorkshopHours: 3}) || c.InviteTTL != 24*time.Hour {
		t.Fatalf("overrides: %+v %s", c.Quota, c.InviteTTL)
	}
	for env, want := range map[string]string{
		"SIGNUP=yes":                "SIGNUP must be closed, invite or open",
		"SIGNUP=1":                  "SIGNUP must be closed, invite or open",
		"QUOTA_SEATS=-1":            "QUOTA_SEATS must be 0 or more",
		"QUOTA_WORKSHOP_HOURS=0":    "QUOTA_WORKSHOP_HOURS at least 1",
		"QUOTA_RUNNING_WORKSHOPS=x": "QUOTA_RUNNING_WORKSHOPS must be a whole number",
		"INVITE_TTL=10s":            "INVITE_TTL must be between",
		"INVITE_TTL=2000h":          "INVITE_TTL must be between",
	} {
		k, v, _ := strings.Cut(env, "=")
		_, err := load(map[string]string{k: v})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", env, err, want)
		}
	}
}
