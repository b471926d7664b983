package events_test

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/events"
)

// BenchmarkSign measures building and signing one session-revoked SET
// (ES256), the worker's cost per event and stream besides the push.
func BenchmarkSign(b *testing.B) {
	k, _ := events.NewKey()
	s, _ := events.NewSigner(k)
	c := events.SessionRevokedClaims("http://127.0.0.1:8000", "aud", "j.s", time.Now(), events.Revocation{Session: "abc", User: "alice", Client: "cid", At: time.Now(), Initiator: "user", Reason: "client request"})
	reportCPU(b, func() {
		for b.Loop() {
			if _, err := s.Sign(c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
