package secrets_test

import (
	"context"
	"strings"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/secrets"
	"github.com/clarateach/backend/internal/controlplane/secrets/secretstest"
)

// Source must plug into the config loader.
var _ config.SecretSource = secrets.SecretManager

func fakeSM(t *testing.T) *secretstest.SecretManager {
	t.Helper()
	sm, err := secretstest.NewSecretManager(t.Cleanup)
	if err != nil {
		t.Fatal(err)
	}
	return sm
}

func TestFetch(t *testing.T) {
	t.Parallel()
	const project = "clarateach"
	tests := []struct {
		name    string
		setup   func(sm *secretstest.SecretManager)
		names   []string
		want    map[string]string // name -> value; absent names must be left out
		wantErr []string          // substrings
	}{
		{
			name: "the newest version of each secret, its trailing newline dropped",
			setup: func(sm *secretstest.SecretManager) {
				sm.AddVersion(project, "DATABASE_URL", "postgres://old")
				sm.AddVersion(project, "DATABASE_URL", "postgres://sm/db")
				sm.AddVersion(project, "FC_AGENT_TOKEN", "sm-agent-token")
				sm.AddVersion(project, "WORKSPACE_TOKEN_SECRET", "sm-workspace-secret\n")
			},
			names: []string{"DATABASE_URL", "FC_AGENT_TOKEN", "WORKSPACE_TOKEN_SECRET"},
			want:  map[string]string{"DATABASE_URL": "postgres://sm/db", "FC_AGENT_TOKEN": "sm-agent-token", "WORKSPACE_TOKEN_SECRET": "sm-workspace-secret"},
		},
		{
			name:  "a secret that does not exist is left out",
			setup: func(sm *secretstest.SecretManager) { sm.AddVersion(project, "DATABASE_URL", "postgres://sm/db") },
			names: []string{"DATABASE_URL", "JWT_SECRET"},
			want:  map[string]string{"DATABASE_URL": "postgres://sm/db"},
		},
		{
			name: "permission denied is an error, not a missing secret",
			setup: func(sm *secretstest.SecretManager) {
				sm.Fail("JWT_SECRET", "PERMISSION_DENIED")
			},
			names:   []string{"JWT_SECRET"},
			wantErr: []string{"secret JWT_SECRET", "PERMISSION_DENIED"},
		},
		{
			name: "disabled latest version is an error",
			setup: func(sm *secretstest.SecretManager) {
				sm.AddVersion(project, "FC_AGENT_TOKEN", "x")
				sm.DisableVersion(project, "FC_AGENT_TOKEN", 1)
			},
			names:   []string{"FC_AGENT_TOKEN"},
			wantErr: []string{"secret FC_AGENT_TOKEN", "DISABLED"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sm := fakeSM(t)
			tc.setup(sm)
			got, err := secrets.SecretManager(context.Background(), project, sm.Addr, tc.names)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Fetch succeeded, want error containing %q", tc.wantErr)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %d secrets, want %d", len(got), len(tc.want))
			}
			for name, want := range tc.want {
				if v := got[name]; v != want {
					t.Errorf("%s = %q, want %q", name, v, want)
				}
			}
		})
	}
}

func TestFetchNeedsAProject(t *testing.T) {
	t.Parallel()
	if _, err := secrets.Fetch(context.Background(), secrets.Config{}, []string{"JWT_SECRET"}); err == nil {
		t.Fatal("Fetch without a project succeeded")
	}
}

func TestFetchAsksForLatest(t *testing.T) {
	t.Parallel()
	sm := fakeSM(t)
	sm.AddVersion("p1", "JWT_SECRET", "a")
	got, err := secrets.SecretManager(context.Background(), "p1", sm.Addr, []string{"JWT_SECRET", "DATABASE_URL"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["JWT_SECRET"] != "a" {
		t.Fatalf("got %v keys, want only JWT_SECRET", len(got))
	}
	want := []string{"projects/p1/secrets/JWT_SECRET/versions/latest", "projects/p1/secrets/DATABASE_URL/versions/latest"}
	if acc := sm.Accessed(); strings.Join(acc, ",") != strings.Join(want, ",") {
		t.Fatalf("accessed %v, want %v", acc, want)
	}
}
