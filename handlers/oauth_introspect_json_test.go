package handlers

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestIntrospectionJSONMatchesEncodingJSON checks the hand-written encoder
// against encoding/json, byte for byte, for strings that need escaping.
func TestIntrospectionJSONMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", `quote"back\slash`, "ctl\x00\x01\x1f\b\f\n\r\t", "<script>&amp;", "line\u2028sep\u2029",
		"ünïcødé ✓ 𝄞", "\xff\xfe bad utf-8", "\x7f"}
	for _, s := range strs {
		for _, in := range []introspection{
			{Active: false},
			{Active: true, TokenType: "Bearer", Scope: s, ClientID: "cid", Username: s, Sub: s, Exp: 1700000000, Iat: 1600000000, Iss: "https://a.example/", Sid: s},
			{Active: true, TokenType: s, ClientID: s, Exp: -1, Iss: s},
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

// FuzzIntrospectionJSON compares the two encoders on any string.
func FuzzIntrospectionJSON(f *testing.F) {
	f.Add("a\"b\\c<d>\u2028", "x")
	f.Fuzz(func(t *testing.T, a, b string) {
		in := introspection{Active: true, TokenType: "Bearer", Scope: a, Username: b, Sub: a, Iat: int64(len(a)), Sid: b}
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(in); err != nil {
			t.Fatal(err)
		}
		if got := in.appendJSON(nil); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("got %s\nwant %s", got, want.Bytes())
		}
	})
}
