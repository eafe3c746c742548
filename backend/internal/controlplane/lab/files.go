package lab

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Files is a lab folder held in memory: slash-separated paths relative to
// the folder's root → contents. Directories are implied by the paths.
type Files map[string][]byte

// ErrNotArchive is returned by ReadArchive for bytes that are neither a zip
// nor a gzip-compressed tar.
var ErrNotArchive = errors.New("not a .zip or .tar.gz archive")

// check refuses what no lab may hold: too many or too big files, or paths
// that leave the folder.
func (f Files) check() error {
	var ps []Problem
	if len(f) > MaxFiles {
		ps = append(ps, Problem{Msg: fmt.Sprintf("the lab holds %d files; the limit is %d", len(f), MaxFiles)})
	}
	total := 0
	for name, data := range f {
		total += len(data)
		if clean, ok := cleanPath(name); !ok || clean != name {
			ps = append(ps, Problem{File: name, Msg: "not a plain relative path inside the lab folder"})
		}
	}
	if total > MaxTotal {
		ps = append(ps, Problem{Msg: fmt.Sprintf("the lab holds %d bytes; the limit is %d", total, MaxTotal)})
	}
	if len(ps) > 0 {
		sortProblems(ps)
		return &ValidationError{Problems: ps}
	}
	return nil
}

// cleanPath returns the canonical form of an archive or folder path, and
// false for one that is absolute, climbs out, or holds a NUL or backslash.
func cleanPath(name string) (string, bool) {
	if name == "" || strings.ContainsAny(name, "\x00\\") || path.IsAbs(name) {
		return "", false
	}
	c := path.Clean(name)
	if c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return "", false
	}
	return c, true
}

// Names returns the folder's paths, sorted.
func (f Files) Names() []string {
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ReadDir loads a lab folder from a file system (for example os.DirFS).
// Symbolic links and special files are refused.
func ReadDir(fsys fs.FS) (Files, error) {
	f := Files{}
	total := 0
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name != "." && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir // .git and the like
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: only regular files may be in a lab (no links or devices)", name)
		}
		if len(f) >= MaxFiles {
			return fmt.Errorf("the lab holds more than %d files", MaxFiles)
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		total += len(data)
		if total > MaxTotal {
			return fmt.Errorf("the lab holds more than %d bytes", MaxTotal)
		}
		f[name] = data
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read lab folder: %w", err)
	}
	return f.unwrap(), nil
}

// ReadArchive loads a lab from a .zip or .tar.gz upload. Size and count
// limits hold while reading, so a compression bomb stops early. An archive
// whose entries all sit in one top-level folder is read from that folder.
func ReadArchive(data []byte) (Files, error) {
	var (
		f   Files
		err error
	)
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")), bytes.HasPrefix(data, []byte("PK\x05\x06")):
		f, err = readZip(data)
	case bytes.HasPrefix(data, []byte{0x1f, 0x8b}):
		f, err = readTarGz(data)
	default:
		return nil, ErrNotArchive
	}
	if err != nil {
		return nil, err
	}
	return f.unwrap(), nil
}

// budget counts what an archive has produced so far.
type budget struct{ files, bytes int }

func (b *budget) take(name string, r io.Reader) ([]byte, error) {
	b.files++
	if b.files > MaxFiles {
		return nil, fmt.Errorf("the archive holds more than %d files", MaxFiles)
	}
	data, err := io.ReadAll(io.LimitReader(r, int64(MaxTotal-b.bytes)+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	b.bytes += len(data)
	if b.bytes > MaxTotal {
		return nil, fmt.Errorf("the archive unpacks to more than %d bytes", MaxTotal)
	}
	return data, nil
}

func readZip(data []byte) (Files, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("read zip: %w", err)
	}
	f := Files{}
	var b budget
	for _, e := range zr.File {
		if e.FileInfo().IsDir() {
			continue
		}
		if !e.Mode().IsRegular() {
			return nil, fmt.Errorf("%s: only regular files may be in a lab (no links or devices)", e.Name)
		}
		name, ok := cleanPath(e.Name)
		if !ok {
			return nil, fmt.Errorf("%s: not a plain relative path", e.Name)
		}
		rc, err := e.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name, err)
		}
		body, err := b.take(e.Name, rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		f[name] = body
	}
	return f, nil
}

func readTarGz(data []byte) (Files, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("read tar.gz: %w", err)
	}
	tr := tar.NewReader(zr)
	f := Files{}
	var b budget
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return f, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read tar.gz: %w", err)
		}
		switch h.Typeflag {
		case tar.TypeDir, tar.TypeXGlobalHeader:
			continue
		case tar.TypeReg:
		default:
			return nil, fmt.Errorf("%s: only regular files may be in a lab (no links or devices)", h.Name)
		}
		name, ok := cleanPath(h.Name)
		if !ok {
			return nil, fmt.Errorf("%s: not a plain relative path", h.Name)
		}
		body, err := b.take(h.Name, tr)
		if err != nil {
			return nil, err
		}
		f[name] = body
	}
}

// unwrap strips one top-level folder that holds every entry, as archives
// made with `zip -r lab.zip mylab/` have.
func (f Files) unwrap() Files {
	prefix := ""
	for name := range f {
		first, _, ok := strings.Cut(name, "/")
		if !ok {
			return f
		}
		if prefix == "" {
			prefix = first
		} else if first != prefix {
			return f
		}
	}
	if prefix == "" {
		return f
	}
	out := make(Files, len(f))
	for name, data := range f {
		out[strings.TrimPrefix(name, prefix+"/")] = data
	}
	return out
}

// TarGz writes the folder as a gzip-compressed tar, entries in name order,
// scripts executable.
func (f Files) TarGz() ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range f.Names() {
		mode := int64(0o644)
		if isScript(name, f[name]) {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(f[name])), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f[name]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func isScript(name string, data []byte) bool {
	return strings.HasSuffix(name, ".sh") || bytes.HasPrefix(data, []byte("#!"))
}
