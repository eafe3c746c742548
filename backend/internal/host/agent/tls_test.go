package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/hostcert"
)

// isolatingRuntime stands in for the sandbox runtime (the process runtime
// is loopback-only anyway); it never has seats.
type isolatingRuntime struct{}

func (isolatingRuntime) Name() string { return "sandbox" }
func (isolatingRuntime) Create(context.Context, seatruntime.Spec) (*seatruntime.Seat, error) {
	return nil, context.Canceled
}
func (isolatingRuntime) Alive(context.Context, *seatruntime.Seat) bool    { return false }
func (isolatingRuntime) Destroy(context.Context, *seatruntime.Seat) error { return nil }

func TestPlainHTTPOnlyOnLoopback(t *testing.T) {
	t.Parallel()
	pair, err := hostcert.Generate("h", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		listen    string
		cert, key string
		wantErr   string
	}{
		{":9090", "", "", "refusing to serve plain HTTP"},
		{"0.0.0.0:9090", "", "", "refusing to serve plain HTTP"},
		{"10.1.2.3:9090", "", "", "agent-tls-cert"},
		{":9090", pair.CertPEM, "", "needs its key"},
		{":9090", pair.CertPEM, "not a key", "key pair"},
		{":9090", pair.CertPEM, pair.KeyPEM, ""},
		{"127.0.0.1:9090", "", "", ""},
		{"[::1]:9090", pair.CertPEM, pair.KeyPEM, ""},
	} {
		_, err := New(Config{Listen: tc.listen, Token: "tok", TLSCert: []byte(tc.cert), TLSKey: []byte(tc.key),
			StateDir: shortTempDir(t), Runtime: isolatingRuntime{}, Logger: quietLog})
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("New(listen=%q, tls=%v) = %v, want success", tc.listen, tc.cert != "", err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("New(listen=%q, tls=%v) = %v, want error containing %q", tc.listen, tc.cert != "", err, tc.wantErr)
		}
	}
}
