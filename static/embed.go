package static

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// files holds the assets. vendor/README.md is deliberately left out: it is
// documentation, not something a page loads.
//
//go:embed app.css app.js vendor/*.min.js vendor/*.min.css
var files embed.FS

// Prefix is the URL path under which Handler serves the assets.
const Prefix = "/static/"

// immutable is the Cache-Control for a URL whose hash matches the content.
const immutable = "public, max-age=31536000, immutable"

type asset struct {
	hash        string // first 8 hex digits of the SHA-256 of content
	etag        string // quoted full SHA-256
	contentType string
	content     []byte
}

// assets maps a name such as "app.css" or "vendor/htmx-2.0.11.min.js" to its
// asset. It is filled once at init and only read afterwards, so it needs no lock.
var assets = load()

var (
	htmxName = findVendor("htmx-", ".min.js")
	picoName = findVendor("pico-", ".min.css")
)

// load reads and hashes every embedded file. It runs at init, so a broken
// embed fails the process at start-up, never a request.
func load() map[string]asset {
	m := make(map[string]asset)
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		full := hex.EncodeToString(sum[:])
		m[name] = asset{
			hash:        full[:8],
			etag:        `"` + full + `"`,
			contentType: contentType(name),
			content:     b,
		}
		return nil
	})
	if err != nil {
		panic("static: read embedded files: " + err.Error())
	}
	return m
}

// findVendor returns the name of the one vendored file with the given prefix
// and suffix, so that callers never hard-code a version. It panics at init if
// there is not exactly one.
func findVendor(prefix, suffix string) string {
	var found []string
	for name := range assets {
		base := strings.TrimPrefix(name, "vendor/")
		if base != name && strings.HasPrefix(base, prefix) && strings.HasSuffix(base, suffix) {
			found = append(found, name)
		}
	}
	if len(found) != 1 {
		panic("static: want exactly one vendor/" + prefix + "*" + suffix + ", found " + strings.Join(found, ", "))
	}
	return found[0]
}

// contentType picks the Content-Type from the extension. The common types are
// fixed here rather than taken from the host's mime tables, which vary.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".ico":
		return "image/x-icon"
	case ".woff2":
		return "font/woff2"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// Path returns the URL of the named asset, "/static/<sha8>/<name>", for use
// in href and src attributes, e.g. Path("app.css"). An unknown name gives
// "/static/missing/<name>", which answers 404: a typo shows up as a broken
// link in the page, never as a panic while rendering.
func Path(name string) string {
	a, ok := assets[name]
	if !ok {
		return Prefix + "missing/" + name
	}
	return Prefix + a.hash + "/" + name
}

// HTMXPath returns the URL of the vendored htmx script.
func HTMXPath() string { return Path(htmxName) }

// PicoPath returns the URL of the vendored Pico CSS stylesheet.
func PicoPath() string { return Path(picoName) }

// Handler serves the assets at the URLs Path returns. Mount it at "/static/"
// without stripping the prefix: it expects the full request path
// "/static/<sha8>/<name>". Only GET and HEAD are allowed (405 otherwise); an
// unknown name or a hash that does not match the current content is a 404,
// so an old URL is never cached forever with new content. Conditional
// requests (If-None-Match) and ranges are handled by http.ServeContent.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	hash, name, ok := strings.Cut(rest, "/")
	a, known := assets[name]
	if !ok || !known || hash != a.hash {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", immutable)
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	// A zero modtime sends no Last-Modified; the ETag drives revalidation.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.content))
}
