package models

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// redirectURIsAllowed ends every refusal of a redirect URI: what to use
// instead.
const redirectURIsAllowed = "Use https://…; http:// only on a loopback address (http://127.0.0.1:PORT/… or http://[::1]:PORT/…); " +
	"or an app's own scheme containing a dot, such as com.example.app:/callback."

// ValidateRedirectURI checks a redirect URI before it is registered, and
// again before /o/authorize sends a browser to it. It accepts, per RFC 9700
// §2.1 and RFC 8252:
//   - https with a host;
//   - http only on a loopback IP literal, 127.0.0.1 (any of 127/8) or [::1]
//     (RFC 8252 §7.3). "localhost" is refused: a name can resolve to a
//     non-loopback address through /etc/hosts or DNS, and the code would
//     leave the machine in clear (RFC 8252 §8.3 makes it NOT RECOMMENDED);
//   - a private-use scheme containing a dot, a reversed domain name the
//     app owns, such as com.example.app:/callback (RFC 8252 §7.1).
//
// Everything else is refused — javascript:, data:, file:, vbscript:, plain
// http to a remote host, dot-less custom schemes — as are fragments (RFC
// 6749 §3.1.2) and user information (https://good.example@evil.example/).
// The refusal is a *ValidationError of the redirect_uris field that names
// the URI and says what is allowed.
func ValidateRedirectURI(raw string) error {
	bad := func(why string) error {
		return invalid("redirect_uris", "Redirect URI %q %s %s", shorten(raw, 100), why, redirectURIsAllowed)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || strings.ContainsAny(raw, " \t\r\n") || !storable(raw) {
		return bad("is not absolute: a redirect URI must be absolute.")
	}
	if strings.Contains(raw, "#") {
		return bad("has a fragment (#…), which a redirect URI must not have (RFC 6749 §3.1.2).")
	}
	if u.User != nil {
		return bad("has user information before its host (…@), which is not allowed.")
	}
	switch {
	case u.Scheme == "https":
		if u.Opaque != "" || u.Hostname() == "" {
			return bad("has no host.")
		}
	case u.Scheme == "http":
		host := u.Hostname()
		if u.Opaque != "" || host == "" {
			return bad("has no host.")
		}
		if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
			return bad("uses localhost, which may resolve to an address off this machine (RFC 8252 §8.3).")
		}
		if !loopbackLiteral(host) {
			return bad("uses http on a host that is not a loopback address (RFC 9700 §2.1).")
		}
	case strings.Contains(u.Scheme, "."):
		if strings.TrimPrefix(raw[len(u.Scheme):], ":") == "" {
			return bad("has nothing after its scheme.")
		}
	default:
		return bad("uses the scheme \"" + shorten(u.Scheme, 30) + ":\", which is not allowed.")
	}
	return nil
}

// loopbackLiteral reports whether host is an IPv4 loopback address in
// dotted form or the IPv6 loopback ::1, without a zone.
func loopbackLiteral(host string) bool {
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return false
	}
	return (a.Is4() && a.IsLoopback()) || a == netip.IPv6Loopback()
}

// shorten cuts s to at most n bytes, marking the cut, so that a refusal
// quoting it stays one readable line.
func shorten(s string, n int) string {
	if t := truncate(s, n); t != s {
		return t + "…"
	}
	return s
}

// RedirectURIMatches reports whether requested, the redirect_uri of an
// authorization request, is one of the client's registered URIs. The
// comparison is exact (RFC 6749 §3.1.2.3, RFC 9700 §2.1), with the one
// exception RFC 8252 §7.3 requires: "The authorization server MUST allow
// any port to be specified at the time of the request for loopback IP
// redirect URIs, to accommodate clients that obtain an available ephemeral
// port from the operating system at the time of the request." So a
// registered http URI on a loopback IP literal matches a requested one on
// the same literal with any port, or none, when everything after the port
// is the same string. A name such as localhost never gets this.
func RedirectURIMatches(registered []string, requested string) bool {
	for _, r := range registered {
		if r == requested {
			return true
		}
	}
	host, rest, ok := loopbackRedirect(requested)
	if !ok {
		return false
	}
	for _, r := range registered {
		if h, x, ok := loopbackRedirect(r); ok && h == host && x == rest {
			return true
		}
	}
	return false
}

// loopbackRedirect splits an http URI on a loopback IP literal into its
// host (without the port) and everything after its authority, as written.
// It reports false for any other URI, and for a port that is not a number
// from 1 to 65535.
func loopbackRedirect(raw string) (host, rest string, ok bool) {
	after, found := strings.CutPrefix(raw, "http://")
	if !found {
		return "", "", false
	}
	end := strings.IndexAny(after, "/?#")
	if end < 0 {
		end = len(after)
	}
	authority, rest := after[:end], after[end:]
	host, port := authority, ""
	if i := strings.LastIndexByte(authority, ':'); i > strings.LastIndexByte(authority, ']') {
		host, port = authority[:i], authority[i+1:]
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '0' || port[0] == '+' {
			return "", "", false
		}
	}
	// IPv6 in brackets, IPv4 without: "[127.0.0.1]" and a bare "::1" are
	// not URIs' hosts.
	ip, bracketed := strings.CutPrefix(host, "[")
	if bracketed {
		if ip, bracketed = strings.CutSuffix(ip, "]"); !bracketed {
			return "", "", false
		}
	}
	if a, err := netip.ParseAddr(ip); err != nil || a.Is6() != bracketed || !loopbackLiteral(ip) {
		return "", "", false
	}
	return host, rest, true
}
