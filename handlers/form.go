package handlers

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// MaxBody is the request body limit, exactly 64 KiB (65,536 bytes); the
// body-limit middleware enforces it for every request, and the OAuth form
// reader guards its own read with it too.
const MaxBody = 64 << 10

// parseOAuthForm reads a POST body as RFC 6749 requires of the token,
// revocation and introspection endpoints: application/x-www-form-urlencoded,
// no parameter twice (§3.1, §3.2), a parameter without a value as if it
// were omitted (dropEmpty), and nothing in the query string
// (parameters, and above all secrets, belong in the body).
func parseOAuthForm(c echo.Context) (url.Values, error) {
	r := c.Request()
	if r.URL.RawQuery != "" {
		return nil, ErrInvalidRequest.WithDescription("parameters must be sent in the request body, not the query string")
	}
	if ct := r.Header.Get(echo.HeaderContentType); ct != "application/x-www-form-urlencoded" { // the common case, without parsing
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, ErrInvalidRequest.WithDescription("Content-Type must be application/x-www-form-urlencoded")
		}
		if cs, ok := params["charset"]; ok && cs != "" && !equalFold(cs, "utf-8") {
			return nil, ErrInvalidRequest.WithDescription("the body must be UTF-8")
		}
	}
	body, err := readBody(r)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge {
			return nil, ErrRequestTooLarge
		}
		return nil, ErrInvalidRequest.WithDescription("could not read the request body").Wrap(err)
	}
	if len(body) > MaxBody {
		return nil, ErrRequestTooLarge
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, ErrInvalidRequest.WithDescription("the body is not valid form encoding")
	}
	if name, dup := duplicated(form); dup {
		return nil, ErrInvalidRequest.WithDescription("parameter " + safeName(name) + " is given more than once")
	}
	if name, bad := badText(form); bad {
		return nil, ErrInvalidRequest.WithDescription("parameter " + safeName(name) + " is not valid UTF-8 text")
	}
	dropEmpty(form)
	return form, nil
}

// dropEmpty deletes the parameters sent without a value. RFC 6749 §3.1 and
// §3.2: "Parameters sent without a value MUST be treated as if they were
// omitted from the request." A client library that sends "client_secret="
// for a public client, or "redirect_uri=" when it has none, is asking what
// omitting them asks. A parameter given more than once stays, for the
// duplicate check to refuse.
func dropEmpty(params url.Values) {
	for k, v := range params {
		if len(v) == 1 && v[0] == "" {
			delete(params, k)
		}
	}
}

// readBody reads a request body of at most MaxBody+1 bytes: in one read
// into a buffer of its size when the request states it (net/http then
// delivers exactly that many bytes), else as it comes.
func readBody(r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n >= 0 && n <= MaxBody {
		buf := make([]byte, n)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
}

// duplicated reports a parameter that appears more than once.
func duplicated(form url.Values) (string, bool) {
	for k, v := range form {
		if len(v) > 1 {
			return k, true
		}
	}
	return "", false
}

// safeName keeps an attacker-chosen parameter name short and printable in
// a description.
func safeName(s string) string {
	out := make([]byte, 0, 40)
	for i := 0; i < len(s) && len(out) < 40; i++ {
		if c := s[i]; c >= 0x21 && c <= 0x7e && c != '"' && c != '\\' {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return "(unnamed)"
	}
	return string(out)
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// badText reports a parameter whose name or value is not valid UTF-8 or
// holds a NUL: no identifier, token or secret Latchkey issues looks like
// that, and the databases refuse to compare such text.
func badText(form url.Values) (string, bool) {
	for k, vs := range form {
		if !TextOK(k) {
			return k, true
		}
		for _, v := range vs {
			if !TextOK(v) {
				return k, true
			}
		}
	}
	return "", false
}

// TextOK reports whether s is valid UTF-8 without NUL.
func TextOK(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}
