//go:build linux

package imagecache

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Layer tar conventions (OCI image spec, "Representing Changes"): a file
// .wh.<name> deletes <name> of the layers below; a file .wh..wh..opq makes
// its directory opaque: nothing below it from lower layers remains.
const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// nobodyID is the owner given to files whose uid or gid does not fit the
// seat's user namespace (0..65535).
const nobodyID = 65534

// freeCheckEvery is how many bytes are unpacked between two looks at the
// disk's free space.
const freeCheckEvery = 64 << 20

// unpacker applies layers, in order, to one root directory. Every path
// is resolved inside the root (openat2 RESOLVE_IN_ROOT), so a layer's
// symlink can never lead a later entry out of it.
type unpacker struct {
	rootfd    int
	max       int64
	written   int64
	sinceFree int64
	checkFree func() error
}

func newUnpacker(root string, max int64, checkFree func() error) (*unpacker, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("imagecache: %w", err)
	}
	return &unpacker{rootfd: fd, max: max, checkFree: checkFree}, nil
}

func (u *unpacker) close() { unix.Close(u.rootfd) }

// cleanName is an entry's path relative to the root ("" for the root
// itself), or an error for one that climbs out of it.
func cleanName(n string) (string, error) {
	c := path.Clean("/" + n)
	if strings.Contains(n, "\x00") {
		return "", fmt.Errorf("%w: entry name %q", ErrBadImage, n)
	}
	return strings.TrimPrefix(c, "/"), nil
}

// layer applies one uncompressed layer tar.
func (u *unpacker) layer(r io.Reader) error {
	tr := tar.NewReader(r)
	written := map[string]bool{}
	var opaque []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadImage, err)
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			return err
		}
		if name == "" {
			continue
		}
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case base == opaqueMarker:
			opaque = append(opaque, dir)
			continue
		case strings.HasPrefix(base, whiteoutPrefix):
			if err := u.remove(dir, strings.TrimPrefix(base, whiteoutPrefix)); err != nil {
				return err
			}
			continue
		}
		for p := name; p != "" && !written[p]; p = parentOf(p) {
			written[p] = true
		}
		if err := u.entry(tr, hdr, dir, base); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	for _, d := range opaque {
		if err := u.clearOpaque(d, written); err != nil {
			return err
		}
	}
	return nil
}

func parentOf(p string) string {
	d, _ := path.Split(p)
	return strings.TrimSuffix(d, "/")
}

// resolve opens dir (relative to the root, resolved inside it) as an
// O_PATH descriptor; with create, missing directories are made.
func (u *unpacker) resolve(dir string, create bool) (int, error) {
	if dir == "" {
		dir = "."
	}
	fd, err := u.openDir(dir)
	if err == nil || !create || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	parent := u.rootfd
	var prefix string
	for _, comp := range strings.Split(dir, "/") {
		prefix = path.Join(prefix, comp)
		fd, err := u.openDir(prefix)
		if errors.Is(err, unix.ENOENT) {
			if err := unix.Mkdirat(parent, comp, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				return -1, fmt.Errorf("mkdir %s: %w", prefix, err)
			}
			fd, err = u.openDir(prefix)
		}
		if parent != u.rootfd {
			unix.Close(parent)
		}
		if err != nil {
			return -1, err
		}
		parent = fd
	}
	return parent, nil
}

func (u *unpacker) openDir(p string) (int, error) {
	fd, err := unix.Openat2(u.rootfd, p, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) {
			return -1, fmt.Errorf("%w: %s is not a directory", ErrBadImage, p)
		}
		return -1, fmt.Errorf("open %s: %w", p, err)
	}
	return fd, nil
}

// remove deletes dir/name and everything below it, if it is there.
func (u *unpacker) remove(dir, name string) error {
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return fmt.Errorf("%w: whiteout of %q", ErrBadImage, name)
	}
	fd, err := u.resolve(dir, false)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return removeAt(fd, name)
}

// removeAt removes name in the directory fd, recursively.
func removeAt(fd int, name string) error {
	if err := unix.Unlinkat(fd, name, 0); err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return os.RemoveAll("/proc/self/fd/" + strconv.Itoa(fd) + "/" + name)
}

// clearOpaque removes everything below dir that this layer did not write.
func (u *unpacker) clearOpaque(dir string, written map[string]bool) error {
	fd, err := u.resolve(dir, true)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	f, err := os.Open("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return err
	}
	for _, n := range names {
		p := path.Join(dir, n)
		if !written[p] {
			if err := removeAt(fd, n); err != nil {
				return err
			}
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if err := u.clearOpaque(p, written); err != nil {
				return err
			}
		}
	}
	return nil
}

// entry creates one file, directory, link or fifo.
func (u *unpacker) entry(tr *tar.Reader, hdr *tar.Header, dir, base string) error {
	switch hdr.Typeflag {
	case tar.TypeChar, tar.TypeBlock, tar.TypeXGlobalHeader:
		return nil // seats mount their own /dev; nothing else is a device
	}
	pfd, err := u.resolve(dir, true)
	if err != nil {
		if errors.Is(err, ErrBadImage) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrBadImage, err)
	}
	defer unix.Close(pfd)
	if err := u.count(hdr); err != nil {
		return err
	}
	var st unix.Stat_t
	exists := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
	if exists && !(hdr.Typeflag == tar.TypeDir && st.Mode&unix.S_IFMT == unix.S_IFDIR) {
		if err := removeAt(pfd, base); err != nil {
			return err
		}
	}
	mode := uint32(hdr.Mode) & 0o1777 // no setuid or setgid bits on the host's disk
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
	case tar.TypeReg, typeRegOld:
		if err := writeFile(pfd, base, tr); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return err
		}
	case tar.TypeLink:
		return u.hardlink(pfd, base, hdr.Linkname)
	case tar.TypeFifo:
		if err := unix.Mknodat(pfd, base, unix.S_IFIFO|mode, 0); err != nil {
			return err
		}
	default:
		return nil
	}
	return setMeta(pfd, base, hdr, mode)
}

// typeRegOld is the pre-POSIX regular-file type flag ('\x00'; the
// deprecated tar.TypeRegA), still met in old image layers.
const typeRegOld = '\x00'

func (u *unpacker) count(hdr *tar.Header) error {
	n := int64(512)
	if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == typeRegOld {
		n += hdr.Size
	}
	u.written += n
	u.sinceFree += n
	if u.written > u.max {
		return fmt.Errorf("%w: it unpacks to more than the limit of %d MiB", ErrTooBig, u.max>>20)
	}
	if u.sinceFree >= freeCheckEvery {
		u.sinceFree = 0
		return u.checkFree()
	}
	return nil
}

func writeFile(pfd int, base string, r io.Reader) error {
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), base)
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (u *unpacker) hardlink(pfd int, base, target string) error {
	t, err := cleanName(target)
	if err != nil || t == "" {
		return fmt.Errorf("%w: hard link to %q", ErrBadImage, target)
	}
	tdir, tbase := path.Split(t)
	tfd, err := u.resolve(strings.TrimSuffix(tdir, "/"), false)
	if err != nil {
		return fmt.Errorf("%w: hard link to %q: %v", ErrBadImage, target, err)
	}
	defer unix.Close(tfd)
	if err := unix.Linkat(tfd, tbase, pfd, base, 0); err != nil {
		return fmt.Errorf("%w: hard link to %q: %v", ErrBadImage, target, err)
	}
	return nil
}

// setMeta gives an entry its owner (clamped into the seat's user
// namespace), mode and modification time.
func setMeta(pfd int, base string, hdr *tar.Header, mode uint32) error {
	uid, gid := hdr.Uid, hdr.Gid
	if uid < 0 || uid > 65535 {
		uid = nobodyID
	}
	if gid < 0 || gid > 65535 {
		gid = nobodyID
	}
	if err := unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if hdr.Typeflag != tar.TypeSymlink {
		if err := unix.Fchmodat(pfd, base, mode, 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	_ = unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
	return nil
}

// hasShell checks that /bin/sh (followed inside the root) is an
// executable file: the seat's daemon needs a shell.
func (u *unpacker) hasShell() error {
	fd, err := unix.Openat2(u.rootfd, "bin/sh", &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return ErrNoShell
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&0o111 == 0 {
		return ErrNoShell
	}
	return nil
}
