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
// The client is Secret Manager's REST API (v1, versions:access) over
// net/http, with Application Default Credentials (golang.org/x/oauth2/google).
//
// Values are never logged. A trailing newline (as `gcloud secrets create
// --data-file=FILE` keeps it) is dropped.
package secrets

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/oauth2/google"
)

// Config selects the Secret Manager project and endpoint.
type Config struct {
	// Project is GCP_PROJECT (required).
	Project string
	// Endpoint is GCP_SECRETMANAGER_ENDPOINT: an emulator's or test fake's
	// host:port (plain HTTP) or URL; when set no credentials are sent.
	// Empty = the real service with Application Default Credentials.
	Endpoint string
}

// DefaultEndpoint is Secret Manager's public REST endpoint.
const DefaultEndpoint = "https://secretmanager.googleapis.com"

// scope is the OAuth scope of the calls.
const scope = "https://www.googleapis.com/auth/cloud-platform"

// Fetch reads the latest version of each name from Secret Manager and
// returns the ones that exist. A secret that does not exist (NotFound) is
// left out; any other error is returned, naming the secret.
func Fetch(ctx context.Context, cfg Config, names []string) (map[string]string, error) {
	if cfg.Project == "" {
		return nil, errors.New("secrets: project is required")
	}
	c, err := NewClient(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer c.hc.CloseIdleConnections()
	out := map[string]string{}
	for _, name := range names {
		val, ok, err := c.access(ctx, cfg.Project, name)
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

// Client calls Secret Manager's REST API.
type Client struct {
	hc       *http.Client
	endpoint string
}

// NewClient opens a Secret Manager client for cfg.
func NewClient(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Endpoint != "" {
		ep := cfg.Endpoint
		if !strings.Contains(ep, "://") {
			ep = "http://" + ep
		}
		return &Client{hc: &http.Client{}, endpoint: strings.TrimRight(ep, "/")}, nil
	}
	hc, err := google.DefaultClient(context.WithoutCancel(ctx), scope)
	if err != nil {
		return nil, fmt.Errorf("secrets: Secret Manager credentials: %w", err)
	}
	return &Client{hc: hc, endpoint: DefaultEndpoint}, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// accessResponse is versions:access's answer (AccessSecretVersionResponse
// in JSON: bytes as base64, int64 as a string).
type accessResponse struct {
	Name    string `json:"name"`
	Payload struct {
		Data       string `json:"data"`
		DataCrc32c string `json:"dataCrc32c"`
	} `json:"payload"`
}

func (c *Client) access(ctx context.Context, project, name string) (string, bool, error) {
	res := fmt.Sprintf("projects/%s/secrets/%s/versions/latest", url.PathEscape(project), url.PathEscape(name))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint+"/v1/"+res+":access", nil)
	if err != nil {
		return "", false, fmt.Errorf("secret %s: %w", name, err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", false, fmt.Errorf("secret %s: access %s: %w", name, res, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", false, fmt.Errorf("secret %s: access %s: %w", name, res, err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return "", false, nil
	}
	if resp.StatusCode != http.StatusOK {
		// The error message names the resource, never the value.
		return "", false, fmt.Errorf("secret %s: access %s: %w", name, res, apiError(resp.StatusCode, raw))
	}
	var ar accessResponse
	if err := json.Unmarshal(raw, &ar); err != nil {
		return "", false, fmt.Errorf("secret %s: decode the answer: %w", name, err)
	}
	data, err := base64.StdEncoding.DecodeString(ar.Payload.Data)
	if err != nil {
		return "", false, fmt.Errorf("secret %s: payload is not base64: %w", name, err)
	}
	if ar.Payload.DataCrc32c != "" {
		sum, err := strconv.ParseInt(ar.Payload.DataCrc32c, 10, 64)
		if err != nil || int64(crc32.Checksum(data, castagnoli)) != sum {
			return "", false, fmt.Errorf("secret %s: payload checksum mismatch (data corrupted in transit)", name)
		}
	}
	// `gcloud secrets create --data-file=f` keeps a file's final newline;
	// no ClaraTeach secret can end in one, so it is dropped.
	return strings.TrimRight(string(data), "\r\n"), true, nil
}

// APIError is an error answer of a Google REST API
// ({"error": {"code", "message", "status"}}).
type APIError struct {
	Code    int    // HTTP status
	Status  string // canonical code: NOT_FOUND, PERMISSION_DENIED, FAILED_PRECONDITION, ...
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("secret manager: %d %s: %s", e.Code, e.Status, e.Message)
}

func apiError(code int, raw []byte) error {
	var body struct {
		Error struct {
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	e := &APIError{Code: code, Message: http.StatusText(code)}
	if json.Unmarshal(raw, &body) == nil && body.Error.Message != "" {
		e.Message, e.Status = body.Error.Message, body.Error.Status
	}
	return e
}
