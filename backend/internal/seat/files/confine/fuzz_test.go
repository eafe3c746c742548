package confine

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/clarateach/backend/internal/seat/files/confine/confinetest"
)

// FuzzResolve asserts that whatever a client path resolves to, the object
// the kernel opened lies inside the workspace root and is a regular file or
// a directory.
//
//	go test -run='^$' -fuzz=FuzzResolve -fuzztime=10s ./internal/seat/files/confine/
func FuzzResolve(f *testing.F) {
	for _, seed := range []string{
		"", ".", "hello.txt", "a/b/c.txt", "link-in/c.txt", "..", "../outside/secret.txt", "/etc/passwd",
		"out-rel/secret.txt", "out-abs/secret.txt", "out-file", "a/up/secret.txt", "a/upfile",
		"chain/secret.txt", "sneaky/secret.txt", "loop1", "abs-in", "dev-null", "proc-self/etc/passwd",
		"fifo", "sock", "devnull", "dangling", "a/./b/../../..", "a//b//c.txt", "./././hello.txt",
		"a/b/../../../outside", "link-in/../../outside/secret.txt", "%2e%2e/x", "a\x00b", "\\..\\x",
	} {
		f.Add(seed)
	}
	_, root := confinetest.Fixture(f)
	fsys, err := Open(root)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { fsys.Close() })
	f.Fuzz(func(t *testing.T, name string) {
		if c, err := Clean(name); err == nil {
			if strings.HasPrefix(c, "/") || c == ".." || strings.HasPrefix(c, "../") || strings.Contains(c, "/../") || strings.HasSuffix(c, "/..") {
				t.Fatalf("Clean(%q) = %q escapes", name, c)
			}
		}
		p, err := fsys.Resolve(name)
		if err != nil {
			if errors.Is(err, ErrEscape) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrSpecial) {
				return
			}
			return // not found, loops, escapes refused by os.Root: all refusals
		}
		if p != fsys.Dir() && !strings.HasPrefix(p, fsys.Dir()+"/") {
			t.Fatalf("Resolve(%q) = %s, outside the root %s", name, p, fsys.Dir())
		}
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatalf("Resolve(%q) = %s: %v", name, p, err)
		}
		if !st.Mode().IsRegular() && !st.IsDir() {
			t.Fatalf("Resolve(%q) = %s, a %v", name, p, st.Mode())
		}
	})
}
