package guard

import "testing"

// TestWellKnown: metadata URLs follow RFC 8414 §3 — the well-known segment
// goes between the host and an issuer's path.
func TestWellKnown(t *testing.T) {
	tests := []struct{ issuer, want string }{
		{"https://auth.example.com", "https://auth.example.com/.well-known/ssf-configuration"},
		{"https://auth.example.com/", "https://auth.example.com/.well-known/ssf-configuration"},
		{"https://auth.example.com/tenant1", "https://auth.example.com/.well-known/ssf-configuration/tenant1"},
		{"http://127.0.0.1:8000/a/b/", "http://127.0.0.1:8000/.well-known/ssf-configuration/a/b"},
	}
	for _, tc := range tests {
		if got := wellKnown(tc.issuer, "ssf-configuration"); got != tc.want {
			t.Errorf("wellKnown(%q): got %q, want %q", tc.issuer, got, tc.want)
		}
	}
}

// TestDefaultClientHasTimeout: without a client of the caller's, calls to
// Latchkey are bounded (http.DefaultClient would wait for ever).
func TestDefaultClientHasTimeout(t *testing.T) {
	g, err := New(Config{Issuer: "https://auth.example.com", ClientID: "x", ClientSecret: "y"})
	if err != nil {
		t.Fatal(err)
	}
	if g.hc.Timeout != DefaultHTTPTimeout || DefaultHTTPTimeout <= 25e9 {
		t.Errorf("default client timeout %v, want %v (longer than a 25 s long poll)", g.hc.Timeout, DefaultHTTPTimeout)
	}
}
