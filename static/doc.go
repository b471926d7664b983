// Package static embeds Latchkey's browser assets (the site stylesheet and
// script, and the vendored htmx and Pico CSS) and serves them under
// content-addressed URLs.
//
// Path("app.css") returns "/static/<sha8>/app.css", where <sha8> is the first
// 8 hex digits of the file's SHA-256. Because a changed file gets a new URL,
// Handler can serve every asset with a one-year immutable Cache-Control and a
// deploy never leaves a browser with a stale stylesheet (the scheme miniflux
// uses). The package is a leaf: it imports only the standard library.
package static
