//go:build linux

package sandbox

// Blank homes made ahead of time. Mounting a seat's home image waits on the
// kernel far more than it computes (bench/agent README, "Cold start: the
// disk step"): LOOP_CONFIGURE fsyncs the freshly copied image (a cache
// flush of the host's disk), and the ext4 mount writes its superblock
// through the loop device and starts two kernel threads (jbd2 and a
// workqueue rescuer), each waiting on kthreadd. About 20 ms per seat,
// nearly all of it asleep, and in a burst that sleep held one of the few
// start turns. So the runtime keeps a few blank homes of the default disk
// limit ready: copied from the template, attached to a loop device and
// mounted detached, in <BaseDir>/.disk/pool/. A seat started from scratch
// without a home of its own takes one: its image is renamed into the
// seat's directory (the loop device follows the file, not its name) and
// its root chowned to the learner. One goroutine refills the pool, outside
// any start turn. A seat that finds the pool empty, or asks for another
// size, makes its home as before.
//
// Nothing outlives the agent: the pool's mounts are held only by its file
// descriptors, so when the agent exits (or Close runs) the kernel unmounts
// them and their loop devices clear themselves. Their image files are
// named <agent pid>-<n>.img; a runtime removes those of agents no longer
// running when it starts.

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const poolDir = "pool" // in <BaseDir>/.disk

// pooledImages numbers the pools' images (blank homes, system layers):
// unique in this process, so that two runtimes on one BaseDir never pick
// the same name.
var pooledImages atomic.Uint64

// pooledImage is an ext4 image made ahead in a pool's directory, mounted:
// a blank home (this file) or a system layer (layerpool_linux.go).
type pooledImage struct {
	img   string
	mount *os.File // the detached mount; the loop device clears with it
}

func (h *pooledImage) discard() {
	h.mount.Close()
	_ = os.Remove(h.img)
}

// newPooledImage copies the template tpl to a new image in dir, named
// <agent pid>-<n>.img (removeLeftoverImages knows the name), and mounts it.
func newPooledImage(tpl, dir string) (*pooledImage, error) {
	img := filepath.Join(dir, strconv.Itoa(os.Getpid())+"-"+strconv.FormatUint(pooledImages.Add(1), 10)+".img")
	if err := copyImage(tpl, img); err != nil {
		os.Remove(img)
		return nil, err
	}
	m, err := mountExt4(img)
	if err != nil {
		os.Remove(img)
		return nil, err
	}
	return &pooledImage{img: img, mount: m}, nil
}

// homePool keeps up to size blank homes of one disk limit ready.
type homePool struct {
	limit diskLimit
	tpl   string // the template image of limit
	dir   string // <BaseDir>/.disk/pool
	log   *slog.Logger
	// ready holds size-1 homes; the filler, blocked on sending the next,
	// holds one more.
	ready chan *pooledImage
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	// retry is how long the filler waits after a failure.
	retry time.Duration
}

// startHomePool starts keeping size blank homes of the default disk limit
// (none without a disk limit, or with size < 1).
func (r *Runtime) startHomePool(size int) error {
	if r.images == nil || size < 1 {
		return nil
	}
	d := *r.diskFor(0, 0)
	tpl, err := r.images.template(d)
	if err != nil {
		return err
	}
	p := &homePool{
		limit: d, tpl: tpl, dir: filepath.Join(r.images.dir, poolDir), log: r.log,
		ready: make(chan *pooledImage, size-1),
		stop:  make(chan struct{}), done: make(chan struct{}),
		retry: 5 * time.Second,
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	removeLeftoverImages(p.dir)
	r.homes = p
	go p.fill()
	return nil
}

// removeLeftoverImages deletes the images in a pool's directory (blank
// homes, system layers) of agents that no longer run (their mounts went
// with them).
func removeLeftoverImages(dir string) {
	names, _ := filepath.Glob(filepath.Join(dir, "*.img"))
	for _, name := range names {
		pid, _, _ := strings.Cut(filepath.Base(name), "-")
		n, err := strconv.Atoi(pid)
		if err != nil || n <= 0 || syscall.Kill(n, 0) == syscall.ESRCH {
			_ = os.Remove(name)
		}
	}
}

// fill makes blank homes, one at a time, for as long as the pool runs.
func (p *homePool) fill() {
	defer close(p.done)
	for {
		h, err := p.make()
		if err != nil {
			p.log.Warn("could not make a blank seat home ahead of time; seats make their own", "err", err)
			select {
			case <-p.stop:
				return
			case <-time.After(p.retry):
				continue
			}
		}
		select {
		case p.ready <- h:
		case <-p.stop:
			h.discard()
			return
		}
	}
}

// make copies the template to a new image in the pool and mounts it.
func (p *homePool) make() (*pooledImage, error) {
	h, err := newPooledImage(p.tpl, p.dir)
	if err != nil {
		return nil, err
	}
	// Look a name up in the root now: that reads its directory block
	// through the loop device (a round trip through the loop's kernel
	// worker), which the learner's first shell, looking for its dot files,
	// would otherwise wait for while the seat starts.
	var st unix.Stat_t
	_ = unix.Fstatat(int(h.mount.Fd()), ".profile", &st, unix.AT_SYMLINK_NOFOLLOW)
	return h, nil
}

// take returns a ready home of limit d, or nil: none is ready, or the pool
// keeps another size. It never waits.
func (p *homePool) take(d diskLimit) *pooledImage {
	if p == nil || d != p.limit {
		return nil
	}
	select {
	case h := <-p.ready:
		return h
	default:
		return nil
	}
}

// close stops the filler and unmounts and removes the ready homes.
func (p *homePool) close() {
	if p == nil {
		return
	}
	p.once.Do(func() { close(p.stop) })
	<-p.done
	for {
		select {
		case h := <-p.ready:
			h.discard()
		default:
			return
		}
	}
}

// pooledHome gives the seat in dir a blank home from the pool, owned by
// uid:gid, as <dir>/home.img; nil when the pool has none for d (the
// caller makes one, also when the pooled image cannot be moved into dir).
// A home that fails here is discarded.
func (r *Runtime) pooledHome(dir string, d diskLimit, uid, gid int) (*os.File, error) {
	h := r.homes.take(d)
	if h == nil {
		return nil, nil
	}
	img := filepath.Join(dir, homeImage)
	if err := os.Rename(h.img, img); err != nil {
		// The seat's directory is not where the pool is (another file
		// system): the seat makes its own home, as without a pool.
		r.log.Warn("a blank home made ahead could not be moved to the seat; it makes its own", "seat_dir", dir, "err", err)
		h.discard()
		return nil, nil
	}
	if err := ownHome(int(h.mount.Fd()), uid, gid); err != nil {
		h.mount.Close()
		return nil, fmt.Errorf("sandbox: chown home: %w", err)
	}
	return h.mount, nil
}
