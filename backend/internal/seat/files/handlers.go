package files

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/seat/files/confine"
)

// Register adds the file routes to mux:
//
//	GET    /files?path=DIR                  list a directory
//	GET    /files/content?path=F[&download=1] read a file (Range supported)
//	PUT    /files/content?path=F            write a file (body = bytes; parents created)
//	POST   /files/mkdir    {"path"}         mkdir -p
//	POST   /files/rename   {"from","to"}    rename / move
//	DELETE /files?path=P                    delete (recursive)
//	GET    /files/archive[?path=DIR]        the workspace (or DIR) as .tar.gz
//	                                        (whole workspace: ETag = Fingerprint; If-None-Match → 304)
//	PUT    /files/archive[?max_bytes=N]     unpack a .tar.gz into the workspace (restore)
func (f *FS) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /files", f.handle(f.list))
	mux.HandleFunc("GET /files/content", f.handle(f.read))
	mux.HandleFunc("PUT /files/content", f.handle(f.write))
	mux.HandleFunc("POST /files/mkdir", f.handle(f.mkdir))
	mux.HandleFunc("POST /files/rename", f.handle(f.rename))
	mux.HandleFunc("DELETE /files", f.handle(f.remove))
	mux.HandleFunc("GET /files/archive", f.handle(f.archive))
	mux.HandleFunc("PUT /files/archive", f.handle(f.restore))
}

func (f *FS) handle(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return apierror.HandlerFunc(h).ServeHTTP
}

// Entry describes one file (listing entries and write results).
type Entry struct {
	Name     string    `json:"name"`
	Path     string    `json:"path"` // relative to the workspace root, "/"-separated
	Type     string    `json:"type"` // file | dir | symlink | other
	Size     int64     `json:"size"`
	Mtime    time.Time `json:"mtime"`
	Mode     string    `json:"mode"`                // permission bits, octal, e.g. "0755"
	LinkType string    `json:"link_type,omitempty"` // symlinks: file | dir | broken | outside
}

// Listing is the answer of GET /files.
type Listing struct {
	Path      string  `json:"path"`
	Entries   []Entry `json:"entries"`
	Truncated bool    `json:"truncated,omitempty"`
}

func typeOf(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "file"
	case m.IsDir():
		return "dir"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	}
	return "other"
}

func (f *FS) entry(name string, fi fs.FileInfo) Entry {
	e := Entry{Name: path.Base(name), Path: name, Type: typeOf(fi.Mode()), Size: fi.Size(), Mtime: fi.ModTime().UTC(), Mode: "0" + strconvOct(uint32(fi.Mode().Perm()))}
	if name == "." {
		e.Name = ""
	}
	if e.Type == "symlink" {
		st, err := f.root.Stat(name)
		switch {
		case err == nil:
			e.LinkType = typeOf(st.Mode())
		case errors.Is(err, fs.ErrNotExist):
			e.LinkType = "broken"
		default:
			e.LinkType = "outside"
		}
	}
	return e
}

func strconvOct(v uint32) string {
	s := ""
	for i := 0; i < 3; i++ {
		s = string(rune('0'+v&7)) + s
		v >>= 3
	}
	return s
}

// param reads and cleans the path query parameter.
func param(r *http.Request, key string, required bool) (string, error) {
	raw, ok := r.URL.Query()[key]
	if !ok || len(raw) == 0 || raw[0] == "" {
		if required {
			return "", apierror.Invalid("query parameter %q is required", key)
		}
		return ".", nil
	}
	c, err := confine.Clean(raw[0])
	if err != nil {
		return "", httpError(err, raw[0])
	}
	return c, nil
}

func (f *FS) list(w http.ResponseWriter, r *http.Request) error {
	name, err := param(r, "path", false)
	if err != nil {
		return err
	}
	d, st, err := f.root.OpenChecked(name, os.O_RDONLY, 0)
	if err != nil {
		return httpError(err, name)
	}
	defer d.Close()
	if !st.IsDir() {
		return apierror.Conflict("not_directory", "%q is not a directory", name)
	}
	des, err := d.ReadDir(MaxListEntries + 1)
	if err != nil && !errors.Is(err, io.EOF) {
		return httpError(err, name)
	}
	out := Listing{Path: name, Entries: make([]Entry, 0, len(des))}
	if len(des) > MaxListEntries {
		des, out.Truncated = des[:MaxListEntries], true
	}
	for _, de := range des {
		fi, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out.Entries = append(out.Entries, f.entry(path.Join(name, de.Name()), fi))
	}
	sort.Slice(out.Entries, func(i, j int) bool { return out.Entries[i].Name < out.Entries[j].Name })
	apierror.JSON(w, http.StatusOK, out)
	return nil
}

// safeInline are content types served inline; everything else is served as
// application/octet-stream so learner files never run as pages on the
// platform's origin.
var safeInline = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true,
	"application/pdf": true,
}

func (f *FS) read(w http.ResponseWriter, r *http.Request) error {
	name, err := param(r, "path", true)
	if err != nil {
		return err
	}
	fh, st, err := f.root.OpenChecked(name, os.O_RDONLY, 0)
	if err != nil {
		return httpError(err, name)
	}
	defer fh.Close()
	if st.IsDir() {
		return apierror.Conflict("is_directory", "%q is a directory", name)
	}
	h := w.Header()
	ct := mime.TypeByExtension(path.Ext(name))
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if ct == "" {
		var head [512]byte
		n, _ := io.ReadFull(fh, head[:])
		ct, _, _ = strings.Cut(http.DetectContentType(head[:n]), ";")
		if _, err := fh.Seek(0, io.SeekStart); err != nil {
			return err
		}
	}
	switch {
	case safeInline[ct]:
	case strings.HasPrefix(ct, "text/") || ct == "application/json" || ct == "application/javascript":
		ct = "text/plain; charset=utf-8"
	default:
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Cache-Control", "no-store")
	if r.URL.Query().Get("download") == "1" {
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(name)}))
	}
	http.ServeContent(w, r, "", st.ModTime(), fh)
	return nil
}

func (f *FS) write(w http.ResponseWriter, r *http.Request) error {
	name, err := param(r, "path", true)
	if err != nil {
		return err
	}
	if name == "." {
		return apierror.Conflict("is_directory", "cannot write to the workspace root")
	}
	if r.ContentLength > f.maxFile {
		return apierror.TooLarge("file is %d bytes; the limit is %d bytes", r.ContentLength, f.maxFile)
	}
	dir := path.Dir(name)
	if err := f.mkdirParents(dir); err != nil {
		return err
	}
	perm := fs.FileMode(0o644)
	throughLink := false
	created := true
	if lst, err := f.root.Lstat(name); err == nil {
		created = false
		switch {
		case lst.IsDir():
			return apierror.Conflict("is_directory", "%q is a directory", name)
		case lst.Mode()&fs.ModeSymlink != 0:
			// Write through the link (confined by the root) like an editor.
			st, err := f.root.Stat(name)
			if err == nil && !st.Mode().IsRegular() {
				if st.IsDir() {
					return apierror.Conflict("is_directory", "%q is a directory", name)
				}
				return httpError(confine.ErrSpecial, name)
			}
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return httpError(err, name)
			}
			throughLink = true
		case !lst.Mode().IsRegular():
			return httpError(confine.ErrSpecial, name)
		default:
			perm = lst.Mode().Perm()
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return httpError(err, name)
	}

	// Stage the body next to the target so a failed or oversized upload
	// never leaves a half-written file, then rename it into place.
	tmp := tempName(dir)
	tf, err := f.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return httpError(err, name)
	}
	body := http.MaxBytesReader(w, r.Body, f.maxFile)
	_, err = io.Copy(tf, body)
	if err == nil {
		err = tf.Chmod(perm)
	}
	if cerr := tf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = f.root.Remove(tmp)
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return apierror.TooLarge("file is larger than the limit of %d bytes", f.maxFile)
		}
		return httpError(err, name)
	}
	if throughLink {
		err = f.copyInto(tmp, name)
		_ = f.root.Remove(tmp)
	} else {
		err = f.root.Rename(tmp, name)
		if err != nil {
			_ = f.root.Remove(tmp)
		}
	}
	if err != nil {
		return httpError(err, name)
	}
	st, err := f.root.Lstat(name)
	if err != nil {
		return httpError(err, name)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	apierror.JSON(w, status, f.entry(name, st))
	return nil
}

// copyInto copies the staged file src over dst, following dst's symlink
// inside the root.
func (f *FS) copyInto(src, dst string) error {
	in, err := f.root.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, _, err := f.root.OpenChecked(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// mkdirParents creates dir and its parents, as an API error.
func (f *FS) mkdirParents(dir string) error {
	err := f.root.MkdirAll(dir, 0o755)
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrExist) || errors.Is(err, syscall.ENOTDIR) {
		return apierror.Conflict("not_directory", "%q is not a directory", dir)
	}
	return httpError(err, dir)
}

type mkdirReq struct {
	Path string `json:"path"`
}

func (f *FS) mkdir(w http.ResponseWriter, r *http.Request) error {
	var req mkdirReq
	if err := apierror.Decode(w, r, &req, 0); err != nil {
		return err
	}
	name, err := confine.Clean(req.Path)
	if err != nil {
		return httpError(err, req.Path)
	}
	if err := f.root.MkdirAll(name, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) || errors.Is(err, syscall.ENOTDIR) {
			return apierror.Conflict("exists", "%q exists and is not a directory", name)
		}
		return httpError(err, name)
	}
	st, err := f.root.Lstat(name)
	if err != nil {
		return httpError(err, name)
	}
	apierror.JSON(w, http.StatusCreated, f.entry(name, st))
	return nil
}

type renameReq struct {
	From string `json:"from"`
	To   string `json:"to"`
}

func (f *FS) rename(w http.ResponseWriter, r *http.Request) error {
	var req renameReq
	if err := apierror.Decode(w, r, &req, 0); err != nil {
		return err
	}
	from, err := confine.Clean(req.From)
	if err != nil {
		return httpError(err, req.From)
	}
	to, err := confine.Clean(req.To)
	if err != nil {
		return httpError(err, req.To)
	}
	if from == "." || to == "." {
		return apierror.Forbidden("cannot move the workspace root")
	}
	if to == from {
		return apierror.Invalid("from and to are the same")
	}
	if strings.HasPrefix(to, from+"/") {
		return apierror.Invalid("cannot move %q into itself", from)
	}
	if _, err := f.root.Lstat(from); err != nil {
		return httpError(err, from)
	}
	if _, err := f.root.Lstat(to); err == nil {
		return apierror.Conflict("exists", "%q already exists", to)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return httpError(err, to)
	}
	if err := f.mkdirParents(path.Dir(to)); err != nil {
		return err
	}
	if err := f.root.Rename(from, to); err != nil {
		return httpError(err, from)
	}
	st, err := f.root.Lstat(to)
	if err != nil {
		return httpError(err, to)
	}
	apierror.JSON(w, http.StatusOK, f.entry(to, st))
	return nil
}

func (f *FS) remove(w http.ResponseWriter, r *http.Request) error {
	name, err := param(r, "path", true)
	if err != nil {
		return err
	}
	if name == "." {
		return apierror.Forbidden("cannot delete the workspace root")
	}
	if _, err := f.root.Lstat(name); err != nil {
		return httpError(err, name)
	}
	if err := f.root.RemoveAll(name); err != nil {
		return httpError(err, name)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (f *FS) archive(w http.ResponseWriter, r *http.Request) error {
	name, err := param(r, "path", false)
	if err != nil {
		return err
	}
	d, st, err := f.root.OpenChecked(name, os.O_RDONLY, 0)
	if err != nil {
		return httpError(err, name)
	}
	d.Close()
	if !st.IsDir() {
		return apierror.Conflict("not_directory", "%q is not a directory", name)
	}
	base := "workspace"
	if name != "." {
		base = path.Base(name)
	} else {
		// The whole workspace carries its fingerprint, so a periodic
		// archiver skips one that did not change.
		fp, err := f.Fingerprint()
		if err != nil {
			return err
		}
		etag := `"` + fp + `"`
		w.Header().Set("ETag", etag)
		if inm := r.Header.Get("If-None-Match"); inm != "" && inm == etag {
			w.WriteHeader(http.StatusNotModified)
			return nil
		}
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": base + ".tar.gz"}))
	w.Header().Set("Cache-Control", "no-store")
	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	err = f.addTree(tw, name, base)
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = gz.Close()
	}
	if err != nil {
		// The status is sent; a truncated gzip stream tells the client.
		f.log.Warn("workspace archive aborted", "path", name, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// addTree writes dir (a cleaned name) and everything under it, without
// following symlinks; regular files are opened through the root.
func (f *FS) addTree(tw *tar.Writer, dir, prefix string) error {
	d, st, err := f.root.OpenChecked(dir, os.O_RDONLY, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, confine.ErrSpecial) {
			return nil // removed or swapped meanwhile
		}
		return err
	}
	des, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: prefix + "/", Mode: int64(st.Mode().Perm()), ModTime: st.ModTime()}); err != nil {
		return err
	}
	sort.Slice(des, func(i, j int) bool { return des[i].Name() < des[j].Name() })
	for _, de := range des {
		name := path.Join(dir, de.Name())
		arcName := prefix + "/" + de.Name()
		switch t := de.Type(); {
		case t.IsDir():
			if err := f.addTree(tw, name, arcName); err != nil {
				return err
			}
		case t&fs.ModeSymlink != 0:
			target, err := f.root.Readlink(name)
			if err != nil {
				continue
			}
			fi, err := de.Info()
			if err != nil {
				continue
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: arcName, Linkname: target, Mode: 0o777, ModTime: fi.ModTime()}); err != nil {
				return err
			}
		case t.IsRegular():
			if err := f.addFile(tw, name, arcName); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *FS) addFile(tw *tar.Writer, name, arcName string) error {
	fh, st, err := f.root.OpenChecked(name, os.O_RDONLY, 0)
	if err != nil {
		return nil // gone, swapped for something else, unreadable: skip
	}
	defer fh.Close()
	if !st.Mode().IsRegular() {
		return nil
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: arcName, Size: st.Size(), Mode: int64(st.Mode().Perm()), ModTime: st.ModTime()}); err != nil {
		return err
	}
	// The header promised st.Size() bytes: copy exactly that many, padding
	// if the file shrank meanwhile.
	n, err := io.Copy(tw, io.LimitReader(fh, st.Size()))
	if err != nil {
		return err
	}
	if n < st.Size() {
		_, err = io.CopyN(tw, zeroReader{}, st.Size()-n)
	}
	return err
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
