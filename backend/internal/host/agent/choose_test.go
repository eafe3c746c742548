package agent

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/clarateach/backend/internal/host/seatruntime/sandbox"
)

// A root host without iptables used to fall back to the unisolated process
// runtime (learner shells as root on the host). Now the sandbox is kept and
// only its network is turned off.
func TestChooseRuntimeWithoutIptablesKeepsTheSandbox(t *testing.T) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs root on Linux (CI runs as root)")
	}
	old := lookPath
	lookPath = func(name string) (string, error) {
		if name == "iptables" {
			return "", exec.ErrNotFound
		}
		return exec.LookPath(name)
	}
	t.Cleanup(func() { lookPath = old })

	seats := filepath.Join(shortTempDir(t), "seats")
	if err := os.Chmod(filepath.Dir(seats), 0o755); err != nil {
		t.Fatal(err)
	}
	rt, name, err := ChooseRuntime("", RuntimeOptions{StateDir: shortTempDir(t), SeatsDir: seats,
		DaemonCommand: []string{daemonBin}, Shell: "/bin/sh", Logger: quietLog})
	if err != nil {
		t.Fatalf("ChooseRuntime: %v", err)
	}
	t.Cleanup(func() {
		if c, ok := rt.(interface{ Close() error }); ok {
			_ = c.Close()
		}
	})
	if name != "sandbox" || rt.Name() != "sandbox" {
		t.Fatalf("runtime %q (%s), want sandbox", name, rt.Name())
	}
	sb, ok := rt.(*sandbox.Runtime)
	if !ok {
		t.Fatalf("runtime is %T", rt)
	}
	if sb.NetworkEnabled() {
		t.Fatal("seat network is on although iptables is missing")
	}
	if !Isolated(name) {
		t.Fatal("sandbox reported as not isolated")
	}
}

// A sandbox that fails for any reason but missing namespaces is an error to
// fix, never a reason to hand out unisolated seats.
func TestChooseRuntimeDoesNotFallBackOnFaults(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the sandbox exists on Linux only")
	}
	_, name, err := ChooseRuntime("", RuntimeOptions{StateDir: shortTempDir(t), SeatsDir: filepath.Join(shortTempDir(t), "seats"),
		DaemonCommand: []string{filepath.Join(t.TempDir(), "no-such-daemon")}, Logger: quietLog, NoNetwork: true})
	if err == nil {
		t.Fatalf("ChooseRuntime with a missing daemon chose %q", name)
	}
	if errors.Is(err, sandbox.ErrUnsupported) {
		t.Fatalf("a missing daemon is reported as unsupported: %v", err)
	}
}

// Asked for by name, the process runtime is used, and reported unisolated.
func TestChooseRuntimeProcessByName(t *testing.T) {
	rt, name, err := ChooseRuntime("process", RuntimeOptions{StateDir: shortTempDir(t), DaemonCommand: []string{daemonBin}, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	if name != "process" || rt.Name() != "process" || Isolated(name) {
		t.Fatalf("runtime %q isolated=%v", name, Isolated(name))
	}
}
