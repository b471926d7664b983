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

var benchIntrospection = introspection{Active: true, TokenType: "Bearer", Scope: "openid profile", ClientID: "ypPzlY8sXK4X0RVQC-4FdyAW",
	Username: "alice", Sub: "alice", Exp: 1700000000, Iat: 1600000000, Iss: "https://auth.example.com/", Sid: "g_5cQ2p0JfX3rjK7sV1mAa"}

// BenchmarkIntrospectionJSON is the answer's encoding alone, hand-written.
func BenchmarkIntrospectionJSON(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = benchIntrospection.appendJSON(make([]byte, 0, 384))
	}
}

// BenchmarkIntrospectionEncodingJSON is the same with encoding/json, as
// echo's c.JSON encodes it.
func BenchmarkIntrospectionEncodingJSON(b *testing.B) {
	b.ReportAllocs()
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		_ = json.NewEncoder(&buf).Encode(benchIntrospection)
	}
}
