package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
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

// tokenTimeChars is the length of the issue time that ends every access
// and refresh token issued since tokens carried one: 48 bits of
// milliseconds since the Unix epoch, in unpadded base64url.
const tokenTimeChars = 8

// tokenRandomChars is the length of 256 random bits in unpadded base64url.
const tokenRandomChars = 43

// NewToken returns a new access or refresh token issued at now: prefix,
// 256 random bits, then the issue time in milliseconds (tokenTimeChars),
// all unpadded base64url. The random part comes first, so the display hint
// (SecretHint) still tells tokens apart. The time is there for TokenKey:
// see it for why. It tells the holder nothing the token endpoint's answer
// did not (the token was issued when they received it), and a token whose
// time is altered is a different string, which hashes to nothing stored.
func NewToken(prefix string, now time.Time) string {
	var b [secretBytes + 6]byte
	_, _ = rand.Read(b[:secretBytes]) // crypto/rand.Read never fails (Go 1.24+)
	putMillis(b[secretBytes:], now)
	out := make([]byte, 0, len(prefix)+tokenRandomChars+tokenTimeChars)
	out = append(out, prefix...)
	out = base64.RawURLEncoding.AppendEncode(out, b[:secretBytes])
	out = base64.RawURLEncoding.AppendEncode(out, b[secretBytes:])
	return string(out)
}

// putMillis writes now's milliseconds since the Unix epoch into b's 6
// bytes, most significant first, so that byte order is time order until
// the year 10889.
func putMillis(b []byte, now time.Time) {
	var be [8]byte
	binary.BigEndian.PutUint64(be[:], uint64(max(now.UnixMilli(), 0)))
	copy(b[:6], be[2:])
}

// TokenKey returns the key under which an access or refresh token is
// stored and looked up: for a token from NewToken, its issue time (6
// bytes, from the token's end) followed by the token's SHA-256; for any
// other string (a token issued before tokens carried their time, or
// anything a client sends), the SHA-256 alone, as HashSecret. The two
// never collide: they differ in length.
//
// Why the time: the unique index on the key is the one index every new
// token writes. Keyed by a bare hash, each new token lands on a random
// leaf of it, and that 4 KiB page is written once to the log and once more
// at the checkpoint, for a few dozen bytes of key (on PostgreSQL, a full
// page image after each checkpoint). Keyed time first, new tokens append
// at one place, as every other index a new token writes does
// (docs/benchmarks.md, "Token keys in time order"). The key still holds
// no secret: the time is stored in created_at anyway, and the rest is the
// SHA-256.
func TokenKey(raw string) []byte {
	h := sha256.Sum256([]byte(raw))
	t, ok := tokenTime(raw)
	if !ok {
		return h[:]
	}
	key := make([]byte, 0, len(t)+len(h))
	return append(append(key, t[:]...), h[:]...)
}

// tokenTime returns the 6 time bytes that end an access or refresh token
// from NewToken, and false for any other string.
func tokenTime(raw string) (t [6]byte, ok bool) {
	var rest string
	switch {
	case strings.HasPrefix(raw, PrefixAccessToken):
		rest = raw[len(PrefixAccessToken):]
	case strings.HasPrefix(raw, PrefixRefreshToken):
		rest = raw[len(PrefixRefreshToken):]
	default:
		return t, false
	}
	if len(rest) != tokenRandomChars+tokenTimeChars {
		return t, false
	}
	n, err := base64.RawURLEncoding.Decode(t[:], []byte(rest[tokenRandomChars:]))
	return t, err == nil && n == len(t)
}

// newClientID returns a public client identifier: 144 random bits, URL-safe.
func newClientID() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashSecret returns the SHA-256 of a server-generated secret: a client
// secret, a code, a session or a setup link, the only form in which one is
// stored. A 256-bit random secret cannot be guessed, so it needs no slow,
// salted hash (a human's password does: see hashPassword). Access and
// refresh tokens are stored and looked up under TokenKey instead; their
// SHA-256 alone finds only the tokens issued before they carried their time.
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
// Setting a password is a staff action, or the setup link's holder's, never
// a stranger's (CompleteSetup checks the link before it hashes), so it waits
// for a slot as long as ctx lasts.
func hashPassword(ctx context.Context, pw string) (string, error) {
	if len(pw) < 8 {
		return "", ErrPasswordTooShort
	}
	if len(pw) > 72 {
		return "", ErrPasswordTooLong
	}
	var h []byte
	var err error
	if werr := withHashSlot(ctx, false, func() {
		h, err = bcrypt.GenerateFromPassword([]byte(pw), int(bcryptCost.Load()))
	}); werr != nil {
		return "", werr
	}
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
