package events_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestRotatedKeyStaysPublishedForItsTTL rotates the signing key: the new
// key signs at once, the old one stays in the JWK Set for RetiredKeyTTL
// and is gone after it.
func TestRotatedKeyStaysPublishedForItsTTL(t *testing.T) {
	ctx := context.Background()
	clock := modelstest.NewClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	st := modelstest.NewStoreWithClock(t, clock.Now)
	keys := events.NewKeys(st)
	first, created, err := keys.Ensure(ctx)
	if err != nil || !created {
		t.Fatalf("Ensure: %v %v", created, err)
	}
	if again, created, _ := keys.Ensure(ctx); again != first || created {
		t.Errorf("a second Ensure made a new key: %s", again)
	}
	s, err := keys.Signer(ctx)
	if err != nil || s.KeyID() != first {
		t.Fatalf("signer: %v %v", s, err)
	}
	second, retired, err := keys.Rotate(ctx, models.StaffAction{Actor: models.CLI("test")})
	if err != nil || second == first || len(retired) != 1 || retired[0] != first {
		t.Fatalf("Rotate: %s %v %v", second, retired, err)
	}
	if s, _ := keys.Signer(ctx); s.KeyID() != second {
		t.Errorf("after rotation this process signs with %s, want %s", s.KeyID(), second)
	}
	published := func() []string {
		pub, err := keys.Published(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, p := range pub {
			ids = append(ids, p.ID)
		}
		return ids
	}
	if got := published(); len(got) != 2 || got[0] != second || got[1] != first {
		t.Errorf("published after rotation: %v, want [%s %s]", got, second, first)
	}
	clock.Set(clock.Now().Add(events.RetiredKeyTTL - time.Minute))
	if got := published(); len(got) != 2 {
		t.Errorf("published just before the TTL: %v, want both", got)
	}
	clock.Set(clock.Now().Add(2 * time.Minute))
	if got := published(); len(got) != 1 || got[0] != second {
		t.Errorf("published after the TTL: %v, want only %s", got, second)
	}
	third, retired, err := keys.Rotate(ctx, models.StaffAction{Actor: models.CLI("test")})
	if err != nil || len(retired) != 1 || retired[0] != second {
		t.Errorf("second rotation: %s %v %v, want only %s retired and published", third, retired, err, second)
	}
	all, _ := st.SigningKeys(ctx)
	if len(all) != 2 {
		t.Errorf("%d keys kept, want 2: the expired one is deleted", len(all))
	}
}

// TestSignerNeverAheadOfItsJWKS: a rotation from another process (the
// command line) reaches a server's signer within a second, and its
// rendered JWK Set within a second too, on timers of their own. A receiver
// that meets the new kid fetches /o/jwks/ once and must find it: so once
// the signer uses a key, the set this process serves lists it.
func TestSignerNeverAheadOfItsJWKS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := modelstest.Open(t, t.TempDir()+"/latchkey.db")
	server := events.NewKeys(st)
	if _, err := server.Signer(ctx); err != nil { // the signer read at t=0
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	if _, err := server.JWKS(ctx); err != nil { // the set rendered at t=0.6, kept until 1.6
		t.Fatal(err)
	}
	kid, _, err := events.NewKeys(st).Rotate(ctx, models.StaffAction{Actor: models.CLI("test")})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		s, err := server.Signer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.KeyID() == kid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server still signs with %s 3 s after the rotation", s.KeyID())
		}
	}
	jwks, err := server.JWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(jwks), kid) {
		t.Errorf("the server signs with %s, and its JWK Set does not list it: %s", kid, jwks)
	}
}
