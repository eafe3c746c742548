// Package fdlimit keeps a process clear of its file-descriptor limit: Raise
// lifts the soft RLIMIT_NOFILE to the hard limit at start, and Guard sheds
// new requests with 503 before the descriptors run out, so the connections
// already open keep working instead of every accept and dial failing with
// "too many open files".
package fdlimit

import (
	"fmt"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/clarateach/backend/internal/apierror"
)

// Raise sets the soft RLIMIT_NOFILE to the hard limit and returns the soft
// limit now in force. Every ClaraTeach binary calls it first thing.
func Raise() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("read RLIMIT_NOFILE: %w", err)
	}
	if lim.Cur >= lim.Max {
		return lim.Cur, nil
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("raise RLIMIT_NOFILE to %d: %w", lim.Max, err)
	}
	return lim.Cur, nil
}

// Limit is the soft RLIMIT_NOFILE (0 if it cannot be read).
func Limit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return lim.Cur
}

// Open counts the process's open descriptors.
func Open() (int, error) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, fmt.Errorf("count open descriptors: %w", err)
	}
	defer d.Close()
	n := 0
	for {
		names, err := d.Readdirnames(4096)
		n += len(names)
		if err != nil || len(names) == 0 {
			break
		}
	}
	return n - 1, nil // the directory itself
}

// Guard tells when the process is close to its descriptor limit. The zero
// value watches the real process.
type Guard struct {
	// Headroom is the share of the limit kept free for the connections
	// already open (their dials to agents and daemons, log files, the
	// database); 0 = 10 %, at least 64 descriptors.
	Headroom float64
	// Every is how often the descriptors are counted once more than half
	// the limit is in use (counting 20,000 takes about a millisecond);
	// below half, five times less often. 0 = 100 ms.
	Every time.Duration
	Limit func() uint64       // nil = the soft RLIMIT_NOFILE
	Open  func() (int, error) // nil = /proc/self/fd

	mu      sync.Mutex
	checked time.Time
	full    bool
	open    int
	limit   uint64
}

// Full reports whether new work should be shed, counting at most every
// Every.
func (g *Guard) Full() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	every := g.Every
	if every <= 0 {
		every = 100 * time.Millisecond
	}
	if g.limit > 0 && uint64(g.open) < g.limit/2 {
		every *= 5
	}
	if now := time.Now(); now.Sub(g.checked) >= every {
		g.checked = now
		g.full = g.measure()
	}
	return g.full
}

func (g *Guard) measure() bool {
	limit, count := Limit, Open
	if g.Limit != nil {
		limit = g.Limit
	}
	if g.Open != nil {
		count = g.Open
	}
	g.limit = limit()
	n, err := count()
	if err != nil || g.limit == 0 {
		return false // cannot tell: do not shed
	}
	g.open = n
	share := g.Headroom
	if share <= 0 {
		share = 0.1
	}
	free := max(uint64(float64(g.limit)*share), 64)
	return uint64(n)+free >= g.limit
}

// Shed answers 503 with Retry-After while the guard is full, except for
// the paths in keep (health checks).
func (g *Guard) Shed(next http.Handler, keep ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range keep {
			if r.URL.Path == p {
				next.ServeHTTP(w, r)
				return
			}
		}
		if g.Full() {
			w.Header().Set("Retry-After", "5")
			w.Header().Set("Connection", "close")
			apierror.Write(w, r, apierror.Unavailable("the server is near its open-connection limit; try again in a few seconds"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
