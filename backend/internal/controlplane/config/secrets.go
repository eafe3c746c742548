package config

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// DefaultSecretTimeout bounds the Secret Manager read at start-up: well
// inside the 30 s an operator (or Cloud Run's start-up probe) waits.
const DefaultSecretTimeout = 20 * time.Second

// Bounds of the token lifetimes. A workspace token is refreshed by the
// learner page every few minutes, so it needs at least a minute and must
// not outlive a working day once leaked; an instructor session must outlive
// a class and not a month.
const (
	MinWorkspaceTTL = time.Minute
	MaxWorkspaceTTL = 12 * time.Hour
	MinSessionTTL   = 10 * time.Minute
	MaxSessionTTL   = 30 * 24 * time.Hour
)

// MinSecretBits is the least estimated entropy of a secret given by the
// operator (JWT_SECRET, WORKSPACE_TOKEN_SECRET, FC_AGENT_TOKEN,
// INTERNAL_TOKEN, METRICS_TOKEN).
const MinSecretBits = 64

// loadSecrets fills c's secrets: flags, the environment and .env (read
// before) win; Secret Manager is asked, within o.SecretTimeout, only for
// the names they left empty.
func loadSecrets(ctx context.Context, c *Config, o Options, env func(string) string) error {
	secrets := map[string]*string{
		"DATABASE_URL":           &c.DatabaseURL,
		"FC_AGENT_TOKEN":         &c.AgentToken,
		"WORKSPACE_TOKEN_SECRET": &c.WorkspaceTokenSecret,
		"JWT_SECRET":             &c.JWTSecret,
	}
	var missing []string
	for _, name := range SecretNames {
		if name != "DATABASE_URL" {
			*secrets[name] = env(name)
		}
		if *secrets[name] != "" {
			c.Sources[name] = "env"
		} else {
			missing = append(missing, name)
		}
	}
	if c.GCPProject == "" || o.Secrets == nil || len(missing) == 0 {
		return nil
	}
	timeout := o.SecretTimeout
	if timeout <= 0 {
		timeout = DefaultSecretTimeout
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	got, err := o.Secrets(sctx, c.GCPProject, c.SecretManagerEndpoint, missing)
	if err == nil && sctx.Err() != nil {
		err = sctx.Err()
	}
	if err != nil {
		where := "project " + c.GCPProject
		if c.SecretManagerEndpoint != "" {
			where += ", endpoint " + c.SecretManagerEndpoint
		}
		if errors.Is(err, context.DeadlineExceeded) || sctx.Err() != nil {
			return fmt.Errorf("load secrets from Secret Manager (%s): no answer within %s; check the network and GCP_SECRETMANAGER_ENDPOINT, or set the secrets in the environment: %w", where, timeout, err)
		}
		return fmt.Errorf("load secrets from Secret Manager (%s): %w", where, err)
	}
	for _, name := range missing {
		if v := got[name]; v != "" {
			*secrets[name] = v
			c.Sources[name] = "secret-manager"
		}
	}
	return nil
}

// checkGivenSecrets refuses weak secrets the operator gave (flags, env,
// .env, Secret Manager), in every mode: a guessable JWT_SECRET lets anyone
// sign in as any instructor. Generated ones are strong by construction.
func checkGivenSecrets(c *Config, env func(string) string) error {
	given := []struct{ name, value string }{
		{"JWT_SECRET", c.JWTSecret},
		{"WORKSPACE_TOKEN_SECRET", c.WorkspaceTokenSecret},
		{"FC_AGENT_TOKEN", c.AgentToken},
		{"INTERNAL_TOKEN", env("INTERNAL_TOKEN")},
		{"METRICS_TOKEN", c.MetricsToken},
	}
	var errs []error
	for _, s := range given {
		if s.value == "" {
			continue
		}
		if err := SecretStrength(s.value); err != nil {
			errs = append(errs, fmt.Errorf("%s is too weak (%v); use 32 random bytes, e.g. `openssl rand -base64 32`, or leave it empty in local mode to have one generated", s.name, err))
		}
	}
	return errors.Join(errs...)
}

// SecretStrength reports why s is not a usable secret: shorter than 16
// characters, or less than MinSecretBits of estimated entropy (length
// times the Shannon entropy of its characters, so "aaaa...", repeated
// words and the like are refused while 32 random bytes in hex or base64
// pass easily).
func SecretStrength(s string) error {
	if len(s) < 16 {
		return fmt.Errorf("%d characters, at least 16 are needed", len(s))
	}
	if bits := estimatedBits(s); bits < MinSecretBits {
		return fmt.Errorf("about %.0f bits of entropy, at least %d are needed", bits, MinSecretBits)
	}
	return nil
}

func estimatedBits(s string) float64 {
	counts := map[byte]int{}
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	n := float64(len(s))
	var perChar float64
	for _, k := range counts {
		p := float64(k) / n
		perChar -= p * math.Log2(p)
	}
	return perChar * n
}

// checkTTLs range-checks the token lifetimes.
func checkTTLs(c *Config) error {
	var errs []error
	if c.WorkspaceTTL < MinWorkspaceTTL || c.WorkspaceTTL > MaxWorkspaceTTL {
		errs = append(errs, fmt.Errorf("WORKSPACE_TOKEN_TTL must be between %s and %s, not %s", MinWorkspaceTTL, MaxWorkspaceTTL, c.WorkspaceTTL))
	}
	if c.SessionTTL < MinSessionTTL || c.SessionTTL > MaxSessionTTL {
		errs = append(errs, fmt.Errorf("SESSION_TTL must be between %s and %s, not %s", MinSessionTTL, MaxSessionTTL, c.SessionTTL))
	}
	return errors.Join(errs...)
}
