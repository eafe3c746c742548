package workspace

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// HTTPClient returns an HTTP client and base URL for a daemon's --listen
// value, e.g. for unix:/run/seat-3/ws.sock it returns a client that dials
// that socket and "http://workspace". The terminal WebSocket is at
// base+"/terminal" with the same client (terminal.DialOptions.HTTPClient).
func HTTPClient(listen string) (*http.Client, string, error) {
	scheme, rest, ok := strings.Cut(listen, ":")
	if !ok || rest == "" {
		return nil, "", fmt.Errorf("listen %q: want unix:/path.sock or tcp:HOST:PORT", listen)
	}
	switch scheme {
	case "unix":
		tr := &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", rest)
			},
			MaxIdleConnsPerHost: 4,
		}
		return &http.Client{Transport: tr}, "http://workspace", nil
	case "tcp":
		return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}, "http://" + rest, nil
	}
	return nil, "", fmt.Errorf("listen %q: unknown scheme %q", listen, scheme)
}
