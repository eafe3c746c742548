package fcfake

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

// Environment understood by Main (the stand-in firecracker process).
const (
	EnvRecord           = "FCFAKE_RECORD"            // file to append calls to (JSON lines); "{id}" is replaced by --id
	EnvFaults           = "FCFAKE_FAULTS"            // JSON array of Fault
	EnvGuestSock        = "FCFAKE_GUEST_SOCK"        // after InstanceStart, serve GET /health on this unix socket (the "guest daemon"); relative to the API socket's directory
	EnvIgnoreCtrlAltDel = "FCFAKE_IGNORE_CTRLALTDEL" // "1": keep running after SendCtrlAltDel
	EnvCheckTap         = "FCFAKE_CHECK_TAP"         // "1": the TAP must exist in /sys/class/net
)

var vmIDRe = regexp.MustCompile(`^[a-zA-Z0-9-]{1,64}$`)

// Main is a stand-in for `firecracker --api-sock PATH [--id ID] ...`: it
// serves the fake API on PATH until SIGTERM/SIGINT, or until the guest "shuts
// down" after SendCtrlAltDel. Call it from TestMain when the test binary is
// re-executed as the firecracker binary. It returns the exit code.
func Main(args []string) int {
	var sock, id string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--api-sock":
			if i+1 < len(args) {
				sock = args[i+1]
				i++
			}
		case "--id":
			if i+1 < len(args) {
				id = args[i+1]
				i++
			}
		}
	}
	if sock == "" {
		fmt.Fprintln(os.Stderr, "fcfake: --api-sock is required")
		return 2
	}
	if id != "" && !vmIDRe.MatchString(id) {
		fmt.Fprintf(os.Stderr, "fcfake: invalid --id %q: letters, digits and '-', 1 to 64 characters\n", id)
		return 1
	}
	opts := Options{ID: id, RecordPath: strings.ReplaceAll(os.Getenv(EnvRecord), "{id}", id), CheckTap: os.Getenv(EnvCheckTap) == "1"}
	if f := os.Getenv(EnvFaults); f != "" {
		if err := json.Unmarshal([]byte(f), &opts.Faults); err != nil {
			fmt.Fprintf(os.Stderr, "fcfake: %s: %v\n", EnvFaults, err)
			return 2
		}
	}
	done := make(chan int, 1)
	var guest *http.Server
	gs := os.Getenv(EnvGuestSock)
	if gs != "" && !filepath.IsAbs(gs) {
		gs = filepath.Join(filepath.Dir(sock), gs)
	}
	if gs != "" {
		opts.OnStart = func() error {
			// A guest boots with nothing of a killed predecessor's daemon:
			// its socket (a host file only in this stand-in) goes.
			os.Remove(gs)
			ln, err := net.Listen("unix", gs)
			if err != nil {
				return err
			}
			mux := http.NewServeMux()
			mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintln(w, `{"status":"ok","sessions":0}`)
			})
			guest = &http.Server{Handler: mux}
			go guest.Serve(ln) //nolint:errcheck
			return nil
		}
	}
	if os.Getenv(EnvIgnoreCtrlAltDel) != "1" {
		opts.OnCtrlAltDel = func() {
			select {
			case done <- 0:
			default:
			}
		}
	}
	srv, err := Listen(sock, opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fcfake: %v\n", err)
		return 1
	}
	fmt.Printf("fcfake: firecracker stand-in %q listening on %s\n", id, sock)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	code := 0
	select {
	case code = <-done:
		fmt.Println("fcfake: guest shut down after SendCtrlAltDel")
	case s := <-sig:
		fmt.Printf("fcfake: %v\n", s)
		code = 128 + int(s.(syscall.Signal))
	}
	srv.Close()
	if guest != nil {
		guest.Close()
		os.Remove(gs)
	}
	return code
}
