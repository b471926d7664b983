// Package web is Latchkey's composition root: it builds the echo server,
// registers every route (routes.go), installs the middleware (middleware.go)
// and the one error handler (errors.go) that turns handler errors into RFC
// 6749 JSON on /o/ and into error pages elsewhere.
package web
