package workspace

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PreviewPathHeader carries the preview request's own path and query
// (e.g. "/src/main.ts?t=1") from the control plane through the agent to
// the daemon, so that no router on the way cleans or redirects the
// learner's app's paths: the routes themselves are fixed
// (/preview/{port} here).
const PreviewPathHeader = "X-Preview-Path"

// Preview limits.
const (
	// previewHeaderTimeout bounds the wait for the app's response headers.
	previewHeaderTimeout = 60 * time.Second
	// previewMaxResponseHeader bounds the app's response headers.
	previewMaxResponseHeader = 1 << 20
	// previewMaxResponse bounds one response body (a download); past it
	// the connection is cut.
	previewMaxResponse = 1 << 30
	// previewMaxRequest bounds one request body sent to the app.
	previewMaxRequest = 64 << 20
)

// previewDialer dials the app inside the seat: 127.0.0.1:PORT, else
// [::1]:PORT for a server that listens on IPv6 loopback only.
func previewDialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return func(ctx context.Context, _, addr string) (net.Conn, error) {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		c, err := d.DialContext(ctx, "tcp4", net.JoinHostPort("127.0.0.1", port))
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
			return c, err
		}
		c6, err6 := d.DialContext(ctx, "tcp6", net.JoinHostPort("::1", port))
		if err6 == nil {
			return c6, nil
		}
		return nil, err
	}
}

func newPreviewProxy(s *Server) *httputil.ReverseProxy {
	tr := &http.Transport{
		DialContext:            previewDialer(),
		ResponseHeaderTimeout:  previewHeaderTimeout,
		MaxResponseHeaderBytes: previewMaxResponseHeader,
		MaxIdleConnsPerHost:    8,
		IdleConnTimeout:        30 * time.Second,
		DisableCompression:     true, // pass the app's encoding through untouched
	}
	return &httputil.ReverseProxy{
		Transport:     tr,
		FlushInterval: -1, // streaming answers (server-sent events, hot reload) go out at once
		Rewrite: func(pr *httputil.ProxyRequest) {
			t, _ := pr.In.Context().Value(previewKey{}).(*previewTarget)
			pr.Out.URL = &url.URL{Scheme: "http", Host: t.hostPort, Opaque: t.uri}
			// Dev servers check Host against localhost (DNS-rebinding
			// guards, e.g. Vite's allowedHosts): the app sees the address
			// it listens on. X-Forwarded-Host names the public origin.
			pr.Out.Host = t.hostPort
			pr.Out.Header.Del(PreviewPathHeader)
		},
		ModifyResponse: func(resp *http.Response) error {
			if resp.ContentLength > previewMaxResponse {
				return fmt.Errorf("response of %d bytes is larger than %d", resp.ContentLength, previewMaxResponse)
			}
			if resp.StatusCode != http.StatusSwitchingProtocols {
				resp.Body = &capBody{ReadCloser: resp.Body, left: previewMaxResponse}
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.previewError(w, r, err)
		},
	}
}

type previewKey struct{}

type previewTarget struct {
	hostPort string // "localhost:PORT"
	uri      string // the app's request URI
}

// handlePreview serves /preview/{port}: the request (path and query in
// X-Preview-Path) goes to the app listening on PORT inside the seat.
// HTTP, streaming answers and WebSocket upgrades pass through.
func (s *Server) handlePreview(w http.ResponseWriter, r *http.Request) {
	port, err := strconv.Atoi(r.PathValue("port"))
	if err != nil || port < 1 || port > 65535 {
		previewPage(w, http.StatusBadRequest, "No such port", "The port must be a number between 1 and 65535.")
		return
	}
	if s.own[port] {
		previewPage(w, http.StatusForbidden, "Not a preview", fmt.Sprintf("Port %d is the workspace's own service.", port))
		return
	}
	uri := r.Header.Get(PreviewPathHeader)
	if uri == "" {
		uri = "/"
	}
	if !strings.HasPrefix(uri, "/") || strings.HasPrefix(uri, "//") || strings.ContainsAny(uri, " \r\n") {
		previewPage(w, http.StatusBadRequest, "Bad path", "The preview path must start with a single /.")
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, previewMaxRequest)
	}
	t := &previewTarget{hostPort: "localhost:" + strconv.Itoa(port), uri: uri}
	s.preview.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), previewKey{}, t)))
}

// previewError answers a request the app could not: a clear page when
// nothing listens on the port, 502 otherwise.
func (s *Server) previewError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	t, _ := r.Context().Value(previewKey{}).(*previewTarget)
	port := strings.TrimPrefix(t.hostPort, "localhost:")
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		previewPage(w, http.StatusRequestEntityTooLarge, "Request too large",
			fmt.Sprintf("The preview passes request bodies of at most %d MiB.", previewMaxRequest>>20))
	case errors.Is(err, syscall.ECONNREFUSED):
		previewPage(w, http.StatusBadGateway, "Nothing is listening on port "+port,
			"Start your server in the terminal (it must listen on 127.0.0.1, localhost or 0.0.0.0, port "+port+"), then reload this page.")
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		previewPage(w, http.StatusGatewayTimeout, "Your server did not answer",
			fmt.Sprintf("The server on port %s took longer than %s to answer.", port, previewHeaderTimeout))
	default:
		s.log.InfoContext(r.Context(), "preview failed", "port", port, "err", err)
		previewPage(w, http.StatusBadGateway, "Preview failed", "The server on port "+port+" broke off the answer: "+err.Error())
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// previewPage writes a small HTML error page (the browser shows it in the
// preview tab or pane).
func previewPage(w http.ResponseWriter, status int, title, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Preview-Error", strconv.Itoa(status))
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><title>%s</title>
<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}h1{font-size:1.4em}p{color:#555}</style>
</head><body><h1>%s</h1><p>%s</p><p><small>ClaraTeach preview</small></p></body></html>
`, html.EscapeString(title), html.EscapeString(title), html.EscapeString(msg))
}

// capBody cuts a response body after left bytes.
type capBody struct {
	io.ReadCloser
	left int64
}

var errResponseTooLarge = errors.New("preview: the response is larger than the preview passes")

func (b *capBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errResponseTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
