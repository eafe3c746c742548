// Package files is the workspace daemon's file API, confined to the
// learner's workspace directory.
//
// Confinement is enforced by the kernel, not by string checks alone: every
// access goes through an os.Root (openat-based resolution, Go 1.24+), which
// follows symlinks only while they stay inside the root — including symlinks
// in intermediate directories and ones swapped in concurrently. On top of
// that, names are checked lexically (no "..", no absolute paths), and only
// regular files, directories and (as entries) symlinks are served: devices,
// FIFOs and sockets are refused with 403 before they are opened, and again
// after opening (fstat), so a swap between the two checks is caught.
package files

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/clarateach/backend/internal/apierror"
)

// DefaultMaxFileSize bounds uploads unless configured otherwise.
const DefaultMaxFileSize = 64 << 20

// MaxListEntries bounds one directory listing.
const MaxListEntries = 10000

// MaxPathLen bounds a path parameter.
const MaxPathLen = 4096

// FS is a workspace directory served over HTTP.
type FS struct {
	root    *os.Root
	dir     string // the root's absolute, symlink-free path
	maxFile int64
	log     *slog.Logger
}

// Open opens dir as a workspace. maxFile <= 0 means DefaultMaxFileSize.
func Open(dir string, maxFile int64, log *slog.Logger) (*FS, error) {
	if maxFile <= 0 {
		maxFile = DefaultMaxFileSize
	}
	if log == nil {
		log = slog.Default()
	}
	real, err := realPath(dir)
	if err != nil {
		return nil, fmt.Errorf("workspace root: %w", err)
	}
	r, err := os.OpenRoot(real)
	if err != nil {
		return nil, fmt.Errorf("workspace root: %w", err)
	}
	return &FS{root: r, dir: real, maxFile: maxFile, log: log}, nil
}

func realPath(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// Close releases the root.
func (f *FS) Close() error { return f.root.Close() }

// Dir is the workspace directory.
func (f *FS) Dir() string { return f.dir }

// Errors of path handling; mapped to HTTP by httpError.
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

func regularOrDir(m fs.FileMode) bool { return m.IsRegular() || m.IsDir() }

// openChecked opens a cleaned name through the root and refuses anything
// that is not a regular file or a directory, before and after opening.
func (f *FS) openChecked(name string, flag int, perm fs.FileMode) (*os.File, fs.FileInfo, error) {
	if st, err := f.root.Stat(name); err == nil && !regularOrDir(st.Mode()) {
		return nil, nil, ErrSpecial
	}
	fh, err := f.root.OpenFile(name, flag|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_CLOEXEC, perm)
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
// needs the path; Resolve exists for the fuzz test and for diagnostics.)
func (f *FS) Resolve(name string) (string, error) {
	c, err := Clean(name)
	if err != nil {
		return "", err
	}
	fh, _, err := f.openChecked(c, os.O_RDONLY, 0)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	return os.Readlink("/proc/self/fd/" + strconv.Itoa(int(fh.Fd())))
}

// httpError maps a file-system error to an API error.
func httpError(err error, name string) error {
	var ae *apierror.Error
	var errno syscall.Errno
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, ErrEscape):
		return apierror.Forbidden("path %q is outside the workspace", name)
	case errors.Is(err, ErrSpecial):
		return apierror.Forbidden("%q is not a regular file or directory", name)
	case errors.Is(err, ErrInvalid):
		return apierror.Invalid("path %q is not valid", trunc(name))
	case strings.Contains(err.Error(), "path escapes from parent"), errors.Is(err, syscall.ELOOP):
		// os.Root refused to follow a symlink out of the workspace
		// (or an absolute or looping one).
		return apierror.Forbidden("path %q leaves the workspace through a symlink", name)
	case errors.Is(err, syscall.ENXIO):
		return apierror.Forbidden("%q is not a regular file or directory", name)
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return apierror.NotFound("%q does not exist", name)
	case errors.Is(err, fs.ErrExist), errors.Is(err, syscall.ENOTEMPTY):
		return apierror.Conflict("exists", "%q already exists", name)
	case errors.Is(err, fs.ErrPermission):
		return apierror.Forbidden("permission denied for %q", name)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return apierror.New(http.StatusInsufficientStorage, "no_space", "the workspace is full")
	case errors.Is(err, syscall.ENAMETOOLONG):
		return apierror.Invalid("path %q is too long", trunc(name))
	case errors.Is(err, syscall.EISDIR):
		return apierror.Conflict("is_directory", "%q is a directory", name)
	case errors.Is(err, syscall.EINVAL):
		return apierror.Invalid("invalid operation on %q", name)
	case errors.As(err, &errno) && errno == syscall.EXDEV:
		return apierror.Invalid("cannot move %q across file systems", name)
	}
	return err
}

func trunc(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

func tempName(dir string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return path.Join(dir, ".ct-upload-"+hex.EncodeToString(b[:]))
}
