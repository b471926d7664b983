package events

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

var awkward = []string{"", "plain", `quote"back\slash`, "ctl\x00\x01\x1f\b\f\n\r\t", "<script>&amp;", "line\u2028sep\u2029",
	"ünïcødé ✓ 𝄞", "\xff\xfe bad utf-8", "\xe2\x80 cut rune", "\x7f", "\ufffd"}

// checkClaims compares the hand-written encoder with json.Marshal, byte
// for byte, for c and for its event bodies alone.
func checkClaims(t *testing.T, c Claims) {
	t.Helper()
	want, werr := json.Marshal(c)
	got, gerr := c.appendJSON(nil)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("errors differ: encoding/json %v, appendJSON %v", werr, gerr)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("claims:\n got %s\nwant %s", got, want)
	}
}

// TestClaimsJSONMatchesEncodingJSON checks the SET payload's hand-written
// encoder against encoding/json for both event types, every optional
// field present and absent, and strings that need escaping.
func TestClaimsJSONMatchesEncodingJSON(t *testing.T) {
	at := time.Unix(1764331200, 0)
	for _, s := range awkward {
		for _, r := range []Revocation{
			{Session: s, User: "alice", Client: "cid", At: at, Initiator: EntityAdmin, Reason: s},
			{User: s, At: at, Initiator: InitiatingEntity(s), UserNote: s},
			{Client: s, At: time.Unix(-5, 0)},
			{},
		} {
			c := SessionRevokedClaims("https://issuer.example"+s, s, "j."+s, at, r)
			checkClaims(t, c)
			body := sessionRevoked{EventTimestamp: r.At.Unix(), InitiatingEntity: r.Initiator,
				ReasonAdmin: map[string]string{"en": s, s: "x", "de": "y"}, ReasonUser: map[string]string{}}
			want, _ := json.Marshal(body)
			if got := body.appendJSON(nil); !bytes.Equal(got, want) {
				t.Errorf("event body:\n got %s\nwant %s", got, want)
			}
		}
		checkClaims(t, VerificationClaims("https://issuer.example", s, "j", "stream"+s, s, at))
		checkClaims(t, Claims{Iss: s, Txn: s, SubID: &SubjectID{Format: s, ID: s, User: &Identifier{Format: s, Iss: s, Sub: s}},
			Events: map[string]json.RawMessage{s: json.RawMessage(` { "a" : [1, "<&>` + "\u2028" + `"] } `), "b": nil, "c": json.RawMessage(`{}`)}})
	}
	checkClaims(t, Claims{})
	checkClaims(t, Claims{Events: map[string]json.RawMessage{"bad": json.RawMessage(`{"a":`)}})
}

// FuzzClaimsJSON compares the two encoders on any strings and raw event
// bodies.
func FuzzClaimsJSON(f *testing.F) {
	f.Add("https://issuer.example", "aud\"<", "sess\u2028", "alice\xff", "reason & note", int64(1764331200), []byte(`{"a": [1, 2]}`))
	f.Fuzz(func(t *testing.T, iss, aud, sid, user, reason string, ts int64, raw []byte) {
		r := Revocation{Session: sid, User: user, Client: aud, At: time.Unix(ts, 0), Initiator: InitiatingEntity(reason), Reason: reason, UserNote: user}
		c := SessionRevokedClaims(iss, aud, sid, time.Unix(ts, 0), r)
		checkClaims(t, c)
		c.Events[reason] = raw
		c.Txn = user
		checkClaims(t, c)
	})
}

// BenchmarkClaimsJSON compares encoding a session-revoked SET's payload by
// hand (what Signer.Sign does) with encoding/json, in the same conditions.
func BenchmarkClaimsJSON(b *testing.B) {
	now := time.Now()
	c := SessionRevokedClaims("http://127.0.0.1:8000", "aud", "j.s", now, Revocation{Session: "abc", User: "alice", Client: "cid", At: now, Initiator: "user", Reason: "client request"})
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.appendJSON(make([]byte, 0, 512)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
