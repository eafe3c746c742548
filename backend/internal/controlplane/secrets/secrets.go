// Package secrets loads ClaraTeach's secrets (DATABASE_URL, FC_AGENT_TOKEN,
// WORKSPACE_TOKEN_SECRET, JWT_SECRET) from Google Secret Manager, with the
// environment as the fallback.
//
// Precedence, per name, as the configuration documents it: the environment
// variable of the same name; if it is empty, the latest enabled version of
// the Secret Manager secret of the same name in GCP_PROJECT (a secret that
// does not exist, or has no versions, is NotFound and stays missing). Any
// other Secret Manager error (permission denied, a disabled latest version,
// unreachable service) stops loading: skipping it silently would let two
// replicas run with different secrets. Without GCP_PROJECT, only the
// environment is read.
//
// Values are never logged, only names and where they came from. A trailing
// newline (as `gcloud secrets create --data-file=FILE` keeps it) is dropped.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"strings"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Names are the secrets the control plane reads.
var Names = []string{"DATABASE_URL", "FC_AGENT_TOKEN", "WORKSPACE_TOKEN_SECRET", "JWT_SECRET"}

// Sources of a value.
const (
	SourceSecretManager = "secret-manager"
	SourceEnv           = "env"
	SourceMissing       = "missing"
)

// Config selects the Secret Manager project and endpoint.
type Config struct {
	// Project is GCP_PROJECT; empty means environment only.
	Project string
	// Endpoint is GCP_SECRETMANAGER_ENDPOINT (host:port of an emulator or
	// test fake); when set the client uses plaintext gRPC and no
	// authentication. Empty = the real service with Application Default
	// Credentials.
	Endpoint string
	// Required names must end up non-empty; a missing one is an error
	// naming it.
	Required []string
	// Logger receives one line per name (name and source, never the value).
	// nil = slog.Default().
	Logger *slog.Logger
	// ClientOptions are extra client options (tests).
	ClientOptions []option.ClientOption
}

// Values are loaded secrets with where each came from.
type Values struct {
	values  map[string]string
	sources map[string]string
}

// Get returns a value ("" when missing).
func (v *Values) Get(name string) string { return v.values[name] }

// Source returns where a value came from: secret-manager, env or missing.
func (v *Values) Source(name string) string {
	if s, ok := v.sources[name]; ok {
		return s
	}
	return SourceMissing
}

// Map returns a copy of the values (for config.SecretSource-style callers).
func (v *Values) Map() map[string]string {
	out := make(map[string]string, len(v.values))
	for k, val := range v.values {
		out[k] = val
	}
	return out
}

// Sources returns a copy of name → source.
func (v *Values) Sources() map[string]string {
	out := make(map[string]string, len(v.sources))
	for k, s := range v.sources {
		out[k] = s
	}
	return out
}

// String never prints values.
func (v *Values) String() string {
	var b strings.Builder
	b.WriteString("secrets{")
	first := true
	for k, s := range v.sources {
		if !first {
			b.WriteString(", ")
		}
		first = false
		b.WriteString(k + ":" + s)
	}
	b.WriteString("}")
	return b.String()
}

// Load resolves names: the environment (getenv; nil = no environment)
// first, Secret Manager (when cfg.Project is set) for the names the
// environment leaves empty. It fails on Secret Manager errors other than
// NotFound and on missing required names.
func Load(ctx context.Context, cfg Config, names []string, getenv func(string) string) (*Values, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	v := &Values{values: map[string]string{}, sources: map[string]string{}}
	var rest []string
	for _, name := range names {
		if getenv != nil {
			if val := getenv(name); val != "" {
				v.values[name] = val
				v.sources[name] = SourceEnv
				continue
			}
		}
		rest = append(rest, name)
	}
	if cfg.Project != "" && len(rest) > 0 {
		got, err := Fetch(ctx, cfg, rest)
		if err != nil {
			return nil, err
		}
		for name, val := range got {
			v.values[name] = val
			v.sources[name] = SourceSecretManager
		}
	}
	for _, name := range names {
		log.LogAttrs(ctx, slog.LevelInfo, "secret loaded", slog.String("name", name), slog.String("source", v.Source(name)))
	}
	var missing []string
	for _, name := range cfg.Required {
		if v.values[name] == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		where := "the environment"
		if cfg.Project != "" {
			where = "Secret Manager (project " + cfg.Project + ") or the environment"
		}
		return nil, fmt.Errorf("required secret %s is not set in %s", strings.Join(missing, ", "), where)
	}
	return v, nil
}

// Fetch reads the latest version of each name from Secret Manager and
// returns the ones that exist. A secret that does not exist (NotFound) is
// left out; any other error is returned, naming the secret.
func Fetch(ctx context.Context, cfg Config, names []string) (map[string]string, error) {
	if cfg.Project == "" {
		return nil, errors.New("secrets: project is required")
	}
	client, err := NewClient(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	out := map[string]string{}
	for _, name := range names {
		val, ok, err := access(ctx, client, cfg.Project, name)
		if err != nil {
			return nil, err
		}
		if ok {
			out[name] = val
		}
	}
	return out, nil
}

// SecretManager has config.SecretSource's signature: it fetches names from
// Secret Manager in project at endpoint ("" = the real service) and returns
// the ones that exist, as Fetch does.
func SecretManager(ctx context.Context, project, endpoint string, names []string) (map[string]string, error) {
	return Fetch(ctx, Config{Project: project, Endpoint: endpoint}, names)
}

// NewClient opens a Secret Manager client for cfg.
func NewClient(ctx context.Context, cfg Config) (*secretmanager.Client, error) {
	var opts []option.ClientOption
	if cfg.Endpoint != "" {
		opts = append(opts,
			option.WithEndpoint(cfg.Endpoint),
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	}
	opts = append(opts, cfg.ClientOptions...)
	c, err := secretmanager.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("secrets: new Secret Manager client: %w", err)
	}
	return c, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func access(ctx context.Context, c *secretmanager.Client, project, name string) (string, bool, error) {
	res := fmt.Sprintf("projects/%s/secrets/%s/versions/latest", project, name)
	resp, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: res})
	if status.Code(err) == codes.NotFound {
		return "", false, nil
	}
	if err != nil {
		// The status message names the resource, never the value.
		return "", false, fmt.Errorf("secret %s: access %s: %w", name, res, err)
	}
	data := resp.GetPayload().GetData()
	if sum := resp.GetPayload().DataCrc32C; sum != nil && int64(crc32.Checksum(data, castagnoli)) != *sum {
		return "", false, fmt.Errorf("secret %s: payload checksum mismatch (data corrupted in transit)", name)
	}
	// `gcloud secrets create --data-file=f` keeps a file's final newline;
	// no ClaraTeach secret can end in one, so it is dropped.
	return strings.TrimRight(string(data), "\r\n"), true, nil
}
