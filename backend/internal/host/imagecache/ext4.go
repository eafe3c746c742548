package imagecache

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Ext4Name is the image's tree as an ext4 disk, in its cache directory.
const Ext4Name = "rootfs.ext4"

// ext4Slack is the free room (and inodes) the disk gets over the tree:
// ext4's own metadata. Seats never write it (firecracker attaches it
// read-only, under each seat's own system disk).
const (
	ext4SlackBytes = 64 << 20
	ext4MinBytes   = 128 << 20
)

// Ext4 builds (once per digest) the image's tree as an ext4 file system
// image, for runtimes whose seats boot a disk (firecracker): mkfs.ext4 -d
// copies the unpacked tree with its owners, modes and links, into a file
// sized to the tree plus slack. Seats use it read-only, the lower layer
// under a per-seat copy-on-write layer. It returns the disk's path.
func (c *Cache) Ext4(digest string) (string, error) {
	im, err := c.Get(digest)
	if err != nil {
		return "", err
	}
	unlock := c.lockDigest(im.Digest)
	defer unlock()
	disk := filepath.Join(im.Dir, Ext4Name)
	if _, err := os.Stat(disk); err == nil {
		return disk, nil
	}
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		return "", fmt.Errorf("imagecache: ext4 disk needs mkfs.ext4 (e2fsprogs): %w", err)
	}
	size := max(im.Bytes+im.Bytes/10+ext4SlackBytes, ext4MinBytes)
	tmp := disk + ".tmp"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("imagecache: %w", err)
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// -d: the tree; -E root_owner: / as the image has it; no journal
		// for a disk that is only read; -m 0: no blocks kept for root.
		cmd := exec.Command(mkfs, "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-m", "0",
			"-L", "clarateach-img", "-E", "root_owner=0:0", "-d", im.RootFS, tmp)
		if out, rerr := cmd.CombinedOutput(); rerr != nil {
			err = fmt.Errorf("mkfs.ext4 -d: %v: %s", rerr, strings.TrimSpace(string(out)))
		}
	}
	if err == nil {
		err = os.Rename(tmp, disk)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("imagecache: ext4 disk of %s (%s bytes): %w", im.Digest, strconv.FormatInt(size, 10), err)
	}
	return disk, nil
}
