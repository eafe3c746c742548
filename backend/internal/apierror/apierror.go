// Package apierror is the one error type of ClaraTeach's HTTP APIs (control
// plane, agent and workspace daemon) and the helpers that read bounded JSON
// request bodies and write JSON responses.
//
// Every error leaves the server as
//
//	{"error":{"code":"not_found","message":"workshop not found"}}
//
// with a matching HTTP status.
package apierror

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// Error is an error that knows the HTTP status and the machine-readable code
// it should be reported with.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// Details carries machine-readable facts the message mentions (e.g.
	// a time, which a client shows in its viewer's time zone).
	Details map[string]any `json:"details,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// WithDetails returns a copy of e with details set.
func (e *Error) WithDetails(d map[string]any) *Error {
	c := *e
	c.Details = d
	return &c
}

// New returns an Error with the given status, code and message.
func New(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Constructors for the statuses the APIs use.
func BadRequest(format string, args ...any) *Error {
	return New(http.StatusBadRequest, "bad_request", format, args...)
}
func Invalid(format string, args ...any) *Error {
	return New(http.StatusBadRequest, "invalid", format, args...)
}
func Unauthorized(format string, args ...any) *Error {
	return New(http.StatusUnauthorized, "unauthorized", format, args...)
}
func Forbidden(format string, args ...any) *Error {
	return New(http.StatusForbidden, "forbidden", format, args...)
}
func NotFound(format string, args ...any) *Error {
	return New(http.StatusNotFound, "not_found", format, args...)
}
func Conflict(code, format string, args ...any) *Error {
	return New(http.StatusConflict, code, format, args...)
}
func Gone(format string, args ...any) *Error {
	return New(http.StatusGone, "gone", format, args...)
}
func TooLarge(format string, args ...any) *Error {
	return New(http.StatusRequestEntityTooLarge, "too_large", format, args...)
}
func TooManyRequests(format string, args ...any) *Error {
	return New(http.StatusTooManyRequests, "rate_limited", format, args...)
}
func Unavailable(format string, args ...any) *Error {
	return New(http.StatusServiceUnavailable, "unavailable", format, args...)
}

// Write sends err as a JSON error response. Errors that are not *Error are
// logged and reported as a 500 without leaking their text.
func Write(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		slog.ErrorContext(r.Context(), "internal error", "err", err, "method", r.Method, "path", r.URL.Path)
		e = New(http.StatusInternalServerError, "internal", "internal server error")
	}
	if e.Status == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "60")
	}
	JSON(w, e.Status, map[string]*Error{"error": e})
}

// HandlerFunc is an HTTP handler that returns its error instead of writing
// it: ServeHTTP writes a non-nil error with Write (a handler that already
// sent its status, e.g. a stream cut short, returns nil). It is the one
// adapter of the control plane's, the agent's and the workspace daemon's
// handlers.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// ServeHTTP calls h and writes its error.
func (h HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h(w, r); err != nil {
		Write(w, r, err)
	}
}

// JSON writes v as a JSON response with the given status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if v == nil {
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

// DefaultBodyLimit bounds JSON request bodies unless a handler says otherwise.
const DefaultBodyLimit = 64 << 10

// Decode reads a JSON body of at most limit bytes (DefaultBodyLimit when
// limit <= 0) into v. Unknown fields, trailing data, a wrong content type and
// oversized bodies are reported as *Error values with 400/413/415 status.
func Decode(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	if limit <= 0 {
		limit = DefaultBodyLimit
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return New(http.StatusUnsupportedMediaType, "unsupported_media_type", "request body must be application/json")
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	// What the decoder read is kept for the duplicate-key check.
	var seen bytes.Buffer
	dec := json.NewDecoder(io.TeeReader(body, &seen))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooBig):
			return TooLarge("request body is larger than %d bytes", limit)
		case errors.Is(err, io.EOF):
			return BadRequest("request body is empty; expected a JSON object")
		case errors.As(err, &syntax):
			return BadRequest("request body is not valid JSON (at byte %d)", syntax.Offset)
		case errors.As(err, &typ):
			return BadRequest("field %q must be of type %s", typ.Field, typ.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return BadRequest("%s", strings.TrimPrefix(err.Error(), "json: "))
		default:
			return BadRequest("cannot read request body: %v", err)
		}
	}
	if dec.More() {
		return BadRequest("request body must contain a single JSON object")
	}
	if _, err := io.Copy(io.Discard, body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return TooLarge("request body is larger than %d bytes", limit)
		}
	}
	if key, ok := duplicateKey(seen.Bytes()); ok {
		return BadRequest("duplicate key %q in request body", key)
	}
	return nil
}

// duplicateKey finds the first object key that appears twice in the same
// object of a valid JSON document. Keys are compared case-insensitively,
// because encoding/json matches fields that way: {"name":1,"Name":2} would
// silently keep the last one.
func duplicateKey(doc []byte) (string, bool) {
	sc := dupScanner{b: doc}
	if key, ok := sc.value(); ok {
		return key, key != ""
	}
	// A key with an escape or a non-ASCII byte (whose lower case may
	// match an ASCII one's), or a very wide object: decoded token by token.
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	key, _ := dupIn(dec)
	return key, key != ""
}

// dupScanner is duplicateKey's fast path: one pass over the bytes of a
// JSON value already known to be valid, without decoding it, comparing
// each object's keys as bytes (ASCII case folded, as strings.ToLower
// folds them). It answers as dupIn would, or not at all (ok false) where a
// key has an escape or a byte outside ASCII, or an object has more keys
// than it compares one against another.
type dupScanner struct {
	b []byte
	i int
}

// dupScanMaxKeys bounds the keys of one object the fast path compares
// pairwise.
const dupScanMaxKeys = 64

func (s *dupScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value scans one value and returns the first duplicate key in it, in the
// order dupIn reads them (a key before its value).
func (s *dupScanner) value() (key string, ok bool) {
	s.space()
	if s.i >= len(s.b) {
		return "", false
	}
	switch s.b[s.i] {
	case '{':
		return s.object()
	case '[':
		return s.array()
	case '"':
		_, ok := s.str(false)
		return "", ok
	}
	for s.i < len(s.b) { // a number, true, false or null
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return "", true
		}
		s.i++
	}
	return "", true
}

func (s *dupScanner) object() (string, bool) {
	s.i++ // {
	var buf [16][]byte
	keys := buf[:0]
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return "", true
	}
	for {
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != '"' || len(keys) == dupScanMaxKeys {
			return "", false
		}
		k, ok := s.str(true)
		if !ok {
			return "", false
		}
		for _, p := range keys {
			if asciiEqualFold(p, k) {
				return string(k), true
			}
		}
		keys = append(keys, k)
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return "", false
		}
		s.i++
		if key, ok := s.value(); !ok || key != "" {
			return key, ok
		}
		s.space()
		if s.i >= len(s.b) {
			return "", false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return "", true
		default:
			return "", false
		}
	}
}

func (s *dupScanner) array() (string, bool) {
	s.i++ // [
	s.space()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return "", true
	}
	for {
		if key, ok := s.value(); !ok || key != "" {
			return key, ok
		}
		s.space()
		if s.i >= len(s.b) {
			return "", false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return "", true
		default:
			return "", false
		}
	}
}

// str scans the string at s.i and returns its bytes between the quotes.
// As a key (asKey), one with an escape or a byte outside ASCII is not
// ok: its decoded, lower-cased form is not its bytes.
func (s *dupScanner) str(asKey bool) ([]byte, bool) {
	s.i++ // "
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], true
		case c == '\\':
			if asKey {
				return nil, false
			}
			s.i += 2
		case c >= 0x80 && asKey:
			return nil, false
		default:
			s.i++
		}
	}
	return nil, false
}

// asciiEqualFold reports whether two ASCII strings are equal once
// strings.ToLower has folded A-Z.
func asciiEqualFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// dupIn reads one value from dec and returns the first duplicate key in it.
func dupIn(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	d, ok := tok.(json.Delim)
	if !ok || (d != '{' && d != '[') {
		return "", nil
	}
	seen := map[string]bool{}
	for dec.More() {
		if d == '{' {
			k, err := dec.Token()
			if err != nil {
				return "", err
			}
			name, _ := k.(string)
			folded := strings.ToLower(name)
			if seen[folded] {
				return name, nil
			}
			seen[folded] = true
		}
		if key, err := dupIn(dec); key != "" || err != nil {
			return key, err
		}
	}
	_, err = dec.Token() // the closing delimiter
	return "", err
}
