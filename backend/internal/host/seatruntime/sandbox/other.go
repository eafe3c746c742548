//go:build !linux

package sandbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/clarateach/backend/internal/host/seatruntime"
)

// Runtime is the sandbox seat runtime; it exists only on Linux.
type Runtime struct{}

var _ seatruntime.Runtime = (*Runtime)(nil)

// New fails: Linux namespaces are not available on this system.
func New(Config) (*Runtime, error) {
	return nil, fmt.Errorf("sandbox: Linux namespaces are not available on this system: %w", ErrUnsupported)
}

func (*Runtime) Name() string { return Name }
func (*Runtime) Create(context.Context, seatruntime.Spec) (*seatruntime.Seat, error) {
	return nil, errors.New("sandbox: not supported on this system")
}
func (*Runtime) Alive(context.Context, *seatruntime.Seat) bool    { return false }
func (*Runtime) Destroy(context.Context, *seatruntime.Seat) error { return nil }

func (*Runtime) Stop(context.Context, *seatruntime.Seat) error { return nil }
func (*Runtime) Homes() ([]seatruntime.Home, error)            { return nil, nil }
func (*Runtime) RemoveHome(context.Context, string, int) error { return nil }
