package agent

// Workshop environments: the agent pulls a workshop's image into the
// host's cache (imagecache) in the background while the control plane
// follows its progress, lists and prunes the cache, and starts seats on
// a cached image by digest.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/host/agentapi"
	"github.com/clarateach/backend/internal/host/imagecache"
	"github.com/clarateach/backend/internal/host/seatruntime"
)

// ImageCache is the host's image cache (<state>/images) for a runtime
// that runs seats on images: the sandbox and firecracker, as root; nil
// otherwise. The agent command and the local agent (clarateach server)
// both use it.
func ImageCache(runtimeName, stateDir string, log *slog.Logger) (*imagecache.Cache, error) {
	if (runtimeName != "sandbox" && runtimeName != "firecracker") || os.Geteuid() != 0 {
		return nil, nil
	}
	c, err := imagecache.New(imagecache.Config{Dir: filepath.Join(stateDir, "images"), Logger: log})
	if err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	return c, nil
}

// imagePulls are the pulls this agent ran or runs, by reference.
type imagePulls struct {
	mu    sync.Mutex
	pulls map[string]*agentapi.ImagePull
}

func (a *Agent) images() (*imagecache.Cache, error) {
	if a.cfg.Images == nil {
		return nil, apierror.New(http.StatusNotImplemented, "images_unsupported",
			"this host runs seats on its own root only (the %s runtime, or not root): it cannot pull images", a.rt.Name())
	}
	return a.cfg.Images, nil
}

// seatImage is the runtime's view of a cached image (nil for "").
func (a *Agent) seatImage(digest string) (*seatruntime.Image, error) {
	if digest == "" {
		return nil, nil
	}
	c, err := a.images()
	if err != nil {
		return nil, err
	}
	im, err := c.Get(digest)
	if err != nil && !strings.HasPrefix(digest, "sha256:") {
		im, err = latestPulled(c, digest)
	}
	if err != nil {
		return nil, apierror.Conflict("image_not_pulled", "image %s is not in this host's cache: pull it first (POST /images/pull)", digest)
	}
	img := &seatruntime.Image{Digest: im.Digest, RootFS: im.RootFS, Env: im.Config.Env}
	if err := a.imageDisk(c, img); err != nil {
		return nil, err
	}
	return img, nil
}

// imageDisker is a runtime whose seats boot an image's ext4 disk
// (seatruntime.Image.Disk) rather than its tree: firecracker.
type imageDisker interface {
	ImageDisks() bool
}

// imageDisk sets img.Disk for a runtime that boots images as disks,
// building the disk if the image has none yet: once per digest, however
// many seats ask at once (imagecache's Ext4). A pull builds it already
// (runPull); this covers an image pulled before.
func (a *Agent) imageDisk(c *imagecache.Cache, img *seatruntime.Image) error {
	if d, ok := a.rt.(imageDisker); !ok || !d.ImageDisks() {
		return nil
	}
	disk, err := c.Ext4(img.Digest)
	if err != nil {
		return fmt.Errorf("image %s: %w", img.Digest, err)
	}
	img.Disk = disk
	return nil
}

// latestPulled is the most recently pulled image of a reference.
func latestPulled(c *imagecache.Cache, ref string) (*imagecache.Image, error) {
	list, err := c.List()
	if err != nil {
		return nil, err
	}
	var best *imagecache.Image
	for _, im := range list {
		if im.Ref == ref && (best == nil || im.PulledAt.After(best.PulledAt)) {
			best = im
		}
	}
	if best == nil {
		return nil, fmt.Errorf("no image %s", ref)
	}
	return best, nil
}

// handlePullImage starts a pull (or reports the one running, or done).
func (a *Agent) handlePullImage(w http.ResponseWriter, r *http.Request) error {
	c, err := a.images()
	if err != nil {
		return err
	}
	var req agentapi.PullImageRequest
	if err := apierror.Decode(w, r, &req, 64<<10); err != nil {
		return err
	}
	req.Ref = strings.TrimSpace(req.Ref)
	if req.Ref == "" {
		return apierror.Invalid("ref is required")
	}
	p := &a.pulls
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur := p.pulls[req.Ref]; cur != nil && cur.State != agentapi.PullFailed {
		apierror.JSON(w, http.StatusOK, *cur)
		return nil
	}
	if p.pulls == nil {
		p.pulls = map[string]*agentapi.ImagePull{}
	}
	job := &agentapi.ImagePull{Ref: req.Ref, State: agentapi.PullRunning}
	p.pulls[req.Ref] = job
	go a.runPull(context.WithoutCancel(r.Context()), c, req, job)
	apierror.JSON(w, http.StatusAccepted, *job)
	return nil
}

func (a *Agent) runPull(ctx context.Context, c *imagecache.Cache, req agentapi.PullImageRequest, job *agentapi.ImagePull) {
	ctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	p := &a.pulls
	set := func(f func()) {
		p.mu.Lock()
		f()
		p.mu.Unlock()
	}
	auth := imagecache.Auth{Username: req.Username, Password: req.Password}
	var err error
	if req.GCEToken {
		auth, err = a.gceToken(ctx)
	}
	var im *imagecache.Image
	if err == nil {
		im, err = c.Pull(ctx, req.Ref, auth, func(done, total int64) {
			set(func() { job.DoneBytes, job.TotalBytes = done, total })
		})
	}
	if err == nil {
		// A microVM host's seats boot the image as a disk: it is built
		// with the pull, before the class starts.
		err = a.imageDisk(c, &seatruntime.Image{Digest: im.Digest})
	}
	set(func() {
		if err != nil {
			job.State, job.Reason, job.Error = agentapi.PullFailed, pullReason(err), err.Error()
			return
		}
		job.State, job.Digest = agentapi.PullDone, im.Digest
		job.DoneBytes, job.TotalBytes = im.Download, im.Download
	})
	if w, ok := a.rt.(seatruntime.ImageWarmer); ok && err == nil {
		// The class's seats are claimed from warm seats on its image.
		w.WarmImage(&seatruntime.Image{Digest: im.Digest, RootFS: im.RootFS, Env: im.Config.Env})
	}
	if err != nil {
		a.log.WarnContext(ctx, "image pull failed", "ref", req.Ref, "err", err)
	}
}

// pullReason names a pull's failure for the control plane.
func pullReason(err error) string {
	for _, r := range []struct {
		err  error
		name string
	}{
		{imagecache.ErrNotFound, "not_found"}, {imagecache.ErrUnauthorized, "unauthorized"},
		{imagecache.ErrWrongArch, "wrong_arch"}, {imagecache.ErrTooBig, "too_big"},
		{imagecache.ErrNoShell, "no_shell"}, {imagecache.ErrBadImage, "bad_image"},
	} {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "error"
}

func (a *Agent) handlePullStatus(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.images(); err != nil {
		return err
	}
	ref := r.URL.Query().Get("ref")
	a.pulls.mu.Lock()
	job := a.pulls.pulls[ref]
	var v agentapi.ImagePull
	if job != nil {
		v = *job
	}
	a.pulls.mu.Unlock()
	if job == nil {
		return apierror.NotFound("no pull of %q on this host", ref)
	}
	apierror.JSON(w, http.StatusOK, v)
	return nil
}

func (a *Agent) handleListImages(w http.ResponseWriter, r *http.Request) error {
	c, err := a.images()
	if err != nil {
		return err
	}
	list, err := c.List()
	if err != nil {
		return err
	}
	apierror.JSON(w, http.StatusOK, a.imageList(list))
	return nil
}

func (a *Agent) handlePruneImages(w http.ResponseWriter, r *http.Request) error {
	c, err := a.images()
	if err != nil {
		return err
	}
	var req agentapi.PruneImagesRequest
	if err := apierror.Decode(w, r, &req, 4096); err != nil {
		return err
	}
	if req.UnusedForSeconds < 0 {
		return apierror.Invalid("unused_for_seconds must not be negative")
	}
	unused := time.Duration(req.UnusedForSeconds) * time.Second
	if req.All {
		unused = time.Nanosecond // every image not in use
	}
	used := a.imagesInUse()
	removed, err := c.Prune(imagecache.PruneOptions{
		UnusedFor: unused,
		InUse:     func(d string) bool { return used[d] > 0 },
	})
	if f, ok := a.rt.(seatruntime.ImageForgetter); ok {
		// Nothing made ahead for a removed image is kept.
		for _, im := range removed {
			f.ForgetImage(im.Digest)
		}
	}
	if err != nil {
		return err
	}
	apierror.JSON(w, http.StatusOK, a.imageList(removed))
	return nil
}

// imagesInUse counts this host's seats per image digest.
func (a *Agent) imagesInUse() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	used := map[string]int{}
	for _, e := range a.seats {
		if e.seat != nil && e.seat.Image != "" {
			used[e.seat.Image]++
		}
	}
	return used
}

func (a *Agent) imageList(ims []*imagecache.Image) agentapi.ImageList {
	used := a.imagesInUse()
	out := agentapi.ImageList{Images: []agentapi.Image{}}
	for _, im := range ims {
		out.Images = append(out.Images, agentapi.Image{
			Ref: im.Ref, Digest: im.Digest, Bytes: im.Bytes, PulledAt: im.PulledAt, LastUsed: im.LastUsed, SeatsUsed: used[im.Digest],
		})
	}
	return out
}

// gceToken is this host's service account token from the GCE metadata
// server, as registry credentials (Artifact Registry, Container Registry).
func (a *Agent) gceToken(ctx context.Context) (imagecache.Auth, error) {
	base := strings.TrimRight(a.cfg.MetadataURL, "/")
	if base == "" {
		base = DefaultMetadataURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/instance/service-accounts/default/token", nil)
	if err != nil {
		return imagecache.Auth{}, err
	}
	req.Header.Set("Metadata-Flavor", "Google")
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		return imagecache.Auth{}, fmt.Errorf("%w: registry token from the metadata server: %v", imagecache.ErrUnauthorized, err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &tok) != nil || tok.AccessToken == "" {
		return imagecache.Auth{}, fmt.Errorf("%w: registry token from the metadata server: HTTP %d", imagecache.ErrUnauthorized, resp.StatusCode)
	}
	return imagecache.Auth{Username: "oauth2accesstoken", Password: tok.AccessToken}, nil
}
