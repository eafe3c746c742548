//go:build linux

package sandbox

// System layers made ahead of time. A seat on an image with a disk limit
// writes outside its home into its own layer (image_linux.go): an ext4
// image, <seat>/system.img, that its start copied from the disk template,
// attached to a loop device, mounted and laid out (upper/, work/) while it
// held one of the start slots, mostly asleep in the kernel as a home's
// mount is (homepool_linux.go). On a loaded machine that step took 37-82
// ms per seat (bench/images README), and the seats behind it in the queue
// waited for it.
//
// So once the agent has pulled a class's image (WarmImage), the runtime
// keeps layers for that image ready, as it keeps blank homes: copied from
// the template of the default disk limit, mounted detached, with upper/
// and work/, in <BaseDir>/.disk/layers/. A seat started from scratch on
// that image, with that limit and no layer of its own yet, takes one: its
// image is renamed into the seat's directory as system.img (the loop
// device follows the file, not its name) and its upper/ given to the
// seat's root; the start then only clones the image's tree and mounts the
// overlay. One goroutine refills the pool, outside any start slot, and
// only while no seat is starting: during a burst it would take the CPU
// from the seats' starts (a layer costs ~2 ms of CPU to make), and the
// pool is sized for a class (systemLayersAhead). A seat that finds none
// ready (or asks for another size, or runs on another image) makes its
// layer as before.
//
// A layer is bound to the digest of the image it was made for: a seat on
// another image never takes it, and when the warmed image changes
// (WarmImage) or leaves the host's cache (ForgetImage), the ready layers
// are unmounted and deleted, and one being made then is deleted once made.
// A layer holds nothing of the image's files; the binding keeps the pool
// to the class it is made for, and nothing of it is kept for an image
// that is gone. A layer is taken out of the pool by one seat, under the
// pool's lock: no two seats ever share one.
//
// Nothing outlives the agent: the layers' mounts are held only by the
// pool's file descriptors (Close, or the agent's exit, unmounts them and
// their loop devices clear themselves), and a runtime removes, when it
// starts, the images of agents no longer running (<agent pid>-<n>.img).

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

const layerDir = "layers" // in <BaseDir>/.disk

// systemLayersAhead bounds the layers kept ready (and the runtime's
// capacity does): a class of about this size starts on layers made ahead,
// as it starts on user namespaces made ahead (usernsAhead).
const systemLayersAhead = usernsAhead

// readyLayer is a pooled system layer: an image in the pool's directory,
// mounted, with upper/ and work/ owned by the host's root.
type readyLayer struct {
	*pooledImage
	digest string // the image it was made for
}

// layerPool keeps up to size system layers of one disk limit ready for
// the seats of one image.
type layerPool struct {
	limit diskLimit
	tpl   string // the template image of limit
	dir   string // <BaseDir>/.disk/layers
	size  int
	log   *slog.Logger
	// busy says whether a seat is starting (Runtime.starting): the filler
	// waits until none is; the last start to end pokes it.
	busy func() bool
	// retry is how long the filler waits after a failure (or until the
	// image changes).
	retry time.Duration

	mu     sync.Mutex
	digest string // the image layers are made for; "": none
	ready  []*readyLayer
	closed bool

	kick chan struct{} // a layer was taken, or the image changed
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// startLayerPool starts the (idle) pool of system layers of the default
// disk limit: none without a disk limit. It makes layers once WarmImage
// names an image.
func (r *Runtime) startLayerPool() error {
	if r.images == nil || r.rootless {
		return nil
	}
	d := *r.diskFor(0, 0)
	tpl, err := r.images.template(d)
	if err != nil {
		return err
	}
	p := &layerPool{
		limit: d, tpl: tpl, dir: filepath.Join(r.images.dir, layerDir), log: r.log,
		size:  min(r.capacity, systemLayersAhead),
		busy:  func() bool { return r.starting.Load() > 0 },
		retry: 5 * time.Second,
		kick:  make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	if p.size < 1 {
		return nil
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	removeLeftoverImages(p.dir)
	r.layers = p
	go p.fill()
	return nil
}

func (p *layerPool) poke() {
	if p == nil {
		return
	}
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// wanted is the digest to make the next layer for, "" when the pool is
// full, closed or has no image, or a seat is starting.
func (p *layerPool) wanted() string {
	if p.busy != nil && p.busy() {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.ready) >= p.size {
		return ""
	}
	return p.digest
}

// fill makes layers, one at a time, while the pool has an image and room.
func (p *layerPool) fill() {
	defer close(p.done)
	for {
		digest := p.wanted()
		if digest == "" {
			select {
			case <-p.stop:
				return
			case <-p.kick:
				continue
			}
		}
		l, err := p.make(digest)
		if err != nil {
			p.log.Warn("could not make a seat's system layer ahead of time; seats on the image make their own", "image", digest, "err", err)
			select {
			case <-p.stop:
				return
			case <-p.kick:
			case <-time.After(p.retry):
			}
			continue
		}
		if !p.put(l) {
			l.discard() // the image changed meanwhile, or the pool closed
		}
	}
}

// make copies the template to a new image in the pool, mounts it and
// lays it out.
func (p *layerPool) make(digest string) (*readyLayer, error) {
	im, err := newPooledImage(p.tpl, p.dir)
	if err != nil {
		return nil, err
	}
	l := &readyLayer{pooledImage: im, digest: digest}
	if err := prepareUpper(int(im.mount.Fd()), seatOwner{}); err != nil {
		l.discard()
		return nil, fmt.Errorf("sandbox: system layer: %w", err)
	}
	return l, nil
}

// put adds a made layer, unless it is no longer wanted.
func (p *layerPool) put(l *readyLayer) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || l.digest != p.digest || len(p.ready) >= p.size {
		return false
	}
	p.ready = append(p.ready, l)
	return true
}

// take returns a ready layer for image digest and limit d, or nil: none
// is ready, or the pool keeps another image or size. It never waits.
func (p *layerPool) take(digest string, d diskLimit) *readyLayer {
	if p == nil || digest == "" || d != p.limit {
		return nil
	}
	p.mu.Lock()
	var l *readyLayer
	if n := len(p.ready); n > 0 && p.digest == digest {
		l, p.ready = p.ready[n-1], p.ready[:n-1]
	}
	p.mu.Unlock()
	if l != nil {
		p.poke()
	}
	return l
}

// setImage makes the pool keep layers for the image digest ("": none);
// the ready layers of another image are unmounted and deleted.
func (p *layerPool) setImage(digest string) {
	p.switchImage(func(string) bool { return true }, digest)
}

// forget stops keeping layers for digest, if the pool keeps them: the
// image left the host's cache.
func (p *layerPool) forget(digest string) {
	p.switchImage(func(cur string) bool { return cur == digest }, "")
}

// switchImage makes the pool keep layers for the image to instead of its
// current one, if from says so of the current one (checked and switched
// under one lock: an image warmed meanwhile is not dropped). The ready
// layers of the old image are unmounted and deleted.
func (p *layerPool) switchImage(from func(cur string) bool, to string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.digest == to || !from(p.digest) {
		p.mu.Unlock()
		return
	}
	p.digest = to
	stale := p.ready
	p.ready = nil
	p.mu.Unlock()
	for _, l := range stale {
		l.discard()
	}
	p.poke()
}

// count is the number of ready layers.
func (p *layerPool) count() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ready)
}

// close stops the filler and unmounts and deletes the ready layers.
func (p *layerPool) close() {
	if p == nil {
		return
	}
	p.once.Do(func() { close(p.stop) })
	<-p.done
	p.mu.Lock()
	p.closed = true
	ready := p.ready
	p.ready = nil
	p.mu.Unlock()
	for _, l := range ready {
		l.discard()
	}
}

// pooledLayer gives the seat whose layer image is img (none yet) a layer
// from the pool for image digest and limit d, renamed to img; nil when
// the pool has none (the caller makes one, also when the pooled image
// cannot be moved next to the seat: another file system). Its upper/ is
// still the host root's: prepareUpper gives it to the seat's root.
func (r *Runtime) pooledLayer(img, digest string, d diskLimit) *os.File {
	l := r.layers.take(digest, d)
	if l == nil {
		return nil
	}
	if err := os.Rename(l.img, img); err != nil {
		r.log.Warn("a system layer made ahead could not be moved to the seat; it makes its own", "seat_layer", img, "err", err)
		l.discard()
		return nil
	}
	return l.mount
}

// ForgetImage drops what the runtime keeps made ahead for the image
// digest (its ready system layers) and makes no more for it: the agent
// calls it when it removes the image from the host's cache.
func (r *Runtime) ForgetImage(digest string) {
	r.layers.forget(digest)
}

// SystemLayersReady is the number of system layers made ahead and ready
// (the images bench waits for the pool with it).
func (r *Runtime) SystemLayersReady() int {
	return r.layers.count()
}
