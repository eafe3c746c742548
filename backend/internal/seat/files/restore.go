package files

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/seat/files/confine"
)

// DefaultMaxRestore bounds what one restore unpacks when the request names
// no max_bytes.
const DefaultMaxRestore = 2 << 30

// Fingerprint is a cheap summary of the whole workspace: the number of
// entries, their total size and the newest modification time (of files and
// directories, so a deletion or rename, which touch the directory, changes
// it too). Equal fingerprints mean "nothing worth archiving again changed".
func (f *FS) Fingerprint() (string, error) {
	var n, size int64
	var newest int64
	err := fs.WalkDir(f.root.FS(), ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
				return nil
			}
			return err
		}
		fi, err := de.Info()
		if err != nil {
			return nil
		}
		n++
		if fi.Mode().IsRegular() {
			size += fi.Size()
		}
		newest = max(newest, fi.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d-%d-%d", n, size, newest), nil
}

// restore unpacks a .tar.gz (as GET /files/archive writes it: every entry
// under one top directory, which is dropped) into the workspace root. Files
// in the archive replace those in the workspace; others are kept. Entries
// that would leave the root, hard links and special files are skipped;
// symlinks are recreated as they were. At most max_bytes (query, default
// DefaultMaxRestore) of file content is written: beyond it the restore
// stops with 413 and what was written stays. With if_empty=1, a workspace
// that has any entry is left alone (409 not_empty).
func (f *FS) restore(w http.ResponseWriter, r *http.Request) error {
	limit := int64(DefaultMaxRestore)
	if v := r.URL.Query().Get("max_bytes"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return apierror.Invalid("max_bytes must be a positive number")
		}
		limit = n
	}
	if r.URL.Query().Get("if_empty") == "1" {
		d, err := f.root.Open(".")
		if err != nil {
			return httpError(err, ".")
		}
		names, _ := d.Readdirnames(1)
		d.Close()
		if len(names) > 0 {
			return apierror.Conflict("not_empty", "the workspace is not empty; nothing was restored")
		}
	}
	gz, err := gzip.NewReader(r.Body)
	if err != nil {
		return apierror.Invalid("the body is not a gzip stream: %v", err)
	}
	st := restoreStats{limit: limit}
	if err := f.unpack(tar.NewReader(gz), &st); err != nil {
		return err
	}
	apierror.JSON(w, http.StatusOK, map[string]int64{"files": st.files, "bytes": st.bytes, "skipped": st.skipped})
	return nil
}

type restoreStats struct {
	limit, bytes, files, skipped int64
}

type dirTime struct {
	name string
	at   time.Time
}

func (f *FS) unpack(tr *tar.Reader, st *restoreStats) error {
	var dirs []dirTime // directory times are set last (writing inside changes them)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return apierror.Invalid("the archive is damaged: %v", err)
		}
		name, ok := stripTop(h.Name)
		if !ok {
			st.skipped++
			continue
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if name != "." {
				if err := f.root.MkdirAll(name, 0o755); err != nil {
					st.skipped++
					continue
				}
				_ = f.root.Chmod(name, fs.FileMode(h.Mode).Perm()|0o700)
			}
			dirs = append(dirs, dirTime{name, h.ModTime})
		case tar.TypeReg:
			if err := f.restoreFile(tr, h, name, st); err != nil {
				return err
			}
		case tar.TypeSymlink:
			f.restoreSymlink(h, name, st)
		default:
			st.skipped++
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = f.root.Chtimes(dirs[i].name, dirs[i].at, dirs[i].at)
	}
	return nil
}

// stripTop drops the archive's top directory and checks the rest.
func stripTop(name string) (string, bool) {
	name = strings.TrimSuffix(name, "/")
	_, rest, found := strings.Cut(name, "/")
	if !found {
		return ".", true // the top directory itself
	}
	c, err := confine.Clean(rest)
	if err != nil || c == "." {
		return "", false
	}
	return c, true
}

func (f *FS) restoreFile(tr *tar.Reader, h *tar.Header, name string, st *restoreStats) error {
	if st.bytes+h.Size > st.limit {
		return apierror.New(http.StatusRequestEntityTooLarge, "too_large",
			"the archive holds more than the limit of %d bytes; restored %d files (%d bytes) before it", st.limit, st.files, st.bytes)
	}
	if dir := path.Dir(name); dir != "." {
		_ = f.root.MkdirAll(dir, 0o755)
	}
	// A symlink or directory in the way is replaced; a symlink is never
	// followed (Remove works on the link itself).
	if fi, err := f.root.Lstat(name); err == nil && !fi.Mode().IsRegular() {
		_ = f.root.RemoveAll(name)
	}
	out, err := f.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, fs.FileMode(h.Mode).Perm()|0o600)
	if err != nil {
		st.skipped++
		return nil
	}
	n, err := io.Copy(out, tr)
	cerr := out.Close()
	st.bytes += n
	if err != nil {
		return apierror.Invalid("the archive is damaged: %v", err)
	}
	if cerr != nil {
		return fmt.Errorf("restore %s: %w", name, cerr)
	}
	_ = f.root.Chmod(name, fs.FileMode(h.Mode).Perm())
	_ = f.root.Chtimes(name, h.ModTime, h.ModTime)
	st.files++
	return nil
}

func (f *FS) restoreSymlink(h *tar.Header, name string, st *restoreStats) {
	if dir := path.Dir(name); dir != "." {
		_ = f.root.MkdirAll(dir, 0o755)
	}
	if _, err := f.root.Lstat(name); err == nil {
		_ = f.root.RemoveAll(name)
	}
	// The target is stored as text; whatever it names, the file API and
	// the next archive never follow it out of the root.
	if err := f.root.Symlink(h.Linkname, name); err != nil {
		st.skipped++
		return
	}
	st.files++
}
