//go:build !linux

package sandbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/clarateach/backend/internal/runtime"
)

// Runtime is the sandbox seat runtime; it exists only on Linux.
type Runtime struct{}

var _ runtime.Runtime = (*Runtime)(nil)

// New fails: Linux namespaces are not available on this system.
func New(Config) (*Runtime, error) {
	return nil, fmt.Errorf("sandbox: Linux namespaces are not available on this system: %w", ErrUnsupported)
}

func (*Runtime) Name() string { return Name }
func (*Runtime) Create(context.Context, runtime.Spec) (*runtime.Seat, error) {
	return nil, errors.New("sandbox: not supported on this system")
}
func (*Runtime) Alive(context.Context, *runtime.Seat) bool    { return false }
func (*Runtime) Destroy(context.Context, *runtime.Seat) error { return nil }

// IsInit is always false off Linux.
func IsInit() bool { return false }

// InitMain does nothing off Linux.
func InitMain() {}

func (*Runtime) Stop(context.Context, *runtime.Seat) error     { return nil }
func (*Runtime) Homes() ([]runtime.Home, error)                { return nil, nil }
func (*Runtime) RemoveHome(context.Context, string, int) error { return nil }
