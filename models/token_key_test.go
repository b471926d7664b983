package models_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// tokenForm is a token from NewToken: prefix, 256 random bits and 48 bits
// of issue time, in unpadded base64url.
var tokenForm = regexp.MustCompile(`^lk_(at|rt)_[A-Za-z0-9_-]{51}$`)

// TestTokenKeysFollowIssueTime checks that the key a new token is stored
// under starts with its issue time in milliseconds and ends with the
// token's SHA-256, so that keys sort in the order tokens were issued and
// the unique index on them grows at one place instead of at a random leaf,
// and that tokens issued in the same millisecond still get keys of their
// own. Keyed by the bare SHA-256, as before, none of it held.
func TestTokenKeysFollowIssueTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock, times := timedGrants()
	st := clockedStore(t, clock)
	f := modelstest.NewFixture(t, st)
	var keys [][]byte
	seen := map[string]bool{}
	for i, at := range times {
		clock.Set(at)
		iss := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
		for _, raw := range []string{iss.AccessToken, iss.RefreshToken} {
			if !tokenForm.MatchString(raw) {
				t.Fatalf("token %d: %q is not prefix, 43 random and 8 time characters", i, models.SecretHint(raw))
			}
			key := models.TokenKey(raw)
			tok, err := st.FindTokenByHash(ctx, key)
			if err != nil {
				t.Fatalf("token %d by its key: %v", i, err)
			}
			if !bytes.Equal(tok.Hash, key) || seen[string(key)] {
				t.Fatalf("token %d: stored under %x, want %x, unique", i, tok.Hash, key)
			}
			seen[string(key)] = true
			var ms [8]byte
			copy(ms[2:], key[:6])
			if got := int64(binary.BigEndian.Uint64(ms[:])); got != at.UnixMilli() {
				t.Errorf("token %d issued at %d ms: key starts with %d ms", i, at.UnixMilli(), got)
			}
			if h := sha256.Sum256([]byte(raw)); !bytes.Equal(key[6:], h[:]) {
				t.Errorf("token %d: key ends with %x, want the token's SHA-256 %x", i, key[6:], h)
			}
			// The hint still shows the token's first random characters.
			if hint := models.SecretHint(raw); hint != raw[:10]+"…" || tok.Hint != hint {
				t.Errorf("token %d: hint %q (stored %q), want %q", i, hint, tok.Hint, raw[:10]+"…")
			}
		}
		keys = append(keys, models.TokenKey(iss.AccessToken))
	}
	for i := 4; i < len(keys); i++ {
		if bytes.Compare(keys[i], keys[i-4]) <= 0 {
			t.Errorf("token %d (%x) sorts before token %d (%x), issued 10 ms earlier", i, keys[i], i-4, keys[i-4])
		}
	}
}

// TestTokenKeyOfOtherStrings checks that anything that is not a token from
// NewToken is keyed by its bare SHA-256, as every token was before tokens
// carried their time: an older token, a client secret, a token with its
// time part cut or not base64url, a code.
func TestTokenKeyOfOtherStrings(t *testing.T) {
	t.Parallel()
	fresh := models.NewToken(models.PrefixAccessToken, time.Now())
	for _, raw := range []string{
		models.NewSecret(models.PrefixAccessToken), // before tokens carried their time
		models.NewSecret(models.PrefixRefreshToken),
		models.NewSecret(models.PrefixClientSecret),
		models.PrefixClientSecret + fresh[len(models.PrefixAccessToken):], // the right length, another kind
		fresh[:len(fresh)-1],
		fresh[:len(fresh)-8] + "AAAAAA==",
		fresh[:len(fresh)-8] + "AAAAAA.A",
		fresh + "A",
		"",
		"lk_at_",
	} {
		h := sha256.Sum256([]byte(raw))
		if got := models.TokenKey(raw); !bytes.Equal(got, h[:]) {
			t.Errorf("TokenKey(%q) = %x, want its bare SHA-256", raw, got)
		}
	}
	if got := models.TokenKey(fresh); len(got) != 6+sha256.Size {
		t.Errorf("TokenKey of a new token has %d bytes, want 38", len(got))
	}
}

// TestTokensFromBeforeTheirKeyCarriedTime checks that a token stored under
// its bare SHA-256, as every token was before this change, is still found
// by every lookup a raw token takes: introspection, the dashboard's paste
// box, a refresh, and revocation; and that a token whose time part is
// altered is nobody's.
func TestTokensFromBeforeTheirKeyCarriedTime(t *testing.T) {
	t.Parallel()
	for _, b := range modelstest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := b.New(t)
			f := modelstest.NewFixture(t, st)
			iss := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
			// Give both tokens the form and key they had before.
			old := map[string]string{}
			for _, raw := range []string{iss.AccessToken, iss.RefreshToken} {
				legacy := raw[:len(raw)-8]
				if err := st.ExecForTest(ctx, "UPDATE tokens SET hash = ? WHERE hash = ?",
					models.HashSecret(legacy), models.TokenKey(raw)); err != nil {
					t.Fatal(err)
				}
				old[raw] = legacy
			}
			at, rt := old[iss.AccessToken], old[iss.RefreshToken]
			if _, err := st.ActiveToken(ctx, iss.AccessToken); !errors.Is(err, models.ErrNotFound) {
				t.Fatalf("the new form of a token stored under its old key: %v, want not found", err)
			}
			info, err := st.ActiveToken(ctx, at)
			if err != nil || info.Token.GrantID != iss.GrantID {
				t.Fatalf("introspect the old access token: %+v, %v", info, err)
			}
			if row, err := st.FindTokenRow(ctx, models.TokenKey(rt)); err != nil || row.GrantID != iss.GrantID {
				t.Fatalf("find the old refresh token: %+v, %v", row, err)
			}
			// A token with a forged time: its own string, stored nowhere.
			forged := iss.AccessToken[:len(iss.AccessToken)-8] + "AAAAAAAA"
			if _, err := st.ActiveToken(ctx, forged); !errors.Is(err, models.ErrNotFound) {
				t.Fatalf("a token with its time part altered: %v, want not found", err)
			}
			next, err := st.Refresh(ctx, models.RefreshGrant{Client: f.Confidential, RefreshToken: rt})
			if err != nil {
				t.Fatalf("refresh with the old refresh token: %v", err)
			}
			if !tokenForm.MatchString(next.AccessToken) || !tokenForm.MatchString(next.RefreshToken) {
				t.Errorf("a refresh issues tokens of the new form, got %q", models.SecretHint(next.AccessToken))
			}
			if _, err := st.ActiveToken(ctx, at); !errors.Is(err, models.ErrNotFound) {
				t.Errorf("the old access token after its grant was refreshed: %v, want not found", err)
			}
			res, err := st.Revoke(ctx, models.RevokeRequest{Token: rt, AsClient: f.Confidential,
				Actor: models.AsClient(f.Confidential)})
			if err != nil || res.Tokens == 0 {
				t.Fatalf("revoke the old refresh token: %+v, %v", res, err)
			}
			if _, err := st.ActiveToken(ctx, next.AccessToken); !errors.Is(err, models.ErrNotFound) {
				t.Errorf("the grant's new access token after its old refresh token was revoked: %v, want not found", err)
			}
		})
	}
}
