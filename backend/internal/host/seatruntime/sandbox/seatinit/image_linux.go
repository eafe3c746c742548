//go:build linux

package seatinit

// The init's part of a seat on an image (image_linux.go).

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// moveRoot moves the seat's root (the overlay the agent mounted) onto
// root, in the seat's own mount namespace.
func moveRoot(fd int, root string) error {
	defer unix.Close(fd)
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, root, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move image root to %s: %w", root, err)
	}
	return nil
}

// imageMountPoints are the directories the seat mounts on; an image may
// lack them (or have something else there).
var imageMountPoints = []string{"/proc", "/sys", "/dev", "/tmp", "/run", "/home", "/etc"}

// prepareImageRoot makes the mount points in the seat's root (in its own
// upper layer): whatever is there and is not a directory goes.
func prepareImageRoot(at func(string) string) error {
	for _, p := range imageMountPoints {
		fi, err := os.Lstat(at(p))
		if err == nil && fi.IsDir() {
			continue
		}
		if err == nil {
			if err := os.Remove(at(p)); err != nil {
				return err
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := os.Mkdir(at(p), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// writeImageEtc writes the seat's generated /etc files into the image's
// /etc, inside the seat (after pivot_root: a symlink in the image
// resolves inside the seat). passwd and group keep the image's accounts
// and gain the seat's (learner, clarateach), which replace any of the
// same name or id.
func writeImageEtc(gen map[string]string) error {
	for target, content := range gen {
		switch filepath.Base(target) {
		case "passwd", "group":
			old, _ := os.ReadFile(target)
			content = mergeAccounts(string(old), content)
		}
		if err := replaceFile(target, content); err != nil {
			return err
		}
	}
	return nil
}

// replaceFile puts a new file at p (never writing through a symlink).
func replaceFile(p, content string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// mergeAccounts merges passwd (or group) lines: the image's, less those
// whose name or id one of ours takes, then ours. The image's root stays
// (its shell is one the image has).
func mergeAccounts(image, ours string) string {
	names, ids := map[string]bool{}, map[string]bool{}
	var add []string
	imageHasRoot := strings.HasPrefix(image, "root:") || strings.Contains(image, "\nroot:")
	for _, l := range strings.Split(strings.TrimSpace(ours), "\n") {
		f := strings.Split(l, ":")
		if len(f) < 3 || (f[0] == "root" && imageHasRoot) {
			continue
		}
		names[f[0]], ids[f[2]] = true, true
		add = append(add, l)
	}
	var keep []string
	for _, l := range strings.Split(image, "\n") {
		f := strings.Split(l, ":")
		if len(f) < 3 || names[f[0]] || ids[f[2]] {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(append(keep, add...), "\n") + "\n"
}
