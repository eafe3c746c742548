package server

import (
	"net/http"
	"sync"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/hostcert"
)

// agentTransports holds one pinned transport per host certificate, so the
// relay reuses TLS connections to a workshop's agent and never trusts one
// host's certificate for another.
type agentTransports struct {
	mu   sync.Mutex
	byFP map[string]*http.Transport // certificate fingerprint -> transport
}

// maxPinnedTransports bounds the cache (one per running workshop host);
// past it the cache starts over, closing the idle connections it held.
const maxPinnedTransports = 512

// relayTransport is the round tripper that reaches ws's agent: pinned TLS
// for a host with a certificate, or the plain transport for a loopback
// agent. Plaintext to any other host is refused.
func (s *Server) relayTransport(ws *store.Workshop) (http.RoundTripper, error) {
	if err := agentclient.CheckURL(ws.AgentURL, ws.AgentCert != ""); err != nil {
		return nil, err
	}
	if ws.AgentCert == "" {
		return s.relayRT, nil
	}
	fp, err := hostcert.Fingerprint(ws.AgentCert)
	if err != nil {
		return nil, err
	}
	t := &s.pinned
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr, ok := t.byFP[fp]; ok {
		return tr, nil
	}
	base, _ := s.relayRT.(*http.Transport)
	tr, err := agentclient.PinnedTransport(ws.AgentCert, base)
	if err != nil {
		return nil, err
	}
	if t.byFP == nil || len(t.byFP) >= maxPinnedTransports {
		for _, old := range t.byFP {
			old.CloseIdleConnections()
		}
		t.byFP = map[string]*http.Transport{}
	}
	t.byFP[fp] = tr
	return tr, nil
}
