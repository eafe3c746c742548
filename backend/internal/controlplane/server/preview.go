package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/logging"
	"github.com/clarateach/backend/internal/seat/workspace"
)

// The preview origin: a learner's web app (a dev server in the seat) is
// untrusted content, so it is served only from an origin of its own,
// {port}-{seat}-{workshop}.PREVIEW_DOMAIN, never from the app's. Nothing
// of the app's origin is served there (no API, no web app, no session
// cookie), and the preview's credential is a preview-scoped token in a
// cookie of that one host:
//
//	GET /__clarateach/open?t=TOKEN[&next=/path]   exchange a short-lived open token for the cookie
//	GET /__clarateach/share/{id}/{secret}         a share link: a cookie for its port
//	anything else                                 the app, through the agent and the seat's daemon

// Preview credential lifetimes.
const (
	previewOpenTTL   = 2 * time.Minute // the link the API hands out
	previewCookieTTL = 2 * time.Hour   // the cookie (a learner's is also checked against the seat's generation on every request)
	previewShareTTL  = 12 * time.Hour  // a share link's cookie (the share row is checked on every request)
	previewHopTTL    = time.Minute     // the workspace token minted for the agent hop
)

// previewReserved is the path prefix the preview origin keeps for itself.
const previewReserved = "/__clarateach/"

// previewTarget is one port of one seat, named by a preview host.
type previewTarget struct {
	ws         string
	seat, port int
}

// parsePreviewHost reads {port}-{seat}-{workshop}.DOMAIN[:port].
func (s *Server) parsePreviewHost(host string) (previewTarget, bool) {
	d := s.cfg.PreviewDomain
	if d == "" {
		return previewTarget{}, false
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	label, ok := strings.CutSuffix(strings.ToLower(host), "."+d)
	if !ok || strings.Contains(label, ".") {
		return previewTarget{}, false
	}
	parts := strings.SplitN(label, "-", 3)
	if len(parts) != 3 || parts[2] == "" {
		return previewTarget{}, false
	}
	port, err1 := strconv.Atoi(parts[0])
	seat, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || port < 1 || port > 65535 || seat < 1 {
		return previewTarget{}, false
	}
	return previewTarget{ws: parts[2], seat: seat, port: port}, true
}

// previewDispatch sends requests for a preview host to the preview
// handler when previews share the main listener (production: one port
// behind the load balancer); other requests go to next.
func (s *Server) previewDispatch(next http.Handler) http.Handler {
	if s.cfg.PreviewDomain == "" || s.cfg.PreviewListen != "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.parsePreviewHost(r.Host); ok {
			s.previewHandler.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// PreviewHandler serves the preview origin (the PREVIEW_LISTEN listener).
func (s *Server) PreviewHandler() http.Handler { return s.previewHandler }

func (s *Server) newPreviewHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := authtoken.Random(8)
		r = r.WithContext(logging.WithRequestID(r.Context(), id))
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		err := s.servePreview(sw, r)
		if err != nil {
			var pe *previewErr
			if !errors.As(err, &pe) {
				s.log.ErrorContext(r.Context(), "preview", "host", r.Host, "err", err)
				pe = &previewErr{http.StatusInternalServerError, "Preview failed", "Something went wrong on our side."}
			}
			previewErrorPage(sw, pe)
		}
		s.log.DebugContext(r.Context(), "preview request", "host", r.Host, "method", r.Method, "status", sw.code(),
			"duration_ms", time.Since(start).Milliseconds())
	})
}

// previewErr is an answer of the preview origin: an HTML page, never the
// API's JSON (people read it in a tab or a pane).
type previewErr struct {
	status     int
	title, msg string
}

func (e *previewErr) Error() string { return e.title + ": " + e.msg }

func previewErrorPage(w http.ResponseWriter, e *previewErr) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.status)
	fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><title>%s</title>
<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}h1{font-size:1.4em}p{color:#555}</style>
</head><body><h1>%s</h1><p>%s</p><p><small>ClaraTeach preview</small></p></body></html>
`, html.EscapeString(e.title), html.EscapeString(e.title), html.EscapeString(e.msg))
}

// previewFromAPI turns an API error (of the checks shared with the relay)
// into a page.
func previewFromAPI(err error) error {
	var ae *apierror.Error
	if errors.As(err, &ae) {
		return &previewErr{ae.Status, http.StatusText(ae.Status), ae.Message}
	}
	return err
}

func (s *Server) servePreview(w http.ResponseWriter, r *http.Request) error {
	t, ok := s.parsePreviewHost(r.Host)
	if !ok {
		return &previewErr{http.StatusNotFound, "No such preview", "This address names no preview."}
	}
	switch {
	case r.URL.Path == previewReserved+"open":
		return s.previewOpen(w, r, t)
	case strings.HasPrefix(r.URL.Path, previewReserved+"share/"):
		return s.previewShareOpen(w, r, t)
	case strings.HasPrefix(r.URL.Path, previewReserved):
		return &previewErr{http.StatusNotFound, "Not found", "No such preview page."}
	}
	c, err := r.Cookie(s.previewCookieName())
	if err != nil {
		return &previewErr{http.StatusUnauthorized, "Open this preview from ClaraTeach",
			"Previews open from the workspace's ports panel (or the class view), which signs you in to this address."}
	}
	claims, err := authtoken.VerifyPreview(authtoken.PreviewKey(s.wsKey, t.ws), c.Value, t.ws, t.seat, t.port, authtoken.PreviewCookie, s.now())
	switch {
	case errors.Is(err, authtoken.ErrMismatch):
		return &previewErr{http.StatusForbidden, "Not your preview", "This sign-in is for another preview."}
	case err != nil:
		return &previewErr{http.StatusUnauthorized, "Your preview sign-in has expired", "Open the preview again from ClaraTeach."}
	}
	gen, err := s.previewAllowed(r.Context(), t, claims)
	if err != nil {
		return err
	}
	return s.previewForward(w, r, t, claims.Role, gen)
}

// previewAllowed checks, per request, that a cookie's grant still holds:
// a learner's seat is still theirs (its generation), a share still exists
// for a seat still held at the share's generation. Instructors' cookies
// are short-lived. It returns the generation the agent hop carries.
func (s *Server) previewAllowed(ctx context.Context, t previewTarget, c *authtoken.PreviewClaims) (int64, error) {
	switch c.Role {
	case "learner":
		if _, err := s.seatAtGeneration(ctx, t.ws, t.seat, c.Gen); err != nil {
			return 0, previewFromAPI(err)
		}
	case "share":
		sh, err := s.st.GetPreviewShare(ctx, c.Share)
		if err != nil || sh.WorkshopID != t.ws || sh.Seat != t.seat || sh.Port != t.port {
			return 0, &previewErr{http.StatusGone, "This share link was revoked", "Ask for a new link."}
		}
		if _, err := s.seatAtGeneration(ctx, t.ws, t.seat, sh.Generation); err != nil {
			return 0, &previewErr{http.StatusGone, "This share link has ended", "The seat it shared has a new learner or was revoked."}
		}
		return sh.Generation, nil
	}
	return c.Gen, nil
}

// previewForward passes the request to the seat's agent, as
// /proxy/{ws}/{seat}/preview/{port}, with a workspace token minted for
// the hop.
func (s *Server) previewForward(w http.ResponseWriter, r *http.Request, t previewTarget, role string, gen int64) error {
	target, rt, err := s.relayAgent(r.Context(), t.ws, t.seat)
	if err != nil {
		return previewFromAPI(err)
	}
	if role == "share" {
		role = "viewer"
	}
	hop, _, err := authtoken.Issue(authtoken.WorkshopKey(s.wsKey, t.ws), t.ws, t.seat, role, gen, previewHopTTL, s.now())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer s.live.track(t.ws, t.seat, gen, cancel)()
	r.Body = http.MaxBytesReader(w, r.Body, maxRelayBody)
	s.previewProxy(t, target, rt, hop).ServeHTTP(w, r.WithContext(ctx))
	return nil
}

func (s *Server) previewProxy(t previewTarget, target *url.URL, rt http.RoundTripper, hop string) *httputil.ReverseProxy {
	cookie := s.previewCookieName()
	return &httputil.ReverseProxy{
		Transport:     rt,
		FlushInterval: -1,
		Rewrite: func(pr *httputil.ProxyRequest) {
			in := pr.In
			pr.SetURL(target)
			pr.Out.URL.Path = strings.TrimRight(target.Path, "/") + "/proxy/" + url.PathEscape(t.ws) + "/" + strconv.Itoa(t.seat) + "/preview/" + strconv.Itoa(t.port)
			pr.Out.URL.RawPath, pr.Out.URL.RawQuery = "", ""
			pr.Out.Host = target.Host
			pr.Out.Header.Set(workspace.PreviewPathHeader, in.URL.RequestURI())
			pr.Out.Header.Set("X-Workspace-Token", hop)
			logging.SetRequestHeader(in.Context(), pr.Out.Header)
			dropCookie(pr.Out.Header, cookie)
			pr.Out.Header.Set("X-Forwarded-Host", in.Host)
			pr.Out.Header.Set("X-Forwarded-Proto", s.previewScheme())
			// The app sees its own same-origin requests as coming from the
			// address it listens on (dev servers check WebSocket origins).
			if o := in.Header.Get("Origin"); o != "" && strings.EqualFold(o, s.previewScheme()+"://"+in.Host) {
				pr.Out.Header.Set("Origin", "http://localhost:"+strconv.Itoa(t.port))
			}
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return
			}
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				previewErrorPage(w, &previewErr{http.StatusRequestEntityTooLarge, "Request too large", err.Error()})
				return
			}
			s.log.WarnContext(r.Context(), "preview to agent failed", "workshop", t.ws, "seat", t.seat, "err", err)
			previewErrorPage(w, &previewErr{http.StatusBadGateway, "The workshop's machine did not answer", "Try again in a moment."})
		},
	}
}

// dropCookie removes one cookie from a request's Cookie headers.
func dropCookie(h http.Header, name string) {
	var keep []string
	for _, line := range h.Values("Cookie") {
		for _, part := range strings.Split(line, ";") {
			if n, _, _ := strings.Cut(strings.TrimSpace(part), "="); n != name && strings.TrimSpace(part) != "" {
				keep = append(keep, strings.TrimSpace(part))
			}
		}
	}
	h.Del("Cookie")
	if len(keep) > 0 {
		h.Set("Cookie", strings.Join(keep, "; "))
	}
}

// previewScheme is https unless local mode serves plain HTTP.
func (s *Server) previewScheme() string {
	if o := s.cfg.PreviewOrigin("x", 1, 1); strings.HasPrefix(o, "http://") {
		return "http"
	}
	return "https"
}

// previewSecure: cookies may be Secure (https, or *.localhost, which
// browsers treat as a secure context).
func (s *Server) previewSecure() bool {
	return s.previewScheme() == "https" || s.cfg.PreviewDomain == "localhost"
}

// previewCookieName is __Host-ct_preview where the browser enforces the
// prefix (a Secure, host-only cookie: another preview host cannot plant
// one), else ct_preview.
func (s *Server) previewCookieName() string {
	if s.previewSecure() {
		return "__Host-ct_preview"
	}
	return "ct_preview"
}

// setPreviewCookie sets the preview cookie for this host only. It is
// SameSite=None and Partitioned where it can be Secure, so the preview
// also works in the workspace's pane (an iframe on another site), in a
// cookie jar of that embedding site's own.
func (s *Server) setPreviewCookie(w http.ResponseWriter, value string, exp time.Time) {
	c := &http.Cookie{Name: s.previewCookieName(), Value: value, Path: "/", Expires: exp, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if s.previewSecure() {
		c.Secure, c.SameSite, c.Partitioned = true, http.SameSiteNoneMode, true
	}
	http.SetCookie(w, c)
}

// previewOpen exchanges an open token (from the API) for the cookie and
// goes on to next (a path of this origin).
func (s *Server) previewOpen(w http.ResponseWriter, r *http.Request, t previewTarget) error {
	q := r.URL.Query()
	claims, err := authtoken.VerifyPreview(authtoken.PreviewKey(s.wsKey, t.ws), q.Get("t"), t.ws, t.seat, t.port, authtoken.PreviewOpen, s.now())
	switch {
	case errors.Is(err, authtoken.ErrMismatch):
		return &previewErr{http.StatusForbidden, "Not your preview", "This link is for another preview."}
	case err != nil:
		return &previewErr{http.StatusUnauthorized, "This preview link has expired", "Open the preview again from ClaraTeach."}
	}
	if _, err := s.previewAllowed(r.Context(), t, claims); err != nil {
		return err
	}
	c := *claims
	c.Use = authtoken.PreviewCookie
	tok, exp, err := authtoken.IssuePreview(authtoken.PreviewKey(s.wsKey, t.ws), c, previewCookieTTL, s.now())
	if err != nil {
		return err
	}
	s.setPreviewCookie(w, tok, exp)
	next := q.Get("next")
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.HasPrefix(next, previewReserved) {
		next = "/"
	}
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// previewShareOpen opens a share link: /__clarateach/share/{id}/{secret}.
func (s *Server) previewShareOpen(w http.ResponseWriter, r *http.Request, t previewTarget) error {
	id, secret, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, previewReserved+"share/"), "/")
	sh, err := s.st.GetPreviewShare(r.Context(), id)
	sum := sha256.Sum256([]byte(secret))
	if err != nil || secret == "" || sh.WorkshopID != t.ws || sh.Seat != t.seat || sh.Port != t.port ||
		!authtoken.Equal(hex.EncodeToString(sum[:]), sh.SecretHash) {
		return &previewErr{http.StatusNotFound, "No such share link", "This link was revoked, or never existed."}
	}
	c := authtoken.PreviewClaims{WorkshopID: t.ws, Seat: t.seat, Port: t.port, Role: "share", Gen: sh.Generation, Share: sh.ID, Use: authtoken.PreviewCookie}
	if _, err := s.previewAllowed(r.Context(), t, &c); err != nil {
		return err
	}
	tok, exp, err := authtoken.IssuePreview(authtoken.PreviewKey(s.wsKey, t.ws), c, previewShareTTL, s.now())
	if err != nil {
		return err
	}
	s.setPreviewCookie(w, tok, exp)
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}
