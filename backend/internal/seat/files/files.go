// Package files is the workspace daemon's file API, confined to the
// learner's workspace directory.
//
// Every access goes through a confine.Root (package confine: an os.Root,
// so the kernel resolves each path inside the workspace, symlinks
// included) after confine.Clean's lexical checks (no "..", no absolute
// paths). Only regular files, directories and (as entries) symlinks are
// served: devices, FIFOs and sockets are refused with 403 before they are
// opened, and again after opening (fstat), so a swap between the two
// checks is caught.
package files

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"syscall"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/seat/files/confine"
)

// DefaultMaxFileSize bounds uploads unless configured otherwise.
const DefaultMaxFileSize = 64 << 20

// MaxListEntries bounds one directory listing.
const MaxListEntries = 10000

// FS is a workspace directory served over HTTP.
type FS struct {
	root    *confine.Root
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
	r, err := confine.Open(dir)
	if err != nil {
		return nil, err
	}
	return &FS{root: r, maxFile: maxFile, log: log}, nil
}

// Close releases the root.
func (f *FS) Close() error { return f.root.Close() }

// Dir is the workspace directory (absolute, symlinks resolved).
func (f *FS) Dir() string { return f.root.Dir() }

// httpError maps a file-system error to an API error.
func httpError(err error, name string) error {
	var ae *apierror.Error
	var errno syscall.Errno
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, confine.ErrEscape):
		return apierror.Forbidden("path %q is outside the workspace", name)
	case errors.Is(err, confine.ErrSpecial):
		return apierror.Forbidden("%q is not a regular file or directory", name)
	case errors.Is(err, confine.ErrInvalid):
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
