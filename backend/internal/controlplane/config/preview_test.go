package config

import (
	"strings"
	"testing"
)

func TestPreviewSettings(t *testing.T) {
	t.Parallel()
	local := func() *Config {
		return &Config{Provisioner: ProvisionerLocal, Port: 8080, Listen: "127.0.0.1:8080", PublicURL: "http://localhost:8080"}
	}
	c := local()
	if err := derivePreview(c); err != nil || validatePreview(c) != nil {
		t.Fatal(err)
	}
	if c.PreviewDomain != "localhost" || c.PreviewListen != "127.0.0.1:8081" || !c.PreviewListenDefaulted ||
		c.PreviewOrigin("abc", 3, 5173) != "http://5173-3-abc.localhost:8081" {
		t.Fatalf("local defaults: %q %q %q", c.PreviewDomain, c.PreviewListen, c.PreviewOrigin("abc", 3, 5173))
	}
	c = local()
	c.PreviewDomain = "off"
	_ = derivePreview(c)
	if c.PreviewDomain != "" || c.PreviewListen != "" || c.PreviewOrigin("abc", 1, 80) != "" {
		t.Fatalf("off: %+v", c)
	}

	prod := func(domain string) *Config {
		c := &Config{Provisioner: ProvisionerGCP, Port: 8080, PublicURL: "https://teach.example.com", PreviewDomain: domain}
		_ = derivePreview(c)
		return c
	}
	if c := prod(""); c.PreviewDomain != "" || c.PreviewListen != "" {
		t.Fatalf("production without PREVIEW_DOMAIN must have previews off: %+v", c)
	}
	c = prod("Example-Preview.net.")
	if err := validatePreview(c); err != nil {
		t.Fatal(err)
	}
	if got := c.PreviewOrigin("abc", 2, 3000); got != "https://3000-2-abc.example-preview.net" {
		t.Fatalf("production origin %q", got)
	}
	for _, cors := range []string{"https://3000-2-abc.example-preview.net", "https://x.EXAMPLE-preview.net"} {
		c := prod("example-preview.net")
		c.CORSOrigins = []string{"https://ok.example.org", cors}
		if err := validatePreview(c); err == nil || !strings.Contains(err.Error(), "CORS_ORIGINS") {
			t.Errorf("CORS_ORIGINS %s with PREVIEW_DOMAIN example-preview.net: %v, want refused", cors, err)
		}
	}
	c = local()
	c.CORSOrigins = []string{"http://localhost:5173", "http://8000-1-abc.localhost:8081"}
	if err := derivePreview(c); err != nil || validatePreview(c) == nil {
		t.Errorf("local: a preview origin in CORS_ORIGINS must be refused")
	}
	for _, bad := range []string{"example.com", "teach.example.com", "p.teach.example.com", "*.example.net", "https://x.net"} {
		if err := validatePreview(prod(bad)); err == nil || !strings.Contains(err.Error(), "PREVIEW_DOMAIN") {
			t.Errorf("PREVIEW_DOMAIN=%s with PUBLIC_URL https://teach.example.com: %v, want refused", bad, err)
		}
	}
}
