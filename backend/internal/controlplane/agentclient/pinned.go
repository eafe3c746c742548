package agentclient

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/hostcert"
)

// Endpoint is how the control plane reaches one workshop's agent.
type Endpoint struct {
	URL   string // https://IP:9090, or http://127.0.0.1:PORT for the local agent
	Token string // the workshop's agent token
	// CertPEM is the host's certificate, pinned; empty only for a
	// loopback agent.
	CertPEM string
}

// Connect returns a client for ep: pinned TLS when ep has a certificate,
// else plain HTTP, which only a loopback URL may use. base (nil = a fresh
// transport) supplies the dialer; timeout bounds each call (0 = 60 s).
func Connect(ep Endpoint, base *http.Transport, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	if ep.CertPEM != "" {
		c := NewPinned(ep.URL, ep.Token, ep.CertPEM, base)
		if c.hc != nil {
			c.hc.Timeout = timeout
		}
		return c
	}
	hc := &http.Client{Timeout: timeout}
	if base != nil {
		hc.Transport = base
	}
	return New(ep.URL, ep.Token, hc)
}

// NewPinned returns a client for the agent at the https baseURL whose
// certificate must be exactly certPEM. base (nil = a fresh transport) is
// cloned for its dialer and timeouts and given the pinned TLS
// configuration. A bad URL or certificate makes every call fail.
func NewPinned(baseURL, token, certPEM string, base *http.Transport) *Client {
	c := &Client{base: strings.TrimRight(baseURL, "/"), token: token}
	tr, err := PinnedTransport(certPEM, base)
	if err != nil {
		c.err = fmt.Errorf("agent %s: %w", baseURL, err)
		return c
	}
	if u, err := url.Parse(baseURL); err != nil || u.Scheme != "https" {
		c.err = fmt.Errorf("agent %s: a pinned agent URL must be https://", baseURL)
		return c
	}
	c.hc = &http.Client{Transport: tr, Timeout: 60 * time.Second}
	return c
}

// PinnedTransport is base (nil = a fresh transport) with TLS that accepts
// only the host certificate certPEM.
func PinnedTransport(certPEM string, base *http.Transport) (*http.Transport, error) {
	cfg, err := hostcert.ClientConfig(certPEM)
	if err != nil {
		return nil, err
	}
	var tr *http.Transport
	if base != nil {
		tr = base.Clone()
	} else {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	tr.Proxy = nil
	tr.TLSClientConfig = cfg
	tr.ForceAttemptHTTP2 = false
	return tr, nil
}

// CheckURL refuses an agent URL that would carry the agent token,
// keystrokes and files in plaintext off this machine: http:// is allowed
// only to a loopback host, and https:// only with a pinned certificate.
func CheckURL(raw string, pinned bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("agent URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "https":
		if !pinned {
			return fmt.Errorf("agent URL %s: no certificate is pinned for this host", raw)
		}
		return nil
	case "http":
		if !IsLoopbackHost(u.Hostname()) {
			return fmt.Errorf("agent URL %s: refusing plaintext HTTP to a host that is not loopback; workshop hosts are reached over pinned TLS (https://)", raw)
		}
		return nil
	default:
		return fmt.Errorf("agent URL %q: scheme must be https (or http on loopback)", raw)
	}
}

// IsLoopbackHost reports whether host (a name or IP, no port) is this
// machine's loopback.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
