package server

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// web holds the page: plain HTML, CSS and JavaScript, no build step and
// nothing fetched from elsewhere.
//
//go:embed web
var web embed.FS

var webFiles, _ = fs.Sub(web, "web")

func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimPrefix(r.URL.Path, "/")
	if name == "" {
		name = "index.html"
	}
	if _, err := fs.Stat(webFiles, name); err != nil || strings.HasPrefix(name, ".") {
		return errorf(http.StatusNotFound, "no page %s", r.URL.Path)
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	http.ServeFileFS(w, r, webFiles, name)
	return nil
}
