package agentclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/clarateach/backend/internal/logging"
)

// Archive is an open archive stream of a seat's home (GET
// /vms/{ws}/{seat}/archive). Body is nil when NotModified.
type Archive struct {
	Body io.ReadCloser
	// ETag is the home's fingerprint when the archive was made; pass it as
	// ifNoneMatch next time to skip an unchanged home.
	ETag        string
	NotModified bool
}

// stream is the client for long transfers: the same transport without the
// whole-request timeout (the caller's context bounds them).
func (c *Client) stream() *http.Client {
	return &http.Client{Transport: c.hc.Transport, CheckRedirect: c.hc.CheckRedirect, Jar: c.hc.Jar}
}

// ArchiveSeat opens a .tar.gz stream of the seat's home; the caller closes
// Body. With ifNoneMatch equal to the home's current fingerprint, the
// answer is NotModified and has no body.
func (c *Client) ArchiveSeat(ctx context.Context, workshopID string, seat int, ifNoneMatch string) (*Archive, error) {
	req, err := c.newRequest(ctx, http.MethodGet, seatPath(workshopID, seat)+"/archive", nil)
	if err != nil {
		return nil, err
	}
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", ifNoneMatch)
	}
	resp, err := c.stream().Do(req)
	if err != nil {
		return nil, fmt.Errorf("agent GET archive: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusNotModified:
		resp.Body.Close()
		return &Archive{ETag: resp.Header.Get("ETag"), NotModified: true}, nil
	case resp.StatusCode == http.StatusOK:
		return &Archive{Body: resp.Body, ETag: resp.Header.Get("ETag")}, nil
	}
	defer resp.Body.Close()
	return nil, readError(resp)
}

// RestoreSeat unpacks the .tar.gz read from body into the seat's home;
// maxBytes > 0 bounds what is unpacked (413 beyond it). With onlyIfEmpty,
// a home that has anything in it is left alone (IsNotEmpty(err)).
func (c *Client) RestoreSeat(ctx context.Context, workshopID string, seat int, body io.Reader, maxBytes int64, onlyIfEmpty bool) (*RestoreResult, error) {
	q := url.Values{}
	if maxBytes > 0 {
		q.Set("max_bytes", strconv.FormatInt(maxBytes, 10))
	}
	if onlyIfEmpty {
		q.Set("if_empty", "1")
	}
	p := seatPath(workshopID, seat) + "/restore"
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	req, err := c.newRequest(ctx, http.MethodPut, p, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/gzip")
	resp, err := c.stream().Do(req)
	if err != nil {
		return nil, fmt.Errorf("agent PUT restore: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, readError(resp)
	}
	var out RestoreResult
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out); err != nil {
		return nil, fmt.Errorf("agent PUT restore: decode answer: %w", err)
	}
	return &out, nil
}

func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	logging.SetRequestHeader(ctx, req.Header)
	return req, nil
}

// IsNotEmpty reports whether err is a restore refused because the home
// was not empty.
func IsNotEmpty(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusConflict && e.Code == "not_empty"
}

// readError turns a non-2xx answer into *Error.
func readError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return errorFrom(resp.StatusCode, data)
}

// errorFrom is the *Error of a non-2xx answer with body data: the apierror
// envelope's code and message, else the body's first 200 bytes, else the
// status text.
func errorFrom(status int, data []byte) *Error {
	e := &Error{Status: status}
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &env) == nil && env.Error.Code != "" {
		e.Code, e.Message = env.Error.Code, env.Error.Message
	} else {
		e.Message = strings.TrimSpace(string(data))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200]
		}
		if e.Message == "" {
			e.Message = http.StatusText(status)
		}
	}
	return e
}
