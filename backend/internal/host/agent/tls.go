package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/clarateach/backend/internal/hostcert"
)

// serverTLS is the agent's TLS configuration from cfg's key pair, or nil
// for plain HTTP, which only a loopback listener may serve: the agent
// token, keystrokes and files must never cross a network in plaintext.
func serverTLS(cfg Config, loopback bool) (*tls.Config, error) {
	haveCert, haveKey := len(cfg.TLSCert) > 0, len(cfg.TLSKey) > 0
	if haveCert != haveKey {
		return nil, errors.New("agent: a TLS certificate needs its key and a key its certificate (--tls-cert and --tls-key, AGENT_TLS_CERT and AGENT_TLS_KEY, or the metadata attributes agent-tls-cert and agent-tls-key)")
	}
	if !haveCert {
		if !loopback {
			return nil, fmt.Errorf("agent: refusing to serve plain HTTP on %q, which is reachable from other machines: the agent token, learners' keystrokes and files would cross the network unencrypted. "+
				"Give the host's TLS certificate and key (--tls-cert/--tls-key or AGENT_TLS_CERT/AGENT_TLS_KEY files; on a workshop VM the control plane puts them in the metadata attributes agent-tls-cert and agent-tls-key), "+
				"or listen on loopback only (--listen 127.0.0.1:9090)", cfg.Listen)
		}
		return nil, nil
	}
	c, err := hostcert.ServerConfig(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return c, nil
}

// tlsKeyPair reads the host's TLS key pair: the files of --tls-cert and
// --tls-key (or AGENT_TLS_CERT/AGENT_TLS_KEY), else, with metadata on, the
// instance attributes agent-tls-cert and agent-tls-key. Neither is no TLS.
func tlsKeyPair(ctx context.Context, o *Options, md *metadataClient, useMetadata bool, log *slog.Logger) (cert, key []byte, err error) {
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
