package workspace

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/apierror"
)

// Port is one TCP port something in the seat listens on.
type Port struct {
	Port int `json:"port"`
	// Addresses are the local addresses it listens on ("0.0.0.0", "::",
	// "127.0.0.1", ...), sorted.
	Addresses []string `json:"addresses"`
}

// PortList is the body of GET /ports (and each event of ?watch=1).
type PortList struct {
	Ports []Port `json:"ports"`
}

// tcpListen is the state code of a listening socket in /proc/net/tcp.
const tcpListen = "0A"

// procNetFiles are read by listPorts; /proc/net is the reading process's
// network namespace, which is the seat's: the daemon runs inside it.
var procNetFiles = []string{"/proc/net/tcp", "/proc/net/tcp6"}

// listPorts reads the listening TCP sockets of the network namespace,
// leaving out the ports in skip (the daemon's own). A missing tcp6 file
// (IPv6 off) is no error.
func listPorts(files []string, skip map[int]bool) ([]Port, error) {
	byPort := map[int]map[string]bool{}
	for _, name := range files {
		f, err := os.Open(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("ports: %w", err)
		}
		err = parseProcNetTCP(f, func(addr netip.Addr, port int) {
			if skip[port] {
				return
			}
			if byPort[port] == nil {
				byPort[port] = map[string]bool{}
			}
			byPort[port][addr.String()] = true
		})
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("ports: %s: %w", name, err)
		}
	}
	out := make([]Port, 0, len(byPort))
	for p, addrs := range byPort {
		var list []string
		for a := range addrs {
			list = append(list, a)
		}
		slices.Sort(list)
		out = append(out, Port{Port: p, Addresses: list})
	}
	slices.SortFunc(out, func(a, b Port) int { return a.Port - b.Port })
	return out, nil
}

// parseProcNetTCP calls fn for each listening socket of a /proc/net/tcp or
// tcp6 table.
func parseProcNetTCP(r io.Reader, fn func(addr netip.Addr, port int)) error {
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		if first { // the header line
			first = false
			continue
		}
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[3] != tcpListen {
			continue
		}
		addr, port, err := parseHexAddr(fields[1])
		if err != nil {
			return err
		}
		fn(addr, port)
	}
	return sc.Err()
}

// parseHexAddr parses a /proc/net/tcp{,6} local address, e.g.
// "0100007F:1F40" (127.0.0.1:8000): the address is in host byte order,
// one 32-bit word at a time.
func parseHexAddr(s string) (netip.Addr, int, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.Addr{}, 0, fmt.Errorf("bad address %q", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("bad port in %q", s)
	}
	raw, err := hex.DecodeString(h)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.Addr{}, 0, fmt.Errorf("bad address %q", s)
	}
	// Each 32-bit word is little-endian on the machines we run on
	// (amd64, arm64).
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	addr, _ := netip.AddrFromSlice(raw)
	return addr.Unmap(), int(port), nil
}

// ownPorts are the daemon's own TCP ports (a microVM's daemon listens on
// the guest address), never offered as a preview.
func ownPorts(listen string) map[int]bool {
	skip := map[int]bool{}
	if rest, ok := strings.CutPrefix(listen, "tcp:"); ok {
		if _, p, err := net.SplitHostPort(rest); err == nil {
			if n, err := strconv.Atoi(p); err == nil {
				skip[n] = true
			}
		}
	}
	return skip
}

// portsPollInterval is how often a ?watch=1 stream looks for changes.
const portsPollInterval = 500 * time.Millisecond

// portsKeepAlive is the longest a watch stream stays silent (load
// balancers cut idle connections).
const portsKeepAlive = 25 * time.Second

// handlePorts answers GET /ports: the listening ports as JSON, or with
// ?watch=1 a text/event-stream that sends the list at once and again each
// time it changes.
func (s *Server) handlePorts(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("watch") == "" {
		ports, err := listPorts(procNetFiles, s.own)
		if err != nil {
			apierror.Write(w, r, err)
			return
		}
		apierror.JSON(w, http.StatusOK, PortList{Ports: ports})
		return
	}
	if err := s.watchPorts(r.Context(), w); err != nil && r.Context().Err() == nil {
		s.log.WarnContext(r.Context(), "ports watch ended", "err", err)
	}
}

func (s *Server) watchPorts(ctx context.Context, w http.ResponseWriter) error {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	tick := time.NewTicker(portsPollInterval)
	defer tick.Stop()
	var last []byte
	quiet := time.Now()
	for {
		ports, err := listPorts(procNetFiles, s.own)
		if err != nil {
			return err
		}
		b, _ := json.Marshal(PortList{Ports: ports})
		switch {
		case string(b) != string(last):
			_, err = fmt.Fprintf(w, "event: ports\ndata: %s\n\n", b)
			last, quiet = b, time.Now()
		case time.Since(quiet) >= portsKeepAlive:
			_, err = io.WriteString(w, ": keep-alive\n\n")
			quiet = time.Now()
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
