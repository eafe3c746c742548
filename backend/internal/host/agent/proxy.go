package agent

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/connlimit"
)

// proxyTarget travels in the request context from handleProxy to the
// reverse proxy's Rewrite.
type proxyTarget struct {
	host  string // the seat's proxy host name (resolved by dialSeat)
	path  string // path on the daemon, e.g. "/files/content"
	query url.Values
}

type targetKey struct{}

// allowedProxyPath reports whether rest (the path after /proxy/{ws}/{seat}/)
// is one the workspace daemon serves to learners.
func allowedProxyPath(rest string) bool {
	for _, p := range []string{"terminal", "sessions", "files", "ports"} {
		if rest == p || strings.HasPrefix(rest, p+"/") {
			return true
		}
	}
	return false
}

// CORS preflight answers.
const (
	corsMethods = "GET, POST, PUT, DELETE, OPTIONS"
	corsHeaders = "Authorization, Content-Type"
	corsMaxAge  = "600"
)

// originAllowed reports whether origin may call the proxy from a browser.
func (a *Agent) originAllowed(origin string) bool {
	if origin == "" {
		return false
	}
	for _, o := range a.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(strings.TrimRight(o, "/"), origin) {
			return true
		}
	}
	return false
}

// originListed reports whether origin is named in AllowedOrigins (not only
// matched by "*").
func (a *Agent) originListed(origin string) bool {
	for _, o := range a.cfg.AllowedOrigins {
		if o != "*" && strings.EqualFold(strings.TrimRight(o, "/"), origin) {
			return true
		}
	}
	return false
}

// setCORS sets the CORS headers of a proxy answer. The allowed origin is
// echoed (never "*"), so credentials stay possible.
func (a *Agent) setCORS(h http.Header, r *http.Request, preflight bool) {
	h.Add("Vary", "Origin")
	if origin := r.Header.Get("Origin"); a.originAllowed(origin) {
		h.Set("Access-Control-Allow-Origin", origin)
		// Credentials only for origins named one by one: "*" never
		// comes with credentials (tokens travel in headers anyway).
		if a.originListed(origin) {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
	}
	if preflight {
		h.Set("Access-Control-Allow-Methods", corsMethods)
		h.Set("Access-Control-Allow-Headers", corsHeaders)
		h.Set("Access-Control-Max-Age", corsMaxAge)
	} else {
		h.Set("Access-Control-Expose-Headers", "Content-Disposition, Content-Length")
	}
}

// workspaceKey returns the key that signs workshop ws's workspace tokens.
func (a *Agent) workspaceKey(ws string) []byte {
	if len(a.cfg.WorkspaceKey) > 0 {
		return a.cfg.WorkspaceKey
	}
	if len(a.cfg.WorkspaceSecret) > 0 {
		return authtoken.WorkshopKey(a.cfg.WorkspaceSecret, ws)
	}
	return nil
}

// seatClaims verifies a workspace token for seat k: 403 when it is for
// another seat, 401 when it is not valid.
func (a *Agent) seatClaims(k seatKey, tok string) (*authtoken.Claims, error) {
	key := a.workspaceKey(k.ws)
	if key == nil {
		return nil, apierror.Unavailable("this agent has no workspace-token key configured")
	}
	claims, err := authtoken.Verify(key, tok, k.ws, k.seat, a.now())
	switch {
	case errors.Is(err, authtoken.ErrMismatch):
		return nil, apierror.Forbidden("the workspace token is for another seat")
	case errors.Is(err, authtoken.ErrExpired):
		return nil, apierror.Unauthorized("the workspace token has expired")
	case err != nil:
		return nil, apierror.Unauthorized("invalid workspace token")
	}
	return claims, nil
}

func (a *Agent) handleProxy(w http.ResponseWriter, r *http.Request) error {
	// Clean the daemon path (it arrives unescaped: %2F.. must not climb).
	rest := strings.TrimPrefix(path.Clean("/"+r.PathValue("rest")), "/")
	if r.Method == http.MethodOptions {
		a.setCORS(w.Header(), r, true)
		w.WriteHeader(http.StatusOK)
		return nil
	}
	a.setCORS(w.Header(), r, false)
	k, err := a.pathSeat(r)
	if err != nil {
		return err
	}
	if !allowedProxyPath(rest) {
		return apierror.NotFound("no proxy route %q", "/"+rest)
	}

	// Workspace token: ?token= (WebSockets cannot set headers) or Bearer.
	q := r.URL.Query()
	tok := q.Get("token")
	q.Del("token")
	if tok == "" {
		tok, _ = bearer(r)
	}
	if tok == "" {
		return apierror.Unauthorized("a workspace token is required (?token= or Authorization: Bearer)")
	}
	claims, err := a.seatClaims(k, tok)
	if err != nil {
		return err
	}
	switch claims.Role {
	case "viewer":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return apierror.Forbidden("a viewer token is read-only")
		}
		if rest == "terminal" {
			q.Set("mode", "ro")
		}
	case "", "learner", "instructor":
	default:
		return apierror.Forbidden("unknown role %q", claims.Role)
	}

	seat, host := a.lookup(k)
	if seat == nil {
		return apierror.NotFound("seat %s not found", k)
	}
	if rest == "terminal" && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		release, err := a.terms.Acquire(tok, k.String())
		if err != nil {
			connlimit.RefuseWebSocket(w, r, connlimit.CloseTooManyConnections, err.Error())
			return nil
		}
		defer release()
	}

	// Check the token's generation and track the request (so Disconnect
	// and DELETE can cut it) in one step under a.mu, which Disconnect
	// holds to raise the minimum: no revoked token slips in between.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	lc := &liveConn{cancel: cancel, gen: claims.Gen}
	if !a.trackConnAt(k, lc) {
		return apierror.Unauthorized("the workspace token was revoked")
	}
	defer a.untrackConn(k, lc)

	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &countingBody{ReadCloser: http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes), m: a.metrics}
	}
	ctx = context.WithValue(ctx, targetKey{}, &proxyTarget{host: host, path: "/" + rest, query: q})
	pw := &proxyWriter{ResponseWriter: w, a: a, lc: lc}
	a.proxy.ServeHTTP(pw, r.WithContext(ctx))
	return nil
}

func (a *Agent) newReverseProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Transport:     a.tr,
		FlushInterval: -1, // terminal and streaming answers go out at once
		Rewrite: func(pr *httputil.ProxyRequest) {
			t, _ := pr.In.Context().Value(targetKey{}).(*proxyTarget)
			if t == nil {
				return
			}
			pr.Out.URL = &url.URL{Scheme: "http", Host: t.host, Path: t.path, RawQuery: t.query.Encode()}
			pr.Out.Host = "workspace"
			// The daemon trusts the agent; learners' credentials and browser
			// headers stop here (the daemon's WebSocket origin check would
			// otherwise compare the browser's Origin with "workspace").
			for _, h := range []string{"Authorization", "Cookie", "Origin", "Referer"} {
				pr.Out.Header.Del(h)
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			// CORS is the agent's business, not the daemon's.
			for h := range resp.Header {
				if strings.HasPrefix(strings.ToLower(h), "access-control-") {
					resp.Header.Del(h)
				}
			}
			return nil
		},
		ErrorHandler: a.daemonProxyError("proxy"),
	}
}

// liveConn is one proxied request; conn is set once it is hijacked (WebSocket).
type liveConn struct {
	cancel context.CancelFunc
	gen    int64 // the token's generation
	mu     sync.Mutex
	conn   net.Conn
	closed bool
}

func (lc *liveConn) setConn(c net.Conn) bool {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.closed {
		return false
	}
	lc.conn = c
	return true
}

func (lc *liveConn) close() {
	lc.cancel()
	lc.mu.Lock()
	lc.closed = true
	c := lc.conn
	lc.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// trackConnAt tracks lc unless its token generation is below the seat's
// minimum (then it reports false).
func (a *Agent) trackConnAt(k seatKey, lc *liveConn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if lc.gen < a.minGen[k] {
		return false
	}
	m := a.conns[k]
	if m == nil {
		m = map[*liveConn]struct{}{}
		a.conns[k] = m
	}
	m[lc] = struct{}{}
	return true
}

func (a *Agent) untrackConn(k seatKey, lc *liveConn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if m := a.conns[k]; m != nil {
		delete(m, lc)
		if len(m) == 0 {
			delete(a.conns, k)
		}
	}
}

// closeConns cuts every live proxied connection of seat k.
func (a *Agent) closeConns(k seatKey) int {
	a.mu.Lock()
	m := a.conns[k]
	delete(a.conns, k)
	a.mu.Unlock()
	for lc := range m {
		lc.close()
	}
	return len(m)
}

// closeConnsBelow cuts the live connections of seat k whose token
// generation is below minGen.
func (a *Agent) closeConnsBelow(k seatKey, minGen int64) int {
	var cut []*liveConn
	a.mu.Lock()
	for lc := range a.conns[k] {
		if lc.gen < minGen {
			cut = append(cut, lc)
			delete(a.conns[k], lc)
		}
	}
	if len(a.conns[k]) == 0 {
		delete(a.conns, k)
	}
	a.mu.Unlock()
	for _, lc := range cut {
		lc.close()
	}
	return len(cut)
}

func (a *Agent) closeAllConns() {
	a.mu.Lock()
	all := a.conns
	a.conns = map[seatKey]map[*liveConn]struct{}{}
	a.mu.Unlock()
	for _, m := range all {
		for lc := range m {
			lc.close()
		}
	}
}

// proxyWriter counts bytes sent to the client and records hijacked
// connections.
type proxyWriter struct {
	http.ResponseWriter
	a  *Agent
	lc *liveConn
}

func (w *proxyWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.a.metrics.bytesOut.Add(float64(n))
	return n, err
}

func (w *proxyWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *proxyWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// A hijacked connection carries no server deadlines from here on.
	_ = c.SetDeadline(time.Time{})
	cc := &countingConn{Conn: c, m: w.a.metrics}
	if !w.lc.setConn(cc) {
		c.Close()
		return nil, nil, errors.New("connection revoked")
	}
	return cc, brw, nil
}

func (w *proxyWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingConn counts WebSocket bytes in both directions.
type countingConn struct {
	net.Conn
	m *metrics
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.m.bytesIn.Add(float64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.m.bytesOut.Add(float64(n))
	return n, err
}

// ReadFrom and WriteTo are the two directions of a hijacked connection's
// copy (httputil's io.Copy between the client and the daemon): the copy
// io.Copy makes, with a buffer that starts at 4 KiB and grows to io.Copy's
// 32 KiB at the first read that fills it. io.Copy's own buffer is 32 KiB
// per direction for every WebSocket (64 KiB per terminal, cleared when
// allocated and held for the connection's life); most of a terminal's
// reads are a few bytes (keys, a prompt), and in a burst of 30 new seats
// those buffers were ~half of what the agent allocated, and drove its GC.
func (c *countingConn) ReadFrom(r io.Reader) (int64, error) {
	return copyGrowing(writerOnly{c}, r)
}

func (c *countingConn) WriteTo(w io.Writer) (int64, error) {
	if rf, ok := w.(io.ReaderFrom); ok { // as io.Copy would have
		return rf.ReadFrom(readerOnly{c})
	}
	return copyGrowing(w, readerOnly{c})
}

// writerOnly and readerOnly hide countingConn's ReadFrom and WriteTo from
// the copy they implement.
type writerOnly struct{ io.Writer }
type readerOnly struct{ io.Reader }

const (
	copyBufStart = 4 << 10
	copyBufMax   = 32 << 10 // io.Copy's
)

// copyGrowing is io.Copy's loop (same results and errors) with a buffer
// that grows from copyBufStart to copyBufMax once a read fills it.
func copyGrowing(dst io.Writer, src io.Reader) (written int64, err error) {
	buf := make([]byte, copyBufStart)
	for {
		nr, er := src.Read(buf)
		if nr > 0 {
			nw, ew := dst.Write(buf[:nr])
			if nw < 0 || nr < nw {
				nw = 0
				if ew == nil {
					ew = errInvalidWrite
				}
			}
			written += int64(nw)
			if ew != nil {
				return written, ew
			}
			if nr != nw {
				return written, io.ErrShortWrite
			}
		}
		if er != nil {
			if er == io.EOF {
				return written, nil
			}
			return written, er
		}
		if nr == len(buf) && len(buf) < copyBufMax {
			buf = make([]byte, copyBufMax)
		}
	}
}

// errInvalidWrite is io's errInvalidWrite: a Write that reported more
// bytes than it was given.
var errInvalidWrite = errors.New("invalid write result")

// countingBody counts request body bytes.
type countingBody struct {
	io.ReadCloser
	m *metrics
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.m.bytesIn.Add(float64(n))
	return n, err
}

// daemonProxyError answers a request the agent could not forward to a seat's
// workspace daemon (what names the route in the log): nothing for a client
// that went away, 413 for a body over its limit, else 502 seat_unreachable.
func (a *Agent) daemonProxyError(what string) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		if errors.Is(err, context.Canceled) {
			return
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			apierror.Write(w, r, apierror.TooLarge("request body is larger than %d bytes", tooBig.Limit))
			return
		}
		a.log.WarnContext(r.Context(), what+" to workspace daemon failed", "path", r.URL.Path, "err", err)
		apierror.Write(w, r, apierror.New(http.StatusBadGateway, "seat_unreachable", "the seat's workspace daemon did not answer"))
	}
}
