package agent

import (
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"

	"github.com/clarateach/backend/internal/runtime"
	"github.com/clarateach/backend/internal/runtime/process"
)

// NewRuntime builds the seat runtime called name.
func NewRuntime(name string, o RuntimeOptions) (runtime.Runtime, error) {
	switch name {
	case "process":
		return process.New(process.Config{
			DaemonCommand: o.DaemonCommand,
			BaseDir:       filepath.Join(o.StateDir, "process"),
			Shell:         o.Shell,
			Logger:        o.Logger,
		})
	case "sandbox":
		return nil, fmt.Errorf("%w: the sandbox runtime is not part of this build yet; use --runtime process for development", ErrRuntimeUnavailable)
	case "firecracker":
		return nil, fmt.Errorf("%w: the firecracker runtime is not part of this build yet", ErrRuntimeUnavailable)
	}
	return nil, fmt.Errorf("%w: unknown runtime %q (want sandbox, firecracker or process)", ErrRuntimeUnavailable, name)
}

// DefaultRuntime is "sandbox" on Linux as root when the sandbox runtime works
// here, else "process".
func DefaultRuntime() string {
	if goruntime.GOOS == "linux" && os.Geteuid() == 0 && sandboxUsable() == nil {
		return "sandbox"
	}
	return "process"
}

// sandboxUsable reports why the sandbox runtime cannot run here (nil if it can).
func sandboxUsable() error {
	return fmt.Errorf("%w: sandbox runtime not built", ErrRuntimeUnavailable)
}
