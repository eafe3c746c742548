package agentcmd

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/clarateach/backend/internal/host/agent"
)

// defaultStateDir is the agent's state directory when --state-dir is not
// given: /var/lib/clarateach/agent as root, else under the user's state
// directory.
func defaultStateDir() string {
	if os.Geteuid() == 0 {
		return agent.DefaultStateDir
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "clarateach", "agent")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "clarateach", "agent")
	}
	return filepath.Join(os.TempDir(), "clarateach-agent")
}

// daemonCommand finds the workspace daemon: --daemon-path, else the
// caller's default, else clarateach-workspace next to this executable, else
// in PATH.
func daemonCommand(path string, def []string) ([]string, error) {
	if path != "" {
		p, err := exec.LookPath(path)
		if err != nil {
			return nil, fmt.Errorf("--daemon-path %s: %w", path, err)
		}
		// Seats start in their own directories: a relative path would
		// not resolve there.
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		return []string{p}, nil
	}
	if len(def) > 0 {
		return def, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), agent.DaemonBinaryName)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return []string{p}, nil
		}
	}
	if p, err := exec.LookPath(agent.DaemonBinaryName); err == nil {
		return []string{p}, nil
	}
	return nil, fmt.Errorf("cannot find the workspace daemon %q next to the agent or in PATH: build it (go build -o %s ./cmd/workspace/) or pass --daemon-path",
		agent.DaemonBinaryName, agent.DaemonBinaryName)
}
