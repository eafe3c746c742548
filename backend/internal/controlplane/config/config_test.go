package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad(t *testing.T) {
	t.Parallel()
	strong := "0123456789abcdef0123"
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		secrets map[string]string
		wantErr string
		check   func(t *testing.T, c *Config)
	}{
		{
			name: "local defaults generate secrets and sqlite",
			check: func(t *testing.T, c *Config) {
				if c.SeatOrphanTimeout != 24*time.Hour {
					t.Fatalf("SeatOrphanTimeout default = %s", c.SeatOrphanTimeout)
				}
				if !c.Local() || c.Port != 8080 || c.Listen != "127.0.0.1:8080" {
					t.Fatalf("got provisioner=%s port=%d listen=%s", c.Provisioner, c.Port, c.Listen)
				}
				if !strings.HasPrefix(c.DatabaseURL, "sqlite:") || c.JWTSecret == "" || c.WorkspaceTokenSecret == "" {
					t.Fatalf("local defaults missing: %+v", c)
				}
				if c.Sources["JWT_SECRET"] != "generated" {
					t.Fatalf("JWT_SECRET source = %q", c.Sources["JWT_SECRET"])
				}
				if len(c.CORSOrigins) != 0 {
					t.Fatalf("CORS default must be same-origin only, got %v", c.CORSOrigins)
				}
			},
		},
		{
			name: "seat orphan timeout: 24h by default, from the environment, 0 = never",
			env:  map[string]string{"SEAT_ORPHAN_TIMEOUT": "36h"},
			check: func(t *testing.T, c *Config) {
				if c.SeatOrphanTimeout != 36*time.Hour {
					t.Fatalf("SeatOrphanTimeout = %s", c.SeatOrphanTimeout)
				}
			},
		},
		{
			name:    "seat orphan timeout shorter than a restart is refused",
			env:     map[string]string{"SEAT_ORPHAN_TIMEOUT": "30s"},
			wantErr: "SEAT_ORPHAN_TIMEOUT must be 0 (never) or at least 1m",
		},
		{
			name:    "production without DATABASE_URL fails at once",
			env:     map[string]string{"GCP_PROJECT": "p", "GCP_ZONE": "z", "FC_SNAPSHOT_NAME": "s", "JWT_SECRET": strong, "WORKSPACE_TOKEN_SECRET": strong},
			wantErr: "DATABASE_URL is required",
		},
		{
			name:    "production without JWT_SECRET names it",
			env:     map[string]string{"GCP_PROJECT": "p", "GCP_ZONE": "z", "FC_SNAPSHOT_NAME": "s", "DATABASE_URL": "postgres://x/y", "WORKSPACE_TOKEN_SECRET": strong},
			wantErr: "JWT_SECRET is required",
		},
		{
			name:    "production without WORKSPACE_TOKEN_SECRET names it",
			env:     map[string]string{"PROVISIONER": "gcp", "GCP_PROJECT": "p", "DATABASE_URL": "postgres://x/y", "JWT_SECRET": strong},
			wantErr: "WORKSPACE_TOKEN_SECRET is required",
		},
		{
			name:    "secret manager supplies secrets, env is the fallback",
			env:     map[string]string{"GCP_PROJECT": "p", "GCP_ZONE": "z", "FC_SNAPSHOT_NAME": "s", "JWT_SECRET": strong, "FC_AGENT_TOKEN": "from-env-agent-token-0123456789"},
			secrets: map[string]string{"DATABASE_URL": "postgres://sm/db", "WORKSPACE_TOKEN_SECRET": strong + "sm"},
			check: func(t *testing.T, c *Config) {
				if c.DatabaseURL != "postgres://sm/db" || c.Sources["DATABASE_URL"] != "secret-manager" {
					t.Fatalf("DATABASE_URL = %q from %q", c.DatabaseURL, c.Sources["DATABASE_URL"])
				}
				if c.JWTSecret != strong || c.Sources["JWT_SECRET"] != "env" {
					t.Fatalf("JWT_SECRET fallback broken: %q", c.Sources["JWT_SECRET"])
				}
				if c.AgentToken != "from-env-agent-token-0123456789" || c.Provisioner != ProvisionerGCP {
					t.Fatalf("agent token %q provisioner %q", c.AgentToken, c.Provisioner)
				}
			},
		},
		{
			name: "flags override env",
			env:  map[string]string{"PORT": "9000", "CORS_ORIGINS": "http://localhost:5173, https://learn.example.com/"},
			args: []string{"--port", "9100"},
			check: func(t *testing.T, c *Config) {
				if c.Port != 9100 || c.Listen != "127.0.0.1:9100" {
					t.Fatalf("port %d listen %s", c.Port, c.Listen)
				}
				if len(c.CORSOrigins) != 2 || c.CORSOrigins[1] != "https://learn.example.com" {
					t.Fatalf("CORS %v", c.CORSOrigins)
				}
			},
		},
		{
			name: "LISTEN opens local mode to the network when asked",
			env:  map[string]string{"LISTEN": "0.0.0.0:8080"},
			check: func(t *testing.T, c *Config) {
				if c.Listen != "0.0.0.0:8080" {
					t.Fatalf("listen %s", c.Listen)
				}
			},
		},
		{
			name: "a cloud deployment listens on every interface",
			env:  map[string]string{"PROVISIONER": "gcp", "GCP_PROJECT": "p", "GCP_ZONE": "z", "FC_SNAPSHOT_NAME": "s", "PORT": "8081", "DATABASE_URL": "postgres://x/y", "JWT_SECRET": strong, "WORKSPACE_TOKEN_SECRET": strong},
			check: func(t *testing.T, c *Config) {
				if c.Listen != ":8081" {
					t.Fatalf("listen %s", c.Listen)
				}
			},
		},
		{
			name: "warm seats",
			env:  map[string]string{"WARM_SEATS": "12"},
			check: func(t *testing.T, c *Config) {
				if c.WarmSeats != 12 {
					t.Fatalf("WarmSeats = %d", c.WarmSeats)
				}
			},
		},
		{name: "bad PORT", env: map[string]string{"PORT": "eighty"}, wantErr: "PORT must be a whole number"},
		{name: "bad WARM_SEATS", env: map[string]string{"WARM_SEATS": "500"}, wantErr: "WARM_SEATS must be between 0 and 240"},
		{name: "bad SEAT_DISK_MB", env: map[string]string{"SEAT_DISK_MB": "10"}, wantErr: "SEAT_DISK_MB must be -1"},
		{
			name: "SEAT_DISK_MB off",
			env:  map[string]string{"SEAT_DISK_MB": "-1"},
			check: func(t *testing.T, c *Config) {
				if c.SeatDiskMB != -1 {
					t.Fatalf("SeatDiskMB = %d", c.SeatDiskMB)
				}
			},
		},
		{name: "bad GCP_USE_SPOT", env: map[string]string{"GCP_USE_SPOT": "maybe"}, wantErr: "GCP_USE_SPOT must be true or false"},
		{name: "bad CORS origin", env: map[string]string{"CORS_ORIGINS": "example.com"}, wantErr: "must be an origin"},
		{name: "bad provisioner", env: map[string]string{"PROVISIONER": "aws"}, wantErr: "PROVISIONER must be local or gcp"},
		{name: "stray argument", args: []string{"oops"}, wantErr: `unexpected argument "oops"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"DATA_DIR": t.TempDir()}
			for k, v := range tt.env {
				env[k] = v
			}
			var src SecretSource
			if tt.secrets != nil {
				src = func(ctx context.Context, project, endpoint string, names []string) (map[string]string, error) {
					return tt.secrets, nil
				}
			}
			c, err := Load(context.Background(), Options{Args: tt.args, Getenv: envMap(env), EnvFile: filepath.Join(t.TempDir(), "none"), Secrets: src, Output: os.Stderr})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestLocalSecretsPersist(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	load := func() *Config {
		c, err := Load(context.Background(), Options{Getenv: envMap(map[string]string{"DATA_DIR": dir}), EnvFile: filepath.Join(dir, "none")})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := load(), load()
	if a.JWTSecret != b.JWTSecret || a.WorkspaceTokenSecret != b.WorkspaceTokenSecret {
		t.Fatal("local secrets changed between loads")
	}
	fi, err := os.Stat(filepath.Join(dir, "secrets.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets.json: %v mode %v", err, fi.Mode())
	}
}

func TestDotEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, ".env")
	body := "# comment\nexport PORT=9200\nCORS_ORIGINS=\"http://localhost:5173\"\nFC_AGENT_TOKEN=  # Empty for dev (skips agent auth)\nWORKSPACE_TOKEN_SECRET=clarateach-dev-secret-2024\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(context.Background(), Options{Getenv: envMap(map[string]string{"DATA_DIR": dir, "PORT": ""}), EnvFile: p})
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 9200 || c.CORSOrigins[0] != "http://localhost:5173" || c.AgentToken != "" || c.WorkspaceTokenSecret != "clarateach-dev-secret-2024" {
		t.Fatalf("dotenv not applied: port=%d cors=%v agent=%q wts=%q", c.Port, c.CORSOrigins, c.AgentToken, c.WorkspaceTokenSecret)
	}
	// The environment beats .env.
	c, err = Load(context.Background(), Options{Getenv: envMap(map[string]string{"DATA_DIR": dir, "PORT": "9300"}), EnvFile: p})
	if err != nil || c.Port != 9300 {
		t.Fatalf("env should win over .env: %v %d", err, c.Port)
	}
	if err := os.WriteFile(p, []byte("garbage line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(context.Background(), Options{Getenv: envMap(map[string]string{"DATA_DIR": dir}), EnvFile: p}); err == nil || !strings.Contains(err.Error(), ":1: expected KEY=VALUE") {
		t.Fatalf("bad .env: %v", err)
	}
}

func TestReadOnlyGeneratesNothing(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	c, err := Load(context.Background(), Options{ReadOnly: true, Getenv: envMap(map[string]string{"DATA_DIR": dir}), EnvFile: filepath.Join(dir, "none")})
	if err != nil {
		t.Fatal(err)
	}
	if c.JWTSecret != "" || c.DatabaseURL == "" {
		t.Fatalf("read-only local config: jwt=%q db=%q", c.JWTSecret, c.DatabaseURL)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("read-only load created %s", dir)
	}
	// gcp mode: the server's secrets are not required to read state.
	if _, err := Load(context.Background(), Options{ReadOnly: true, Getenv: envMap(map[string]string{"GCP_PROJECT": "p", "GCP_ZONE": "z", "FC_SNAPSHOT_NAME": "s", "DATABASE_URL": "postgres://x/y"}), EnvFile: filepath.Join(dir, "none")}); err != nil {
		t.Fatalf("read-only gcp config: %v", err)
	}
}
