package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// derivePreview fills the preview defaults: local mode serves previews on
// a second listener, 127.0.0.1:PORT+1, under *.localhost (browsers resolve
// it to the loopback); elsewhere they are off until PREVIEW_DOMAIN is set.
func derivePreview(c *Config) error {
	c.PreviewDomain = strings.ToLower(strings.Trim(strings.TrimSpace(c.PreviewDomain), "."))
	if c.PreviewDomain == "off" {
		c.PreviewDomain, c.PreviewListen = "", ""
		return nil
	}
	if c.Local() {
		if c.PreviewDomain == "" {
			c.PreviewDomain = "localhost"
		}
		if c.PreviewListen == "" {
			c.PreviewListen, c.PreviewListenDefaulted = nextPort(c.Listen), true
		}
	}
	if c.PreviewListen != "" && c.Local() {
		_, port, err := net.SplitHostPort(c.PreviewListen)
		if err != nil {
			return fmt.Errorf("PREVIEW_LISTEN %q: want host:port", c.PreviewListen)
		}
		c.PreviewPort = port
	}
	return nil
}

// nextPort is listen's host with the next port (127.0.0.1:8080 ->
// 127.0.0.1:8081), the local preview listener's default.
func nextPort(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	n, err2 := strconv.Atoi(port)
	if err != nil || err2 != nil {
		return "127.0.0.1:8081"
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(n+1))
}

// validatePreview refuses a preview domain named in CORS_ORIGINS, or one
// that shares cookies with the app: PUBLIC_URL's host under it, or it under PUBLIC_URL's host, would
// let a learner's app set cookies the app reads (local mode keeps
// localhost, where the app's cookies are host-only and the machine is
// the developer's own).
func validatePreview(c *Config) error {
	d := c.PreviewDomain
	if d == "" {
		return nil
	}
	if strings.ContainsAny(d, "/:*@ ") || strings.Contains(d, "..") {
		return fmt.Errorf("PREVIEW_DOMAIN %q must be a domain name like preview.example.net (previews are at {port}-{seat}-{workshop}.PREVIEW_DOMAIN)", d)
	}
	// A learner's app (a host under the domain) must never be let in to
	// the API with credentials.
	for _, o := range c.CORSOrigins {
		if u, err := url.Parse(o); err == nil && strings.HasSuffix(strings.ToLower(u.Hostname()), "."+d) {
			return fmt.Errorf("CORS_ORIGINS entry %q is under PREVIEW_DOMAIN %q: learners' apps must not call the API", o, d)
		}
	}
	if c.Local() {
		return nil
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil {
		return fmt.Errorf("PUBLIC_URL: %w", err)
	}
	app := strings.ToLower(u.Hostname())
	if app == d || strings.HasSuffix(app, "."+d) || strings.HasSuffix(d, "."+app) {
		return fmt.Errorf("PREVIEW_DOMAIN %q shares cookies with PUBLIC_URL's host %q: use a domain of its own (e.g. PUBLIC_URL https://teach.example.com, PREVIEW_DOMAIN example-preview.net)", d, app)
	}
	return nil
}

// PreviewOrigin is the origin of one port of one seat's preview, e.g.
// https://8000-3-abcd.preview.example.net or
// http://8000-3-abcd.localhost:8081; "" when previews are off.
func (c *Config) PreviewOrigin(workshopID string, seat, port int) string {
	if c.PreviewDomain == "" {
		return ""
	}
	scheme := "https"
	if c.Local() && !strings.HasPrefix(c.PublicURL, "https:") {
		scheme = "http"
	}
	host := strconv.Itoa(port) + "-" + strconv.Itoa(seat) + "-" + workshopID + "." + c.PreviewDomain
	if c.PreviewPort != "" {
		host = net.JoinHostPort(host, c.PreviewPort)
	}
	return scheme + "://" + host
}
