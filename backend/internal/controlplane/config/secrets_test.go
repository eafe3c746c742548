package config_test

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/secrets"
	"github.com/clarateach/backend/internal/controlplane/secrets/secretstest"
)

const (
	strongA = "Zq3vR8kP1xN7tY4mW2sB9cF6hJ0dL5gE"
	strongB = "aK9fT2pX7vM4rQ8wN1zC6yB3hD5jG0sL"
	strongC = "mE4tR7yU1iO9pA3sD6fG2hJ8kL5zX0cV"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// secretManager is the production secret source, pointed at the fake
// Secret Manager by each test's endpoint.
var secretManager config.SecretSource = secrets.SecretManager

// The documented order: flags, environment and .env beat Secret Manager,
// which only fills what they leave empty.
func TestFlagsAndEnvBeatSecretManager(t *testing.T) {
	t.Parallel()
	sm, err := secretstest.NewSecretManager(t.Cleanup)
	if err != nil {
		t.Fatal(err)
	}
	sm.AddVersion("p", "DATABASE_URL", "postgres://from-secret-manager/db")
	sm.AddVersion("p", "JWT_SECRET", strongB)
	sm.AddVersion("p", "WORKSPACE_TOKEN_SECRET", strongC)
	c, err := config.Load(context.Background(), config.Options{
		Args: []string{"--database-url", "postgres://from-flag/db"},
		Getenv: env(map[string]string{"GCP_PROJECT": "p", "GCP_ZONE": "z", "FC_SNAPSHOT_NAME": "s",
			"GCP_SECRETMANAGER_ENDPOINT": sm.Addr, "JWT_SECRET": strongA}),
		EnvFile: filepath.Join(t.TempDir(), "none"),
		Secrets: secretManager,
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != "postgres://from-flag/db" || c.Sources["DATABASE_URL"] != "env" {
		t.Errorf("DATABASE_URL = %q from %q, want the flag's", c.DatabaseURL, c.Sources["DATABASE_URL"])
	}
	if c.JWTSecret != strongA || c.Sources["JWT_SECRET"] != "env" {
		t.Errorf("JWT_SECRET from %q, want the environment's", c.Sources["JWT_SECRET"])
	}
	if c.WorkspaceTokenSecret != strongC || c.Sources["WORKSPACE_TOKEN_SECRET"] != "secret-manager" {
		t.Errorf("WORKSPACE_TOKEN_SECRET from %q, want Secret Manager's", c.Sources["WORKSPACE_TOKEN_SECRET"])
	}
	for _, name := range sm.Accessed() {
		if strings.Contains(name, "/JWT_SECRET/") || strings.Contains(name, "/DATABASE_URL/") {
			t.Errorf("Secret Manager was asked for %s, which the flags and environment set", name)
		}
	}
}

// A Secret Manager that accepts connections and never answers fails
// start-up within the timeout, naming Secret Manager, instead of hanging.
func TestUnreachableSecretManagerFailsFast(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // accepted, never answered
		}
	}()
	start := time.Now()
	_, err = config.Load(context.Background(), config.Options{
		Getenv: env(map[string]string{"GCP_PROJECT": "p", "GCP_ZONE": "z", "FC_SNAPSHOT_NAME": "s",
			"GCP_SECRETMANAGER_ENDPOINT": lis.Addr().String()}),
		EnvFile:       filepath.Join(t.TempDir(), "none"),
		Secrets:       secretManager,
		SecretTimeout: 300 * time.Millisecond,
	})
	took := time.Since(start)
	if err == nil {
		t.Fatal("Load succeeded against a silent Secret Manager")
	}
	if !strings.Contains(err.Error(), "Secret Manager") || !strings.Contains(err.Error(), lis.Addr().String()) || !strings.Contains(err.Error(), "no answer within 300ms") {
		t.Errorf("error does not name Secret Manager, its endpoint and the wait: %v", err)
	}
	if took > 5*time.Second {
		t.Errorf("Load took %s with a 300ms timeout", took)
	}
	if config.DefaultSecretTimeout >= 30*time.Second {
		t.Errorf("default Secret Manager timeout %s is not under 30s", config.DefaultSecretTimeout)
	}
}

func TestWeakSecretsAreRefusedInEveryMode(t *testing.T) {
	t.Parallel()
	gcp := map[string]string{"GCP_PROJECT": "p", "GCP_ZONE": "z", "FC_SNAPSHOT_NAME": "s", "DATABASE_URL": "postgres://x/y",
		"JWT_SECRET": strongA, "WORKSPACE_TOKEN_SECRET": strongB}
	for _, tc := range []struct {
		mode, name, value string
	}{
		{"local", "JWT_SECRET", "x"},
		{"local", "JWT_SECRET", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
		{"local", "WORKSPACE_TOKEN_SECRET", "passwordpassword"},
		{"local", "FC_AGENT_TOKEN", "secret"},
		{"local", "INTERNAL_TOKEN", "1234"},
		{"local", "METRICS_TOKEN", "metrics"},
		{"gcp", "JWT_SECRET", "x"},
		{"gcp", "WORKSPACE_TOKEN_SECRET", "abababababababababababababababab"},
	} {
		t.Run(tc.mode+"/"+tc.name+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			e := map[string]string{"DATA_DIR": t.TempDir()}
			if tc.mode == "gcp" {
				for k, v := range gcp {
					e[k] = v
				}
			}
			e[tc.name] = tc.value
			_, err := config.Load(context.Background(), config.Options{Getenv: env(e), EnvFile: filepath.Join(t.TempDir(), "none")})
			if err == nil || !strings.Contains(err.Error(), tc.name+" is too weak") {
				t.Fatalf("err = %v, want %s refused as too weak", err, tc.name)
			}
		})
	}
	// Strong ones pass (random base64 and hex).
	e := map[string]string{"DATA_DIR": t.TempDir(), "JWT_SECRET": strongA, "WORKSPACE_TOKEN_SECRET": "9f86d081884c7d659a2feaa0c55ad015",
		"FC_AGENT_TOKEN": strongC, "METRICS_TOKEN": strongB}
	if _, err := config.Load(context.Background(), config.Options{Getenv: env(e), EnvFile: filepath.Join(t.TempDir(), "none")}); err != nil {
		t.Fatalf("strong secrets refused: %v", err)
	}
}

func TestTokenTTLsAreRangeChecked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, value, want string }{
		{"WORKSPACE_TOKEN_TTL", "0s", "WORKSPACE_TOKEN_TTL must be between 1m0s and 12h0m0s"},
		{"WORKSPACE_TOKEN_TTL", "-5m", "WORKSPACE_TOKEN_TTL must be between"},
		{"WORKSPACE_TOKEN_TTL", "8760h", "WORKSPACE_TOKEN_TTL must be between"},
		{"SESSION_TTL", "1s", "SESSION_TTL must be between 10m0s and 720h0m0s"},
		{"SESSION_TTL", "100000h", "SESSION_TTL must be between"},
	} {
		e := map[string]string{"DATA_DIR": t.TempDir(), tc.name: tc.value}
		if _, err := config.Load(context.Background(), config.Options{Getenv: env(e), EnvFile: filepath.Join(t.TempDir(), "none")}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%s: err = %v, want %q", tc.name, tc.value, err, tc.want)
		}
	}
	e := map[string]string{"DATA_DIR": t.TempDir(), "WORKSPACE_TOKEN_TTL": "5m", "SESSION_TTL": "12h"}
	c, err := config.Load(context.Background(), config.Options{Getenv: env(e), EnvFile: filepath.Join(t.TempDir(), "none")})
	if err != nil || c.WorkspaceTTL != 5*time.Minute || c.SessionTTL != 12*time.Hour {
		t.Fatalf("in-range TTLs: %v", err)
	}
}
