package agent

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/host/agentapi"
	"github.com/clarateach/backend/internal/host/seatruntime"
)

// handleArchive streams the seat's home as a .tar.gz, made by the seat's
// own workspace daemon (GET /files/archive): the agent never reads the
// learner's files itself, and the same route works for every runtime. An
// If-None-Match equal to the home's fingerprint (the ETag of the last
// archive) answers 304 without a body.
func (a *Agent) handleArchive(w http.ResponseWriter, r *http.Request) error {
	return a.forwardToDaemon(w, r, http.MethodGet, "/files/archive", nil)
}

// handleRestore unpacks a .tar.gz (the body, as handleArchive produced it)
// into the seat's home, through the seat's workspace daemon, which confines
// every write to the home. ?max_bytes bounds what is unpacked; ?if_empty=1
// leaves a home that has anything in it alone (409 not_empty).
func (a *Agent) handleRestore(w http.ResponseWriter, r *http.Request) error {
	q := url.Values{}
	for _, name := range []string{"max_bytes", "if_empty"} {
		if v := r.URL.Query().Get(name); v != "" {
			q.Set(name, v)
		}
	}
	return a.forwardToDaemon(w, r, http.MethodPut, "/files/archive", q)
}

// handleExec runs a lab script in the seat as the learner, through the
// seat's workspace daemon (POST /exec). Only the control plane (agent token)
// can ask; the learner proxy does not serve /exec.
func (a *Agent) handleExec(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 128<<10))
	if err != nil {
		return apierror.TooLarge("an exec request is at most 128 KiB")
	}
	var req agentapi.ExecRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return apierror.Invalid("the exec request is not JSON: %v", err)
	}
	switch req.User {
	case "", "learner":
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		return a.forwardToDaemon(w, r, http.MethodPost, "/exec", nil)
	case "root":
		return a.execRoot(w, r, req)
	}
	return apierror.Invalid(`user must be "learner" or "root"`)
}

// execRoot runs a script as the seat's own root, when the runtime has one.
func (a *Agent) execRoot(w http.ResponseWriter, r *http.Request, req agentapi.ExecRequest) error {
	k, err := a.pathSeat(r)
	if err != nil {
		return err
	}
	s, _ := a.lookup(k)
	if s == nil {
		return apierror.NotFound("seat %s not found", k)
	}
	re, ok := a.rt.(seatruntime.RootExecer)
	if !ok {
		return apierror.New(http.StatusNotImplemented, "root_unsupported", "this host's seats (runtime %s) cannot run scripts as the seat's root", a.rt.Name())
	}
	if len(req.Script) > seatruntime.MaxRootScript || req.TimeoutMS < 0 || time.Duration(req.TimeoutMS)*time.Millisecond > seatruntime.MaxRootTime {
		return apierror.Invalid("a root script is at most %d bytes and %s", seatruntime.MaxRootScript, seatruntime.MaxRootTime)
	}
	res, err := re.ExecRoot(r.Context(), s, seatruntime.ExecRequest{Script: req.Script, TimeoutMS: req.TimeoutMS})
	if err != nil {
		return apierror.New(http.StatusBadGateway, "seat_unreachable", "seat %s did not run the script: %v", k, err)
	}
	apierror.JSON(w, http.StatusOK, agentapi.ExecResult{ExitCode: res.ExitCode, Stdout: res.Stdout, Stderr: res.Stderr, Truncated: res.Truncated, TimedOut: res.TimedOut, DurationMS: res.DurationMS})
	return nil
}

func (a *Agent) forwardToDaemon(w http.ResponseWriter, r *http.Request, method, path string, q url.Values) error {
	k, err := a.pathSeat(r)
	if err != nil {
		return err
	}
	s, host := a.lookup(k)
	if s == nil {
		return apierror.NotFound("seat %s not found", k)
	}
	u := "http://" + host + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var body io.Reader
	if method == http.MethodPut || method == http.MethodPost {
		body = r.Body
	}
	req, err := http.NewRequestWithContext(r.Context(), method, u, body)
	if err != nil {
		return err
	}
	switch method {
	case http.MethodPut:
		req.Header.Set("Content-Type", "application/gzip")
		req.ContentLength = r.ContentLength
	case http.MethodPost:
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = r.ContentLength
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		req.Header.Set("If-None-Match", inm)
	}
	resp, err := (&http.Client{Transport: a.tr}).Do(req)
	if err != nil {
		return apierror.New(http.StatusBadGateway, "seat_unreachable", "seat %s's workspace daemon did not answer: %v", k, err)
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "ETag", "Content-Disposition", "Cache-Control"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(w, resp.Body); err != nil {
		// The status is sent; cutting the stream tells the client.
		a.log.WarnContext(r.Context(), "seat archive stream cut", "seat", k.String(), "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}
