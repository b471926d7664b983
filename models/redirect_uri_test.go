package models_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/models"
)

// TestValidateRedirectURI pins which redirect URIs can be registered (RFC
// 9700 §2.1, RFC 8252 §7.1 and §7.3, RFC 6749 §3.1.2).
func TestValidateRedirectURI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		uri     string
		wantErr string // a piece of the message; empty: accepted
	}{
		{"https", "https://app.example.com/callback", ""},
		{"https with port and query", "https://app.example.com:8443/cb?tenant=a", ""},
		{"upper-case https scheme", "HTTPS://app.example.com/cb", ""},
		{"loopback IPv4", "http://127.0.0.1:9999/callback", ""},
		{"loopback IPv4 without port", "http://127.0.0.1/callback", ""},
		{"other 127/8 address", "http://127.0.0.2:80/cb", ""},
		{"loopback IPv6", "http://[::1]:8080/callback", ""},
		{"private-use scheme", "com.example.app:/callback", ""},
		{"private-use scheme with authority", "com.example.app://callback", ""},

		{"javascript", "javascript:alert(document.cookie)", `scheme "javascript:"`},
		{"javascript upper case", "JavaScript:alert(1)", `scheme "javascript:"`},
		{"javascript with a comment", "javascript://example.com/%0aalert(1)", `scheme "javascript:"`},
		{"data", "data:text/html,<script>alert(1)</script>", `scheme "data:"`},
		{"vbscript", "vbscript:msgbox(1)", `scheme "vbscript:"`},
		{"file", "file:///etc/passwd", `scheme "file:"`},
		{"custom scheme without a dot", "myapp:/callback", `scheme "myapp:"`},
		{"private-use scheme with nothing after it", "com.example.app:", "nothing after its scheme"},
		{"http to a remote host", "http://app.example.com/callback", "not a loopback address"},
		{"http to a private address", "http://192.168.1.10/callback", "not a loopback address"},
		{"http to a loopback look-alike name", "http://127.0.0.1.evil.example/cb", "not a loopback address"},
		{"http to a short loopback form", "http://127.1/cb", "not a loopback address"},
		{"http to IPv4-mapped loopback", "http://[::ffff:127.0.0.1]/cb", "not a loopback address"},
		{"http to localhost", "http://localhost:8080/callback", "localhost"},
		{"http to LOCALHOST", "http://LOCALHOST:8080/callback", "localhost"},
		{"http to a .localhost name", "http://app.localhost/cb", "localhost"},
		{"https without host", "https:/callback", "has no host"},
		{"https opaque", "https:app.example.com", "has no host"},
		{"fragment", "https://app.example.com/cb#x", "fragment"},
		{"empty fragment", "https://app.example.com/cb#", "fragment"},
		{"user information", "https://app.example.com@evil.example/cb", "user information"},
		{"relative", "/callback", "must be absolute"},
		{"space", "https://app.example.com/a b", "must be absolute"},
		{"NUL", "https://app.example.com/\x00", "must be absolute"},
		{"empty", "", "must be absolute"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := models.ValidateRedirectURI(tc.uri)
			if tc.wantErr == "" {
				if err != nil {
					t.Errorf("ValidateRedirectURI(%q): got %v, want accepted", tc.uri, err)
				}
				return
			}
			var ve *models.ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, models.ErrInvalid) {
				t.Fatalf("ValidateRedirectURI(%q): got %v, want a *ValidationError", tc.uri, err)
			}
			if ve.Field != "redirect_uris" || !strings.Contains(ve.Message, tc.wantErr) || !strings.Contains(ve.Message, "Use https://") ||
				strings.ContainsAny(ve.Message, "\n\r") {
				t.Errorf("ValidateRedirectURI(%q): got field %q message %q, want %q in one line saying what is allowed", tc.uri, ve.Field, ve.Message, tc.wantErr)
			}
		})
	}
}

// TestRedirectURIMatches: exact strings (RFC 6749 §3.1.2.3), but a loopback
// IP literal's port is the native app's to choose at request time (RFC 8252
// §7.3).
func TestRedirectURIMatches(t *testing.T) {
	t.Parallel()
	registered := []string{
		"http://127.0.0.1:9999/callback",
		"http://[::1]/cb?x=1",
		"https://app.example.com:8443/callback",
		"com.example.app:/callback",
	}
	for _, tc := range []struct {
		uri  string
		want bool
	}{
		{"http://127.0.0.1:9999/callback", true},
		{"http://127.0.0.1:51234/callback", true},
		{"http://127.0.0.1/callback", true},
		{"http://[::1]:40000/cb?x=1", true},
		{"http://[::1]/cb?x=1", true},
		{"https://app.example.com:8443/callback", true},
		{"com.example.app:/callback", true},

		{"http://127.0.0.1:51234/callback/", false},    // the path differs
		{"http://127.0.0.1:51234/Callback", false},     // the path's case
		{"http://127.0.0.1:51234/callback?a=b", false}, // a query added
		{"http://127.0.0.2:51234/callback", false},     // another loopback address
		{"http://[::1]:40000/cb", false},               // the query dropped
		{"http://[::1]:40000/cb?x=1#f", false},
		{"http://localhost:9999/callback", false},
		{"http://127.0.0.1:0/callback", false},
		{"http://127.0.0.1:65536/callback", false},
		{"http://127.0.0.1:/callback", false},
		{"http://127.0.0.1:+80/callback", false},
		{"http://127.0.0.1:080/callback", false},
		{"http://127.0.0.1:80@evil.example/callback", false},
		{"http://::1:40000/cb?x=1", false},
		{"http://[::1:40000/cb?x=1", false},
		{"http://[127.0.0.1]:51234/callback", false},
		{"https://127.0.0.1:51234/callback", false},      // https: not the loopback rule's
		{"https://app.example.com:9443/callback", false}, // any other host: exact
		{"https://app.example.com/callback", false},
		{"com.example.app:/other", false},
	} {
		if got := models.RedirectURIMatches(registered, tc.uri); got != tc.want {
			t.Errorf("RedirectURIMatches(%q) = %v, want %v", tc.uri, got, tc.want)
		}
	}
}
