package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatinit"
)

// Root scripts (a lab's setup) run as the seat's own root: uid 0 of the
// seat's user namespace, an unprivileged uid on the host, with the
// capabilities that root has inside its namespaces only. The seat's init
// (pid 1, that root) serves them on a second socket, root.sock, beside the
// daemon's in the seat's sock/ directory: only the seat's root uid and the
// host's root can enter it, and it is not mounted in the seat, so the
// learner cannot reach it. The daemon, which has no uid 0 left, could not
// run them (seatinit's root_linux.go). One request per connection: a JSON
// seatruntime.ExecRequest, answered by a JSON seatruntime.ExecResult (the
// init has its own types for the same JSON, and its own copy of the
// limits: TestRootScriptLimitsAgree).

// ExecRoot runs a script as the seat's own root (seatruntime.RootExecer),
// through the seat init's root socket.
func (r *Runtime) ExecRoot(ctx context.Context, s *seatruntime.Seat, req seatruntime.ExecRequest) (*seatruntime.ExecResult, error) {
	if s.Network != "unix" || s.Address == "" {
		return nil, fmt.Errorf("sandbox: seat %s/%d has no socket", s.WorkshopID, s.Seat)
	}
	timeout := seatruntime.DefaultRootTime
	if req.TimeoutMS > 0 {
		timeout = min(time.Duration(req.TimeoutMS)*time.Millisecond, seatruntime.MaxRootTime)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", seatinit.RootSockPath(s.Address))
	if err != nil {
		return nil, fmt.Errorf("sandbox: seat %s/%d root socket: %w", s.WorkshopID, s.Seat, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return nil, fmt.Errorf("sandbox: send root script: %w", err)
	}
	var res seatruntime.ExecResult
	if err := json.NewDecoder(io.LimitReader(c, 4*seatruntime.MaxRootOutput+4096)).Decode(&res); err != nil {
		return nil, fmt.Errorf("sandbox: root script answer: %w", err)
	}
	if res.Error != "" {
		return nil, fmt.Errorf("sandbox: seat %s/%d: %s", s.WorkshopID, s.Seat, res.Error)
	}
	return &res, nil
}

var _ seatruntime.RootExecer = (*Runtime)(nil)
