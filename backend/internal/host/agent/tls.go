package agent

import (
	"crypto/tls"
	"errors"
	"fmt"

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
