package workspace

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// Listen opens the daemon's listener from a --listen value:
//
//	unix:/path/to.sock   a unix socket (a stale socket file is replaced; mode 0600)
//	tcp:HOST:PORT        a TCP listener (e.g. tcp:192.168.100.11:7681, tcp:127.0.0.1:0)
//	fd:N                 a listening socket inherited as file descriptor N (the
//	                     sandbox's seat init makes it, so it outlives a daemon restart)
func Listen(addr string) (net.Listener, error) {
	scheme, rest, ok := strings.Cut(addr, ":")
	if !ok || rest == "" {
		return nil, fmt.Errorf("listen %q: want unix:/path.sock, tcp:HOST:PORT or fd:N", addr)
	}
	switch scheme {
	case "unix":
		if fi, err := os.Lstat(rest); err == nil {
			if fi.Mode()&os.ModeSocket == 0 {
				return nil, fmt.Errorf("listen %q: %s exists and is not a socket", addr, rest)
			}
			if err := os.Remove(rest); err != nil {
				return nil, fmt.Errorf("listen %q: remove stale socket: %w", addr, err)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("listen %q: %w", addr, err)
		}
		ln, err := net.Listen("unix", rest)
		if err != nil {
			return nil, fmt.Errorf("listen %q: %w", addr, err)
		}
		if err := os.Chmod(rest, 0o600); err != nil {
			ln.Close()
			return nil, fmt.Errorf("listen %q: chmod: %w", addr, err)
		}
		return ln, nil
	case "fd":
		n, err := strconv.Atoi(rest)
		if err != nil || n < 3 {
			return nil, fmt.Errorf("listen %q: want fd:N with N >= 3", addr)
		}
		f := os.NewFile(uintptr(n), "listener")
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("listen %q: %w", addr, err)
		}
		return ln, nil
	case "tcp":
		ln, err := net.Listen("tcp", rest)
		if err != nil {
			return nil, fmt.Errorf("listen %q: %w", addr, err)
		}
		return ln, nil
	default:
		return nil, fmt.Errorf("listen %q: unknown scheme %q (want unix:, tcp: or fd:)", addr, scheme)
	}
}
