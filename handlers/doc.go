// Package handlers holds Latchkey's HTTP handlers, one file per endpoint or
// page. They stay thin: parse the request, call one models operation, map
// its error, render. Protocol handlers return *OAuthError values; the one
// error handler in package web writes them (RFC 6749 §5.2).
package handlers
