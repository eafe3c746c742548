package agentcmd

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"
)

// secrets are the host's secrets, from flags, the environment or the GCE
// instance metadata.
type secrets struct {
	token           string // agent token; empty: dev mode
	workspaceKey    []byte // this host's workshop key, or
	workspaceSecret []byte // local mode: the root of per-workshop keys
	tlsCert, tlsKey []byte // PEM; none: plain HTTP (loopback only)
}

// readSecrets resolves the agent token, the workspace key and the TLS key
// pair: what a flag or variable sets wins, else, with metadata on (or auto
// on GCE), the instance attributes.
func readSecrets(ctx context.Context, o *options, mo MainOptions, log *slog.Logger) (secrets, error) {
	if mo.OnGCE == nil {
		mo.OnGCE = onGCE
	}
	useMetadata := o.Metadata == "on" || (o.Metadata == "auto" && mo.OnGCE())
	md := &metadataClient{base: strings.TrimRight(o.MetadataURL, "/"), hc: &http.Client{Timeout: 5 * time.Second}}
	var s secrets
	s.token = o.Token
	if s.token == "" && useMetadata {
		v, err := md.attribute(ctx, "agent-token")
		if err != nil {
			return secrets{}, fmt.Errorf("read agent token from instance metadata: %w", err)
		}
		s.token = strings.TrimSpace(v)
		if s.token != "" {
			log.Info("agent token read from instance metadata")
		}
	}
	keyHex := o.WorkspaceKeyHex
	if keyHex == "" && useMetadata {
		v, err := md.attribute(ctx, "workspace-key")
		if err != nil {
			return secrets{}, fmt.Errorf("read workspace key from instance metadata: %w", err)
		}
		keyHex = strings.TrimSpace(v)
	}
	if keyHex != "" {
		k, err := hex.DecodeString(keyHex)
		if err != nil || len(k) < 16 {
			return secrets{}, errors.New("the workspace key (WORKSPACE_KEY or metadata workspace-key) must be at least 16 bytes, hex-encoded")
		}
		s.workspaceKey = k
	} else if o.WorkspaceSecret != "" {
		s.workspaceSecret = []byte(o.WorkspaceSecret)
	}
	var err error
	s.tlsCert, s.tlsKey, err = tlsKeyPair(ctx, o, md, useMetadata, log)
	if err != nil {
		return secrets{}, err
	}
	return s, nil
}

// tlsKeyPair reads the host's TLS key pair: the files of --tls-cert and
// --tls-key (or AGENT_TLS_CERT/AGENT_TLS_KEY), else, with metadata on, the
// instance attributes agent-tls-cert and agent-tls-key. Neither is no TLS.
func tlsKeyPair(ctx context.Context, o *options, md *metadataClient, useMetadata bool, log *slog.Logger) (cert, key []byte, err error) {
	if o.TLSCertFile != "" || o.TLSKeyFile != "" {
		if o.TLSCertFile == "" || o.TLSKeyFile == "" {
			return nil, nil, errors.New("--tls-cert and --tls-key (AGENT_TLS_CERT and AGENT_TLS_KEY) go together")
		}
		if cert, err = os.ReadFile(o.TLSCertFile); err != nil {
			return nil, nil, fmt.Errorf("read TLS certificate: %w", err)
		}
		if key, err = os.ReadFile(o.TLSKeyFile); err != nil {
			return nil, nil, fmt.Errorf("read TLS key: %w", err)
		}
		return cert, key, nil
	}
	if !useMetadata {
		return nil, nil, nil
	}
	c, err := md.attribute(ctx, "agent-tls-cert")
	if err != nil {
		return nil, nil, fmt.Errorf("read TLS certificate from instance metadata: %w", err)
	}
	k, err := md.attribute(ctx, "agent-tls-key")
	if err != nil {
		return nil, nil, fmt.Errorf("read TLS key from instance metadata: %w", err)
	}
	if c != "" && k != "" {
		log.Info("TLS key pair read from instance metadata")
	}
	return []byte(c), []byte(k), nil
}

// onGCE reports whether this is a Google Compute Engine VM, from the DMI
// product name (no network access).
func onGCE() bool {
	if runtime.GOOS != "linux" {
		return false
	}
	b, err := os.ReadFile("/sys/class/dmi/id/product_name")
	return err == nil && strings.Contains(string(b), "Google")
}

// metadataClient reads instance attributes from the GCE metadata server.
type metadataClient struct {
	base string
	hc   *http.Client
}

// attribute returns instance attribute name, or "" if it is not set.
func (m *metadataClient) attribute(ctx context.Context, name string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.base+"/instance/attributes/"+name, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Metadata-Flavor", "Google")
	resp, err := m.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return "", nil
	default:
		return "", fmt.Errorf("metadata %s: HTTP %d", name, resp.StatusCode)
	}
	if resp.Header.Get("Metadata-Flavor") != "Google" {
		return "", fmt.Errorf("metadata %s: answer lacks Metadata-Flavor: Google", name)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("metadata %s: %w", name, err)
	}
	return string(b), nil
}
