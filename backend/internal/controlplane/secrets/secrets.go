// Package secrets reads ClaraTeach's secrets (DATABASE_URL, FC_AGENT_TOKEN,
// WORKSPACE_TOKEN_SECRET, JWT_SECRET) from Google Secret Manager. The
// configuration loader (package config) asks it only for the names that
// flags, the environment and .env left empty.
//
// Each name is the latest enabled version of the Secret Manager secret of
// the same name in the project. A secret that does not exist, or has no
// versions, is NotFound and is left out. Any other Secret Manager error
// (permission denied, a disabled latest version, unreachable service) stops
// loading: skipping it silently would let two replicas run with different
// secrets.
//
// Values are never logged. A trailing newline (as `gcloud secrets create
// --data-file=FILE` keeps it) is dropped.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Config selects the Secret Manager project and endpoint.
type Config struct {
	// Project is GCP_PROJECT (required).
	Project string
	// Endpoint is GCP_SECRETMANAGER_ENDPOINT (host:port of an emulator or
	// test fake); when set the client uses plaintext gRPC and no
	// authentication. Empty = the real service with Application Default
	// Credentials.
	Endpoint string
	// ClientOptions are extra client options (tests).
	ClientOptions []option.ClientOption
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
