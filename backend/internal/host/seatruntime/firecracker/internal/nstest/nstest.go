//go:build linux

// Package nstest runs a test inside a throwaway network namespace, so tests
// can create bridges, TAPs and iptables rules for real without touching the
// host's network. The test binary re-executes itself under `unshare --net`
// for just that test; everything the test creates vanishes with the
// namespace.
package nstest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const envName = "CLARATEACH_NSTEST"

// Enter returns true when the caller is already running inside the private
// network namespace and should go on with the test. Otherwise it runs the
// current test again in a child process under `unshare --net`, reports its
// output, fails if it failed, and returns false: the caller returns at once.
// It skips the test when not root or when a needed tool is missing.
func Enter(t *testing.T, tools ...string) bool {
	t.Helper()
	if os.Getenv(envName) == t.Name() {
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			t.Fatalf("lo up: %v: %s", err, out)
		}
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	for _, tool := range append([]string{"unshare", "ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	parts := strings.Split(t.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--net", "--", os.Args[0],
		"-test.run="+strings.Join(parts, "/"), "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), envName+"="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("in a new network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("test in network namespace failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("test did not pass in the network namespace")
	}
	return false
}

// Holder is a process sitting in its own network namespace, a stand-in for a
// guest or a remote host. It ends when Close closes its stdin.
type Holder struct {
	cmd *exec.Cmd
	in  *os.File
}

// NewHolder starts a process in a fresh network namespace (with lo up).
func NewHolder(t *testing.T) *Holder {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "--net", "--", "sh", "-c", "ip link set lo up && exec cat >/dev/null")
	cmd.Stdin = r
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	h := &Holder{cmd: cmd, in: w}
	t.Cleanup(h.Close)
	// Wait until unshare has moved into its namespace.
	mine, _ := os.Readlink("/proc/self/ns/net")
	deadline := time.Now().Add(10 * time.Second)
	for {
		theirs, err := os.Readlink(h.NS())
		if err == nil && theirs != mine {
			out, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", h.PID()))
			if strings.HasPrefix(string(out), "cat") {
				return h
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("namespace holder did not start")
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
}

// PID of the holder process.
func (h *Holder) PID() int { return h.cmd.Process.Pid }

// NS is the path of the holder's network namespace.
func (h *Holder) NS() string { return fmt.Sprintf("/proc/%d/ns/net", h.PID()) }

// Run runs a command inside the holder's network namespace.
func (h *Holder) Run(t *testing.T, name string, args ...string) {
	t.Helper()
	full := append([]string{"--net=" + h.NS(), "--", name}, args...)
	if out, err := exec.Command("nsenter", full...).CombinedOutput(); err != nil {
		t.Fatalf("in namespace: %s %v: %v: %s", name, args, err, out)
	}
}

// Close ends the holder.
func (h *Holder) Close() {
	h.in.Close()
	h.cmd.Wait() //nolint:errcheck
}

// Do runs f on an OS thread switched into the network namespace at nsPath.
// Sockets created by f belong to that namespace (and keep doing so after f
// returns). The thread is discarded afterwards.
func Do(nsPath string, f func() error) error {
	errc := make(chan error, 1)
	go doOnThread(nsPath, f, errc)
	return <-errc
}

func doOnThread(nsPath string, f func() error, errc chan<- error) {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// Never switch the main thread: /proc/PID/ns/net follows it, and a
		// locked main thread is kept rather than discarded. Holding it here
		// makes the worker run on another thread.
		done := make(chan error, 1)
		go doOnThread(nsPath, f, done)
		errc <- <-done
		runtime.UnlockOSThread()
		return
	}
	// No UnlockOSThread from here on: the thread is switched to another
	// namespace and must die with this goroutine.
	fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		errc <- err
		return
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		errc <- fmt.Errorf("setns: %w", err)
		return
	}
	errc <- f()
}
