package models

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

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
// guessed, so it needs no slow, salted hash (SPEC "Storage and secrets").
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

// hashPassword hashes a human's password with bcrypt.
func hashPassword(pw string) (string, error) {
	if len(pw) < 8 {
		return "", ErrPasswordTooShort
	}
	if len(pw) > 72 {
		return "", ErrPasswordTooLong
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), int(bcryptCost.Load()))
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

func passwordMatches(hash, pw string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(pw))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// UseFastPasswordHashForTests lowers bcrypt's cost to its minimum, for
// tests that create many users. Never call it outside tests.
func UseFastPasswordHashForTests() { bcryptCost.Store(int32(bcrypt.MinCost)) }
