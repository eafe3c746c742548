//go:build linux

package sandbox

// Seat disk limits. A seat's home is an ext4 file system in a sparse image
// file, <seat dir>/home.img, on a loop device. The agent mounts it as a
// detached mount (fsopen/fsmount): it is never attached anywhere in the
// host's mount namespace, so no other seat's namespace ever holds a copy.
// The mount's file descriptor goes to the seat's init, which moves it onto
// /home/learner in the seat's own mount namespace. The mount, and with it
// the loop device (set to clear itself), lives exactly as long as the
// seat: when the seat's last process dies the kernel unmounts it and
// detaches the loop device, and removing the seat's directory frees the
// image. The size and the inode count are the limit: writing past either
// fails inside the seat with ENOSPC ("No space left on device"), and the
// host's disk holds at most the image's size per seat.
//
// Images are copied from a template per size, made once with mkfs.ext4 in
// <BaseDir>/.disk/: a reflink where the host's file system has them (xfs,
// btrfs), else a sparse copy of the ~1 MiB of metadata a fresh image holds.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

const (
	homeImage = "home.img" // in the seat's directory
	diskDir   = ".disk"    // <BaseDir>/.disk: template images
	// bytesPerInode is the default inode density: ext4's own default.
	bytesPerInode = 16 << 10
	minDiskMB     = 16
)

// diskLimit is a seat home's size and inode count. Persisted in extra.
type diskLimit struct {
	MB     int `json:"mb"`
	Inodes int `json:"inodes"`
}

func (d *diskLimit) on() bool { return d != nil && d.MB > 0 }

// diskFor is the limit of a seat asked for with mb and inodes (0 = the
// runtime's defaults); nil when seats have no disk limit.
func (r *Runtime) diskFor(mb, inodes int) *diskLimit {
	if r.cfg.DiskMB < 0 || r.rootless {
		return nil
	}
	if mb <= 0 {
		mb = r.cfg.DiskMB
	}
	if inodes <= 0 {
		inodes = r.cfg.DiskInodes
	}
	if inodes <= 0 {
		inodes = int(int64(mb) << 20 / bytesPerInode)
	}
	return &diskLimit{MB: mb, Inodes: inodes}
}

// diskImages makes and caches the template images.
type diskImages struct {
	dir string
	mu  sync.Mutex
}

// checkDisk checks that this machine can give seats a disk limit and makes
// the default template, so that the first seat does not pay for mkfs.
func (r *Runtime) checkDisk() error {
	if r.cfg.DiskMB < 0 {
		r.log.Warn("seats have no disk limit (DiskMB < 0): a learner can fill the host's disk")
		return nil
	}
	if r.rootless {
		r.log.Warn("not root: seats have no disk limit")
		return nil
	}
	if r.cfg.DiskMB < minDiskMB {
		return fmt.Errorf("disk limit %d MiB is below the minimum of %d MiB", r.cfg.DiskMB, minDiskMB)
	}
	const hint = "install e2fsprogs and load the loop module, or set the disk limit to -1 (none)"
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		return fmt.Errorf("seat disk limits need mkfs.ext4 (%s): %w", hint, err)
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		return fmt.Errorf("seat disk limits need loop devices (%s): %w", hint, err)
	}
	r.images = &diskImages{dir: filepath.Join(r.cfg.BaseDir, diskDir)}
	if err := os.MkdirAll(r.images.dir, 0o700); err != nil {
		return err
	}
	_, err := r.images.template(*r.diskFor(0, 0))
	return err
}

// template returns the path of a fresh image of limit d, making it once.
func (im *diskImages) template(d diskLimit) (string, error) {
	p := filepath.Join(im.dir, fmt.Sprintf("ext4-%dm-%di.img", d.MB, d.Inodes))
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	tmp := p + ".tmp"
	_ = os.Remove(tmp)
	if err := os.WriteFile(tmp, nil, 0o600); err != nil {
		return "", err
	}
	if err := os.Truncate(tmp, int64(d.MB)<<20); err != nil {
		return "", err
	}
	// -b 4096 whatever the size (mke2fs picks 1 KiB blocks for small file
	// systems); -m 0: no blocks reserved for root (the learner gets all of it).
	// lazy_*_init with mke2fs' default discard (holes in a file): the
	// inode tables are marked zeroed and nothing writes them later.
	out, err := exec.Command("mkfs.ext4", "-q", "-F", "-b", "4096", "-m", "0", "-N", strconv.Itoa(d.Inodes),
		"-E", "lazy_itable_init=1,lazy_journal_init=1,root_owner=0:0", tmp).CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("mkfs.ext4: %w: %s", err, out)
	}
	// The learner's home starts empty; e2fsck makes lost+found again
	// if it ever needs one.
	if out, err := exec.Command("debugfs", "-w", "-R", "rmdir lost+found", tmp).CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("debugfs: %w: %s", err, out)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", err
	}
	return p, nil
}

// homeImagePath makes the seat's image in dir from the template of d,
// unless it has one (a kept home, KeepDirs), and returns its path.
func (r *Runtime) homeImagePath(dir string, d diskLimit) (string, error) {
	img := filepath.Join(dir, homeImage)
	if _, err := os.Stat(img); err == nil {
		return img, nil
	}
	tpl, err := r.images.template(d)
	if err != nil {
		return "", fmt.Errorf("sandbox: disk image: %w", err)
	}
	if err := copyImage(tpl, img+".tmp"); err != nil {
		os.Remove(img + ".tmp")
		return "", fmt.Errorf("sandbox: disk image: %w", err)
	}
	if err := os.Rename(img+".tmp", img); err != nil {
		return "", fmt.Errorf("sandbox: disk image: %w", err)
	}
	return img, nil
}

// copyImage copies a sparse file: a reflink where the file system can,
// else only its data extents (SEEK_DATA/SEEK_HOLE), in the kernel.
func copyImage(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	if unix.IoctlFileClone(int(out.Fd()), int(in.Fd())) == nil {
		return nil
	}
	st, err := in.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if err := out.Truncate(size); err != nil {
		return err
	}
	for off := int64(0); off < size; {
		data, err := unix.Seek(int(in.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, syscall.ENXIO) {
			break // only a hole is left
		}
		if err != nil {
			return fmt.Errorf("seek data: %w", err)
		}
		hole, err := unix.Seek(int(in.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			return fmt.Errorf("seek hole: %w", err)
		}
		if err := copyRange(in, out, data, hole-data); err != nil {
			return err
		}
		off = hole
	}
	return nil
}

func copyRange(in, out *os.File, off, n int64) error {
	roff, woff := off, off
	for n > 0 {
		c, err := unix.CopyFileRange(int(in.Fd()), &roff, int(out.Fd()), &woff, int(min(n, 1<<30)), 0)
		if err != nil {
			// Not across these file systems: copy through user space.
			_, err = io.Copy(io.NewOffsetWriter(out, woff), io.NewSectionReader(in, roff, n))
			return err
		}
		if c == 0 {
			return io.ErrUnexpectedEOF
		}
		n -= int64(c)
	}
	return nil
}

// mountHome attaches img to a free loop device and mounts it as a detached
// mount owned by uid:gid, nosuid and nodev. The caller passes the returned
// mount to the seat's init and closes it. Once every reference to the
// mount is gone the loop device clears itself.
func mountHome(img string, uid, gid int) (*os.File, error) {
	m, err := mountExt4(img)
	if err != nil {
		return nil, err
	}
	if err := ownHome(int(m.Fd()), uid, gid); err != nil {
		m.Close()
		return nil, fmt.Errorf("sandbox: chown home: %w", err)
	}
	return m, nil
}

// mountExt4 attaches img to a free loop device and mounts it detached,
// nosuid and nodev, with discard.
func mountExt4(img string) (*os.File, error) {
	loop, err := attachLoop(img)
	if err != nil {
		return nil, fmt.Errorf("sandbox: home image: %w", err)
	}
	defer loop.Close() // the mount holds the device from here on
	fsfd, err := unix.Fsopen("ext4", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("sandbox: fsopen ext4: %w", err)
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigSetString(fsfd, "source", loop.Name()); err != nil {
		return nil, fmt.Errorf("sandbox: mount home image: %w", err)
	}
	// discard: blocks the learner frees are discarded when the journal
	// commits, and the loop device turns that into a hole punched in the
	// image, so deleted files give their space back to the host's disk
	// while the seat runs. (Where the host's file system cannot punch
	// holes, ext4 turns discard off itself and says so in the kernel log.)
	if err := unix.FsconfigSetFlag(fsfd, "discard"); err != nil {
		return nil, fmt.Errorf("sandbox: mount home image: discard: %w", err)
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return nil, fmt.Errorf("sandbox: mount home image %s: %w", img, err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
	if err != nil {
		return nil, fmt.Errorf("sandbox: mount home image: %w", err)
	}
	return os.NewFile(uintptr(mfd), "home-mount"), nil
}

// ownHome gives the home's root to the learner's host uid; a kept home
// made for another slot's uids is chowned throughout.
func ownHome(mfd, uid, gid int) error {
	var st unix.Stat_t
	if err := unix.Fstatat(mfd, "", &st, unix.AT_EMPTY_PATH); err != nil {
		return err
	}
	if int(st.Uid) == uid && int(st.Gid) == gid {
		return nil
	}
	if st.Nlink > 2 || st.Size > 4096 { // not a fresh, empty root
		if err := chownTree("/proc/self/fd/"+strconv.Itoa(mfd)+"/.", uid, gid); err != nil {
			return err
		}
	}
	return unix.Fchownat(mfd, "", uid, gid, unix.AT_EMPTY_PATH)
}

// attachLoop binds img to a free loop device that clears itself when its
// last user (the mount) lets go.
func attachLoop(img string) (*os.File, error) {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer ctl.Close()
	back, err := os.OpenFile(img, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer back.Close() // the loop device keeps its own reference
	// Buffered, not LO_FLAGS_DIRECT_IO: a direct-I/O device reads the
	// fresh image's metadata from the disk at every mount, which made
	// seat start measurably slower.
	const flags = uint32(unix.LO_FLAGS_AUTOCLEAR)
	for range 64 {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("loop-control: %w", err)
		}
		dev, err := openLoop(n, filepath.Dir(filepath.Dir(img)))
		if err != nil {
			return nil, err
		}
		cfg := unix.LoopConfig{Fd: uint32(back.Fd()), Size: 4096, Info: unix.LoopInfo64{Flags: flags}}
		err = unix.IoctlLoopConfigure(int(dev.Fd()), &cfg)
		if err == nil {
			return dev, nil
		}
		dev.Close()
		if !errors.Is(err, syscall.EBUSY) { // EBUSY: another seat took it first
			return nil, fmt.Errorf("configure loop%d: %w", n, err)
		}
	}
	return nil, errors.New("no free loop device")
}

// openLoop opens loop device n. Where /dev is not devtmpfs (some
// containers) a new device has no node there: then it makes its own in
// <base>/.disk, from the device numbers sysfs gives.
func openLoop(n int, base string) (*os.File, error) {
	name := "loop" + strconv.Itoa(n)
	dev, err := os.OpenFile("/dev/"+name, os.O_RDWR|unix.O_CLOEXEC, 0)
	if !errors.Is(err, os.ErrNotExist) {
		return dev, err
	}
	b, serr := os.ReadFile("/sys/block/" + name + "/dev")
	var major, minor uint32
	if serr != nil {
		return nil, err
	}
	if _, serr := fmt.Sscanf(string(b), "%d:%d", &major, &minor); serr != nil {
		return nil, err
	}
	node := filepath.Join(base, diskDir, name)
	if err := unix.Mknod(node, unix.S_IFBLK|0o600, int(unix.Mkdev(major, minor))); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("make node for %s: %w", name, err)
	}
	return os.OpenFile(node, os.O_RDWR|unix.O_CLOEXEC, 0)
}

// mountHomeImage mounts the seat's home image in dir for the learner's
// host uid: a kept one, else a blank one from the pool (pooled), else one
// made now.
func (r *Runtime) mountHomeImage(dir string, d diskLimit, uid, gid int) (m *os.File, pooled bool, err error) {
	if _, err := os.Stat(filepath.Join(dir, homeImage)); errors.Is(err, os.ErrNotExist) {
		if m, err := r.pooledHome(dir, d, uid, gid); m != nil || err != nil {
			return m, m != nil, err
		}
	}
	img, err := r.homeImagePath(dir, d)
	if err != nil {
		return nil, false, err
	}
	m, err = mountHome(img, uid, gid)
	return m, false, err
}

// sameDisk reports whether a warm seat's home (have) serves a seat that
// asks for want.
func sameDisk(have, want *diskLimit) bool {
	if !have.on() || !want.on() {
		return have.on() == want.on()
	}
	return *have == *want
}
