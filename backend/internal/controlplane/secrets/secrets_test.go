package secrets_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/gce/gcetest"
	"github.com/clarateach/backend/internal/controlplane/secrets"
)

// Source must plug into the config loader.
var _ config.SecretSource = secrets.SecretManager

func fakeSM(t *testing.T) *gcetest.SecretManager {
	t.Helper()
	sm, err := gcetest.NewSecretManager(t.Cleanup)
	if err != nil {
		t.Fatal(err)
	}
	return sm
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoad(t *testing.T) {
	t.Parallel()
	const project = "clarateach"
	tests := []struct {
		name        string
		setup       func(sm *gcetest.SecretManager)
		project     string
		env         map[string]string
		required    []string
		want        map[string]string // name -> value
		wantSources map[string]string
		wantErr     []string // substrings
	}{
		{
			name: "the environment beats secret manager, which fills the rest with its newest version",
			setup: func(sm *gcetest.SecretManager) {
				sm.AddVersion(project, "DATABASE_URL", "postgres://old")
				sm.AddVersion(project, "DATABASE_URL", "postgres://sm/db")
				sm.AddVersion(project, "FC_AGENT_TOKEN", "sm-agent-token")
				sm.AddVersion(project, "WORKSPACE_TOKEN_SECRET", "sm-workspace-secret\n")
				sm.AddVersion(project, "JWT_SECRET", "sm-jwt-secret")
			},
			project:     project,
			env:         map[string]string{"DATABASE_URL": "postgres://env/db", "JWT_SECRET": "env-jwt"},
			required:    secrets.Names,
			want:        map[string]string{"DATABASE_URL": "postgres://env/db", "FC_AGENT_TOKEN": "sm-agent-token", "WORKSPACE_TOKEN_SECRET": "sm-workspace-secret", "JWT_SECRET": "env-jwt"},
			wantSources: map[string]string{"DATABASE_URL": "env", "JWT_SECRET": "env", "FC_AGENT_TOKEN": "secret-manager"},
		},
		{
			name: "env fills secrets that do not exist",
			setup: func(sm *gcetest.SecretManager) {
				sm.AddVersion(project, "DATABASE_URL", "postgres://sm/db")
			},
			project:     project,
			env:         map[string]string{"JWT_SECRET": "env-jwt", "WORKSPACE_TOKEN_SECRET": "env-ws"},
			required:    []string{"DATABASE_URL", "JWT_SECRET", "WORKSPACE_TOKEN_SECRET"},
			want:        map[string]string{"DATABASE_URL": "postgres://sm/db", "JWT_SECRET": "env-jwt", "WORKSPACE_TOKEN_SECRET": "env-ws", "FC_AGENT_TOKEN": ""},
			wantSources: map[string]string{"DATABASE_URL": "secret-manager", "JWT_SECRET": "env", "FC_AGENT_TOKEN": "missing"},
		},
		{
			name:     "missing required secret is named",
			setup:    func(sm *gcetest.SecretManager) { sm.AddVersion(project, "DATABASE_URL", "postgres://sm/db") },
			project:  project,
			env:      map[string]string{"WORKSPACE_TOKEN_SECRET": "env-ws"},
			required: []string{"DATABASE_URL", "JWT_SECRET", "WORKSPACE_TOKEN_SECRET"},
			wantErr:  []string{"JWT_SECRET", "Secret Manager (project clarateach)"},
		},
		{
			name: "permission denied is an error, not a missing secret",
			setup: func(sm *gcetest.SecretManager) {
				sm.Fail("JWT_SECRET", codes.PermissionDenied)
			},
			project: project,
			env:     map[string]string{"WORKSPACE_TOKEN_SECRET": "env-ws"},
			wantErr: []string{"secret JWT_SECRET", "PermissionDenied"},
		},
		{
			name: "disabled latest version is an error",
			setup: func(sm *gcetest.SecretManager) {
				sm.AddVersion(project, "FC_AGENT_TOKEN", "x")
				sm.DisableVersion(project, "FC_AGENT_TOKEN", 1)
			},
			project: project,
			wantErr: []string{"secret FC_AGENT_TOKEN", "DISABLED"},
		},
		{
			name:        "no project reads the environment only",
			setup:       func(sm *gcetest.SecretManager) { sm.AddVersion(project, "JWT_SECRET", "sm-jwt") },
			env:         map[string]string{"JWT_SECRET": "env-jwt"},
			want:        map[string]string{"JWT_SECRET": "env-jwt"},
			wantSources: map[string]string{"JWT_SECRET": "env"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sm := fakeSM(t)
			tc.setup(sm)
			var logs bytes.Buffer
			cfg := secrets.Config{
				Project:  tc.project,
				Endpoint: sm.Addr,
				Required: tc.required,
				Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
			}
			got, err := secrets.Load(context.Background(), cfg, secrets.Names, envOf(tc.env))
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Load succeeded, want error containing %q", tc.wantErr)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			for name, want := range tc.want {
				if v := got.Get(name); v != want {
					t.Errorf("%s = %q, want %q", name, v, want)
				}
			}
			for name, want := range tc.wantSources {
				if s := got.Source(name); s != want {
					t.Errorf("source of %s = %q, want %q", name, s, want)
				}
			}
			if tc.project == "" && len(sm.Accessed()) != 0 {
				t.Errorf("Secret Manager was called without a project: %v", sm.Accessed())
			}
			// Names and sources are logged; values never are.
			out := logs.String()
			for _, name := range secrets.Names {
				if !strings.Contains(out, "name="+name) {
					t.Errorf("log lacks %s: %s", name, out)
				}
			}
			for name, v := range got.Map() {
				if v != "" && strings.Contains(out, v) {
					t.Errorf("log contains the value of %s: %s", name, out)
				}
				if strings.Contains(got.String(), v) {
					t.Errorf("Values.String leaks %s", name)
				}
			}
		})
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
