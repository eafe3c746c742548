// Package webui serves the built web app (frontend/dist, copied here by
// `make web`) with client-side routes falling back to index.html.
package webui

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed all:dist
var dist embed.FS

// FS is the embedded build (may hold only a placeholder).
func FS() fs.FS {
	sub, _ := fs.Sub(dist, "dist")
	return sub
}

const placeholder = `<!doctype html><html><head><meta charset="utf-8"><title>ClaraTeach</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:4em auto">
<h1>ClaraTeach</h1><p>The API is running, but this server was built without the web app.
Run <code>make web</code> (or <code>make dev</code>) to build and embed it, or use
<code>./scripts/start-frontend.sh</code> for the development server on port 5173.</p></body></html>`

// Handler serves files from fsys; unknown paths without a file extension get
// index.html so that client-side routes work after a reload.
func Handler(fsys fs.FS) http.Handler {
	index, err := fs.ReadFile(fsys, "index.html")
	if err != nil {
		index = []byte(placeholder)
	}
	files := http.FileServerFS(fsys)
	modTime := time.Now()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if p != "" && p != "index.html" {
			if fi, err := fs.Stat(fsys, p); err == nil && !fi.IsDir() {
				if strings.HasPrefix(p, "assets/") {
					w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
				}
				files.ServeHTTP(w, r)
				return
			}
			if path.Ext(p) != "" {
				http.NotFound(w, r)
				return
			}
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		http.ServeContent(w, r, "index.html", modTime, bytes.NewReader(index))
	})
}
