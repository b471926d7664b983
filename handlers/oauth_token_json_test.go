package handlers

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestTokenResponseJSONMatchesEncodingJSON checks the token endpoint's
// hand-written encoder against encoding/json, byte for byte, with and
// without a refresh token and for strings that need escaping.
func TestTokenResponseJSONMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", `quote"back\slash`, "ctl\x00\x01\x1f\b\f\n\r\t", "<script>&amp;", "line\u2028sep\u2029",
		"ünïcødé ✓ 𝄞", "\xff\xfe bad utf-8", "\x7f"}
	for _, s := range strs {
		for _, in := range []tokenResponse{
			{AccessToken: "lk_at_abc", TokenType: "Bearer", ExpiresIn: 3600, Scope: s},
			{AccessToken: s, TokenType: "Bearer", ExpiresIn: 0, RefreshToken: s, Scope: "read write"},
			{AccessToken: "lk_at_abc", TokenType: s, ExpiresIn: -5, RefreshToken: "lk_rt_x", Scope: ""},
		} {
			var want bytes.Buffer
			if err := json.NewEncoder(&want).Encode(in); err != nil {
				t.Fatal(err)
			}
			if got := in.appendJSON(nil); !bytes.Equal(got, want.Bytes()) {
				t.Errorf("%q:\n got %s\nwant %s", s, got, want.Bytes())
			}
		}
	}
}

// FuzzTokenResponseJSON compares the two encoders on any strings.
func FuzzTokenResponseJSON(f *testing.F) {
	f.Add("lk_at_a\"b\\c<d>\u2028", "openid", int64(3600))
	f.Fuzz(func(t *testing.T, a, b string, n int64) {
		in := tokenResponse{AccessToken: a, TokenType: "Bearer", ExpiresIn: n, RefreshToken: b, Scope: b}
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(in); err != nil {
			t.Fatal(err)
		}
		if got := in.appendJSON(nil); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("got %s\nwant %s", got, want.Bytes())
		}
	})
}
