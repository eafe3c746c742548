package firecracker

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// seatDisk is the size of a seat's writable disk and, when not 0, its
// number of inodes (else mkfs.ext4's default, one per 16 KiB).
type seatDisk struct{ mb, inodes int }

// makeSeatDisk creates the seat's writable disk: a sparse file of d.mb MiB
// formatted as ext4 by mkfs.ext4 (e2fsprogs). Only the filesystem metadata is
// written, so it starts at a few MiB on the host whatever its size.
func makeSeatDisk(ctx context.Context, path string, d seatDisk) error {
	return mkfsSparse(ctx, path, d, "clarateach-home", "")
}

// mkfsSparse makes a sparse ext4 file of d.mb MiB labelled label, with the
// files of the directory tree in it when tree is not "" (mkfs.ext4 -d).
func mkfsSparse(ctx context.Context, path string, d seatDisk, label, tree string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("firecracker: seat disk: %w", err)
	}
	if err := f.Truncate(int64(d.mb) << 20); err != nil {
		f.Close()
		return fmt.Errorf("firecracker: seat disk: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("firecracker: seat disk: %w", err)
	}
	// -m 0: no blocks reserved for root; lazy init keeps the file sparse;
	// nodiscard: nothing to discard in a fresh sparse file.
	args := []string{"-q", "-F", "-m", "0", "-L", label, "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard"}
	if d.inodes > 0 {
		args = append(args, "-N", strconv.Itoa(d.inodes))
	}
	if tree != "" {
		args = append(args, "-d", tree)
	}
	cmd := exec.CommandContext(ctx, "mkfs.ext4", append(args, path)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("firecracker: mkfs.ext4 %s: %w: %s", path, err, strings.TrimSpace(string(out)))
	}
	return nil
}
