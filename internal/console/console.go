// Package console is quell's web console: static assets embedded in the
// binary (plain ES modules, no build step) and the handler that serves
// them under /ui/ with a strict Content-Security-Policy.
//
// The console holds no data of its own: it signs in with a bearer token
// (kept in the tab's session storage) and reads and acts through the
// authenticated HTTP API (/v1/...), live updates through GET /v1/stream.
// It makes no request to any other origin.
package console

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// CSP allows only the console's own scripts, styles and API calls.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the console's files under prefix (e.g. "/ui/").
func Handler(prefix string) http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic("console: embedded assets: " + err.Error()) // the embed directive guarantees the directory
	}
	files := http.StripPrefix(prefix, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
