// Package confine keeps a client's path inside a workspace directory: the
// lexical checks (Clean) and the kernel-resolved opens (Root) the seat's
// file API serves through.
//
// Confinement is enforced by the kernel, not by string checks alone: every
// access goes through an os.Root (openat-based resolution, Go 1.24+), which
// follows symlinks only while they stay inside the root — including symlinks
// in intermediate directories and ones swapped in concurrently. On top of
// that, names are checked lexically (no "..", no absolute paths), and
// OpenChecked opens only regular files and directories: devices, FIFOs and
// sockets are refused before they are opened and again after opening
// (fstat), so a swap between the two checks is caught.
//
// The package imports no networking, so its fuzz test (FuzzResolve) builds
// only a few dozen packages with fuzzing instrumentation.
package confine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// MaxPathLen bounds a client path.
const MaxPathLen = 4096

// Errors of path handling; the file API maps them to HTTP statuses.
var (
	ErrEscape  = errors.New("path escapes the workspace")
	ErrSpecial = errors.New("not a regular file or directory")
	ErrInvalid = errors.New("invalid path")
)

// Clean checks a client path lexically and returns it in canonical form
// ("." for the root). Absolute paths and any ".." component are ErrEscape;
// NUL bytes and overlong paths are ErrInvalid. Backslashes are ordinary
// characters (this is Linux).
func Clean(name string) (string, error) {
	if len(name) > MaxPathLen || strings.IndexByte(name, 0) >= 0 {
		return "", ErrInvalid
	}
	if strings.HasPrefix(name, "/") {
		return "", ErrEscape
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", ErrEscape
		}
	}
	c := path.Clean(name)
	if c == "" {
		c = "."
	}
	if strings.HasPrefix(c, "/") || c == ".." || strings.HasPrefix(c, "../") {
		return "", ErrEscape // unreachable after the checks above; kept as a guard
	}
	return c, nil
}

// Root is an os.Root opened on a workspace directory's real path. Its
// os.Root methods take cleaned names (Clean); OpenChecked and Resolve add
// the refusal of special files.
type Root struct {
	*os.Root
	dir string // the root's absolute, symlink-free path
}

// Open opens dir, resolved to its absolute, symlink-free path, as a root.
func Open(dir string) (*Root, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("workspace root: %w", err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("workspace root: %w", err)
	}
	r, err := os.OpenRoot(real)
	if err != nil {
		return nil, fmt.Errorf("workspace root: %w", err)
	}
	return &Root{Root: r, dir: real}, nil
}

// Dir is the root's absolute, symlink-free path.
func (r *Root) Dir() string { return r.dir }

func regularOrDir(m fs.FileMode) bool { return m.IsRegular() || m.IsDir() }

// OpenChecked opens a cleaned name through the root and refuses anything
// that is not a regular file or a directory (ErrSpecial), before and after
// opening.
func (r *Root) OpenChecked(name string, flag int, perm fs.FileMode) (*os.File, fs.FileInfo, error) {
	if st, err := r.Stat(name); err == nil && !regularOrDir(st.Mode()) {
		return nil, nil, ErrSpecial
	}
	fh, err := r.OpenFile(name, flag|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_CLOEXEC, perm)
	if err != nil {
		return nil, nil, err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, nil, err
	}
	if !regularOrDir(st.Mode()) {
		fh.Close()
		return nil, nil, ErrSpecial
	}
	return fh, st, nil
}

// Resolve returns the real absolute path of the file or directory a client
// path names, as the kernel resolved it inside the root. It fails for
// anything outside the root and for special files. (The file API never
// needs the path; Resolve exists for the tests and for diagnostics.)
func (r *Root) Resolve(name string) (string, error) {
	c, err := Clean(name)
	if err != nil {
		return "", err
	}
	fh, _, err := r.OpenChecked(c, os.O_RDONLY, 0)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	return os.Readlink("/proc/self/fd/" + strconv.Itoa(int(fh.Fd())))
}
