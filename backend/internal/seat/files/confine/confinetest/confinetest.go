// Package confinetest builds the hostile workspace the confinement tests
// (package confine and the file API's) run against.
package confinetest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Secret is the content of base/outside/secret.txt, which no access
// through the workspace may read or change.
const Secret = "TOP-SECRET"

// Fixture builds base/outside (secret.txt and dir/) and base/root (the
// workspace) full of symlinks that try to leave it, plus special files: a
// FIFO, a listening unix socket and, as root, a character device.
func Fixture(t testing.TB) (base, root string) {
	t.Helper()
	base = t.TempDir()
	base, _ = filepath.EvalSymlinks(base)
	root = filepath.Join(base, "root")
	out := filepath.Join(base, "outside")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(out, "dir"), 0o755))
	must(os.WriteFile(filepath.Join(out, "secret.txt"), []byte(Secret), 0o644))
	must(os.MkdirAll(filepath.Join(root, "a", "b"), 0o755))
	must(os.WriteFile(filepath.Join(root, "hello.txt"), []byte("hello"), 0o644))
	must(os.WriteFile(filepath.Join(root, "a", "b", "c.txt"), []byte("c"), 0o755))
	links := map[string]string{
		"link-in":   "a/b",
		"file-link": "hello.txt",
		"out-rel":   "../outside",
		"out-abs":   out,
		"out-file":  "../outside/secret.txt",
		"a/up":      "../../outside",
		"a/upfile":  "../../outside/secret.txt",
		"loop1":     "loop2",
		"loop2":     "loop1",
		"chain":     "a/up",
		"sneaky":    "a/../../outside",
		"dangling":  "nonexistent",
		"abs-in":    filepath.Join(root, "hello.txt"),
		"dev-null":  "/dev/null",
		"proc-self": "/proc/self/root",
	}
	for name, target := range links {
		must(os.Symlink(target, filepath.Join(root, name)))
	}
	must(syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644))
	must(listenUnix(t, filepath.Join(root, "sock")))
	if os.Geteuid() == 0 {
		// A character device (the same as /dev/null) inside the workspace.
		must(syscall.Mknod(filepath.Join(root, "devnull"), syscall.S_IFCHR|0o666, int(1<<8|3)))
	}
	return base, root
}

// listenUnix leaves a listening unix socket at path until the test ends
// (with syscalls, not package net: the fuzz build stays small).
func listenUnix(t testing.TB, path string) error {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0) // no SOCK_CLOEXEC on macOS
	if err != nil {
		return err
	}
	syscall.CloseOnExec(fd)
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		return err
	}
	return syscall.Listen(fd, 1)
}
