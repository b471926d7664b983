package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Prefixes mark every secret Latchkey issues, so that secret scanners can
// recognise a leaked one and an operator can tell its kind at a glance.
const (
	PrefixAccessToken  = "lk_at_"
	PrefixRefreshToken = "lk_rt_"
	PrefixCode         = "lk_ac_"
	PrefixClientSecret = "lk_cs_"
	PrefixSession      = "lk_ss_"
	PrefixSetup        = "lk_su_"
)

// secretBytes is the entropy of every token and secret: 256 bits.
const secretBytes = 32

// NewSecret returns prefix followed by 256 random bits in unpadded
// base64url, which uses only A–Z a–z 0–9 - _ and so needs no URL encoding.
func NewSecret(prefix string) string {
	b := make([]byte, secretBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// newClientID returns a public client identifier: 144 random bits, URL-safe.
func newClientID() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashSecret returns the SHA-256 of a token or server-generated secret: the
// only form in which one is stored. A 256-bit random secret cannot be
// guessed, so it needs no slow, salted hash (a human's password does: see
// hashPassword).
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// SecretMatches reports in constant time whether secret hashes to want.
func SecretMatches(secret string, want []byte) bool {
	if len(want) != sha256.Size {
		return false
	}
	got := HashSecret(secret)
	return subtle.ConstantTimeCompare(got, want) == 1
}

// SecretHint returns a short, non-secret label for a token: its type prefix
// and four characters, enough to tell tokens apart in a list but far too
// little to guess one.
func SecretHint(secret string) string {
	for _, p := range []string{PrefixAccessToken, PrefixRefreshToken, PrefixCode, PrefixClientSecret} {
		if rest, ok := strings.CutPrefix(secret, p); ok && len(rest) >= 4 {
			return p + rest[:4] + "…"
		}
	}
	return "…"
}

// bcryptCost is variable so that tests can lower it.
var bcryptCost atomic.Int32

func init() { bcryptCost.Store(int32(bcrypt.DefaultCost)) }

// hashPool bounds how many bcrypt computations run at once. bcrypt is
// built to be slow — tens of milliseconds of one core at the default cost —
// so a flood of logins would otherwise take every core from the token
// endpoint. Half the cores (at least one) may hash; the rest stay free for
// everything else.
var hashPool = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))

// hashWait bounds how long a password check waits for the pool, on top of
// the request's own context.
var hashWait = 5 * time.Second

// withHashSlot runs fn on the hashing pool. It waits for a slot until ctx
// ends or, when limit is set, until hashWait passes (ErrBusy).
func withHashSlot(ctx context.Context, limit bool, fn func()) error {
	var timeout <-chan time.Time
	if limit {
		t := time.NewTimer(hashWait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case hashPool <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-timeout:
		return ErrBusy
	}
	defer func() { <-hashPool }()
	fn()
	return nil
}

// hashPassword hashes a human's password with bcrypt, on the hashing pool.
// Setting a password is a staff or setup action, not something a stranger
// can flood, so it waits for a slot as long as it takes.
func hashPassword(pw string) (string, error) {
	if len(pw) < 8 {
		return "", ErrPasswordTooShort
	}
	if len(pw) > 72 {
		return "", ErrPasswordTooLong
	}
	var h []byte
	var err error
	_ = withHashSlot(context.Background(), false, func() {
		h, err = bcrypt.GenerateFromPassword([]byte(pw), int(bcryptCost.Load()))
	})
	if err != nil {
		return "", fmt.Errorf("models: hash password: %w", err)
	}
	return string(h), nil
}

// dummyHash is compared against when a username is unknown, so that a login
// takes as long for a missing user as for a wrong password.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("latchkey-timing-equaliser"), int(bcryptCost.Load()))
	return h
})

// passwordMatches compares pw with a bcrypt hash on the hashing pool; an
// empty hash (an unknown user) is compared with a dummy, to take the same
// time. The error is ctx's, or ErrBusy.
func passwordMatches(ctx context.Context, hash, pw string) (bool, error) {
	want := []byte(hash)
	if hash == "" {
		want = dummyHash()
	}
	var ok bool
	err := withHashSlot(ctx, true, func() { ok = bcrypt.CompareHashAndPassword(want, []byte(pw)) == nil })
	return ok && hash != "", err
}

// UseFastPasswordHashForTests lowers bcrypt's cost to its minimum, for
// tests that create many users. Never call it outside tests.
func UseFastPasswordHashForTests() { bcryptCost.Store(int32(bcrypt.MinCost)) }
