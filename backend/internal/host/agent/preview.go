package agent

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/seat/workspace"
)

// PreviewTokenHeader carries the workspace token of a preview request
// (the control plane's, minted for the hop). It is a header of its own,
// not ?token= or Authorization, because the learner's app owns its query
// and its Authorization header; and a browser cannot send it on a
// navigation, so the agent's own origin never serves a learner's app.
const PreviewTokenHeader = "X-Workspace-Token"

type previewTargetKey struct{}

// handlePreview serves /proxy/{ws}/{seat}/preview/{port}: a request for
// the app on PORT inside the seat (its path in X-Preview-Path), passed to
// the seat's daemon with the app's own headers (cookies, Authorization,
// Origin) and answers (CORS included) untouched. No CORS of the agent's:
// browsers reach previews only through the control plane's preview
// origin.
func (a *Agent) handlePreview(w http.ResponseWriter, r *http.Request) error {
	k, err := a.pathSeat(r)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(r.PathValue("port"))
	if err != nil || port < 1 || port > 65535 {
		return apierror.Invalid("port must be 1..65535")
	}
	tok := r.Header.Get(PreviewTokenHeader)
	r.Header.Del(PreviewTokenHeader)
	if tok == "" {
		return apierror.Unauthorized("a workspace token is required (" + PreviewTokenHeader + ")")
	}
	claims, err := a.seatClaims(k, tok)
	if err != nil {
		return err
	}
	seat, host := a.lookup(k)
	if seat == nil {
		return apierror.NotFound("seat %s not found", k)
	}
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
	target := &url.URL{Scheme: "http", Host: host, Path: "/preview/" + strconv.Itoa(port)}
	ctx = context.WithValue(ctx, previewTargetKey{}, target)
	a.preview.ServeHTTP(&proxyWriter{ResponseWriter: w, a: a, lc: lc}, r.WithContext(ctx))
	return nil
}

func (a *Agent) newPreviewProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Transport:     a.tr,
		FlushInterval: -1,
		Rewrite: func(pr *httputil.ProxyRequest) {
			t, _ := pr.In.Context().Value(previewTargetKey{}).(*url.URL)
			pr.Out.URL = t
			pr.Out.Host = "workspace"
			// The control plane's forwarded headers name the public origin
			// for the app (Rewrite starts without them).
			for _, h := range []string{"X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-For", workspace.PreviewPathHeader} {
				if v := pr.In.Header.Get(h); v != "" {
					pr.Out.Header.Set(h, v)
				}
			}
		},
		ErrorHandler: a.daemonProxyError("preview"),
	}
}
