package agent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/host/imagecache"
	"github.com/clarateach/backend/internal/host/imagecache/imagetest"
	"github.com/clarateach/backend/internal/host/seatruntime"
)

const gceTestToken = "ya29.test-token"

// tokenRegistry serves a registry whose "gcp/" repositories need the
// metadata server's token, as Artifact Registry does.
func tokenRegistry(t *testing.T) string {
	h := registry.New()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v2/gcp/") {
			if u, p, ok := r.BasicAuth(); !ok || u != "oauth2accesstoken" || p != gceTestToken {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"token"}]}`, http.StatusUnauthorized)
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func metadataWithToken(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata-Flavor") != "Google" || r.URL.Path != "/computeMetadata/v1/instance/service-accounts/default/token" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Metadata-Flavor", "Google")
		w.Write([]byte(`{"access_token":"` + gceTestToken + `","expires_in":3599,"token_type":"Bearer"}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/computeMetadata/v1"
}

// pullUntilDone polls the pull until it is no longer running.
func pullUntilDone(t *testing.T, c *agentclient.Client, req agentclient.PullImageRequest) *agentclient.ImagePull {
	t.Helper()
	if _, err := c.PullImage(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	var st *agentclient.ImagePull
	waitFor(t, "pull of "+req.Ref, func() bool {
		var err error
		st, err = c.PullStatus(context.Background(), req.Ref)
		if err != nil {
			t.Fatal(err)
		}
		return st.State != "pulling"
	})
	return st
}

func TestImagePullAndSeatOnImage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("unpacking images needs root")
	}
	host := tokenRegistry(t)
	ref := imagetest.Push(t, host, "gcp/course/busybox:1", imagetest.Image(t),
		remote.WithAuth(&authn.Basic{Username: "oauth2accesstoken", Password: gceTestToken}))
	noShell := imagetest.Push(t, host, "noshell:1", imagetest.WithLayers(t, "amd64", imagetest.Layer(t, []imagetest.File{{Name: "x", Body: "x"}})))
	cache, err := imagecache.New(imagecache.Config{Dir: filepath.Join(shortTempDir(t), "images"), MinFreeBytes: 1 << 20, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	forgot := &forgettingRuntime{}
	ta := newTestAgent(t, "", func(c *Config) {
		c.Images, c.MetadataURL = cache, metadataWithToken(t)
		forgot.Runtime, c.Runtime = c.Runtime, forgot
	})
	ta.destroyAllOnCleanup(t)
	c := ta.client()
	ctx := context.Background()

	for _, tc := range []struct {
		req    agentclient.PullImageRequest
		reason string
	}{
		{agentclient.PullImageRequest{Ref: ref}, "unauthorized"},
		{agentclient.PullImageRequest{Ref: host + "/nosuch:1"}, "not_found"},
		{agentclient.PullImageRequest{Ref: noShell}, "no_shell"},
	} {
		if st := pullUntilDone(t, c, tc.req); st.State != "failed" || st.Reason != tc.reason || st.Error == "" {
			t.Errorf("pull %s: %+v, want failed: %s", tc.req.Ref, st, tc.reason)
		}
	}
	st := pullUntilDone(t, c, agentclient.PullImageRequest{Ref: ref, GCEToken: true})
	if st.State != "done" || !strings.HasPrefix(st.Digest, "sha256:") || st.DoneBytes != st.TotalBytes || st.TotalBytes == 0 {
		t.Fatalf("pull with the metadata server's token: %+v", st)
	}

	// A seat asks for the image by digest; one not pulled is refused.
	if _, _, err := c.CreateSeat(ctx, "ws-img", 1, agentclient.SeatOptions{Image: "sha256:" + strings.Repeat("0", 64)}); err == nil || !strings.Contains(err.Error(), "not in this host's cache") {
		t.Errorf("seat on an image not pulled: %v", err)
	}
	s, _, err := c.CreateSeat(ctx, "ws-img", 1, agentclient.SeatOptions{Image: st.Digest})
	if err != nil {
		t.Fatal(err)
	}
	if s.Image != st.Digest {
		t.Errorf("seat reports image %q, want %s", s.Image, st.Digest)
	}
	list, err := c.ListImages(ctx)
	if err != nil || len(list) != 1 || list[0].Digest != st.Digest || list[0].SeatsUsed != 1 {
		t.Fatalf("images = %+v, %v", list, err)
	}
	// In use: never pruned, even when everything old is asked for.
	if removed, err := c.PruneImages(ctx, agentclient.PruneImagesRequest{}); err != nil || len(removed) != 0 {
		t.Errorf("prune while a seat uses the image removed %+v, %v", removed, err)
	}
	if err := c.DeleteSeat(ctx, "ws-img", 1); err != nil {
		t.Fatal(err)
	}
	if removed, err := c.PruneImages(ctx, agentclient.PruneImagesRequest{All: true}); err != nil || len(removed) != 1 {
		t.Fatalf("prune of every unused image: %+v, %v", removed, err)
	}
	if list, _ := c.ListImages(ctx); len(list) != 0 {
		t.Errorf("an unused image survived pruning: %+v", list)
	}
	// The runtime drops what it made ahead for the removed image.
	if got := forgot.digests(); !slices.Equal(got, []string{st.Digest}) {
		t.Errorf("images the runtime was told to forget: %v, want [%s]", got, st.Digest)
	}
}

// forgettingRuntime records the images the agent tells its runtime to
// forget (seatruntime.ImageForgetter).
type forgettingRuntime struct {
	seatruntime.Runtime
	mu     sync.Mutex
	forgot []string
}

func (f *forgettingRuntime) ForgetImage(digest string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgot = append(f.forgot, digest)
}

func (f *forgettingRuntime) digests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.forgot)
}
