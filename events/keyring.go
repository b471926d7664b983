package events

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/latchkey/latchkey/models"
)

// RetiredKeyTTL is how long a key replaced by `latchkey keys rotate` stays
// in the JWK Set. Every SET is signed when it is sent (each push attempt
// and each poll answer signs afresh with the current key), so after a
// rotation the old key signs nothing new once every replica has read the
// new key (within signerRefresh, 1 s) and the requests in flight have
// ended (a push gives up after 10 s, a long poll after 25 s): about 36 s.
// What can still be in flight after that is a SET a receiver took and
// verifies later, from a queue of its own. A day covers a receiver that
// was down or batching for that long, without publishing a replaced key
// much longer than any such queue keeps a SET.
const RetiredKeyTTL = models.RetiredSigningKeyTTL

// signerRefresh is how long a process signs with the key it read before
// looking again, so that a rotation done from the command line (another
// process) takes effect on every replica within it.
const signerRefresh = time.Second

// Keys is the signing key ring, kept in the database (models.SigningKey)
// so that every replica signs with the same key.
type Keys struct {
	st *models.Store

	mu     sync.Mutex
	signer *Signer
	readAt time.Time

	// The rendered JWK Set, reused for signerRefresh: /o/jwks/ is public,
	// and rendering reads the keys and parses each private key. signerGen
	// counts the signer's key changes, and a set rendered under an earlier
	// one (jwksGen) is not reused, so that this process never signs with a
	// key its own JWK Set does not list yet: a receiver meeting a new kid
	// fetches the set once, and must find it there.
	jwks      []byte
	jwksAt    time.Time
	jwksGen   uint64
	signerGen uint64
}

// NewKeys returns the key ring of st.
func NewKeys(st *models.Store) *Keys { return &Keys{st: st} }

// Ensure makes sure a key signs: on a first start it generates one. It
// reports the signing key's id and whether it was created now.
func (k *Keys) Ensure(ctx context.Context) (string, bool, error) {
	cur, err := k.st.CurrentSigningKey(ctx)
	if err == nil {
		return cur.Kid, false, nil
	}
	if !errors.Is(err, models.ErrNotFound) {
		return "", false, err
	}
	key, err := NewKey()
	if err != nil {
		return "", false, err
	}
	der, err := key.MarshalPrivate()
	if err != nil {
		return "", false, err
	}
	// Replicas starting together each propose a key; one is kept.
	got, added, err := k.st.AddFirstSigningKey(ctx, key.ID, der)
	if err != nil {
		return "", false, err
	}
	return got.Kid, added, nil
}

// Signer returns a signer with the current key, read from the database at
// most every signerRefresh (a first key is generated if there is none).
func (k *Keys) Signer(ctx context.Context) (*Signer, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.signer != nil && time.Since(k.readAt) < signerRefresh {
		return k.signer, nil
	}
	cur, err := k.st.CurrentSigningKey(ctx)
	if errors.Is(err, models.ErrNotFound) {
		if _, _, err = k.Ensure(ctx); err != nil {
			return nil, err
		}
		cur, err = k.st.CurrentSigningKey(ctx)
	}
	if err != nil {
		return nil, err
	}
	if k.signer == nil || k.signer.KeyID() != cur.Kid {
		key, err := ParseKey(cur.Kid, cur.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", cur.Kid, err)
		}
		if k.signer, err = NewSigner(key); err != nil {
			return nil, err
		}
		k.signerGen++
	}
	k.readAt = time.Now()
	return k.signer, nil
}

// Rotate adds a new key that signs from now on (in this process at once,
// in others within signerRefresh) and retires the old one, which stays in
// the JWK Set for RetiredKeyTTL. Keys retired longer ago are deleted. It
// returns the new key's id and the retired keys still published.
func (k *Keys) Rotate(ctx context.Context, by models.StaffAction) (string, []string, error) {
	key, err := NewKey()
	if err != nil {
		return "", nil, err
	}
	der, err := key.MarshalPrivate()
	if err != nil {
		return "", nil, err
	}
	if _, err := k.st.AddSigningKey(ctx, by, key.ID, der); err != nil {
		return "", nil, err
	}
	if _, err := k.st.DeleteRetiredSigningKeys(ctx, k.st.Now().Add(-RetiredKeyTTL)); err != nil {
		return "", nil, err
	}
	k.mu.Lock()
	k.signer = nil
	k.signerGen++
	k.mu.Unlock()
	pub, err := k.Published(ctx)
	if err != nil {
		return key.ID, nil, err
	}
	var retired []string
	for _, p := range pub {
		if p.ID != key.ID {
			retired = append(retired, p.ID)
		}
	}
	return key.ID, retired, nil
}

// Published returns the keys the JWK Set lists: the current key first,
// then those retired less than RetiredKeyTTL ago. With no key yet (a
// server started without Ensure) it makes the first one, so that the set
// is never empty.
func (k *Keys) Published(ctx context.Context) ([]PublicKey, error) {
	keys, err := k.st.SigningKeys(ctx)
	if err == nil && len(keys) == 0 {
		if _, _, err = k.Ensure(ctx); err == nil {
			keys, err = k.st.SigningKeys(ctx)
		}
	}
	if err != nil {
		return nil, err
	}
	cutoff := k.st.Now().Add(-RetiredKeyTTL)
	out := make([]PublicKey, 0, len(keys))
	for _, sk := range keys {
		if sk.RetiredAt != nil && sk.RetiredAt.Before(cutoff) {
			continue
		}
		key, err := ParseKey(sk.Kid, sk.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", sk.Kid, err)
		}
		out = append(out, PublicKey{ID: key.ID, Public: &key.Private.PublicKey})
	}
	return out, nil
}

// JWKS renders the published keys as a JWK Set. The rendering is reused
// for signerRefresh, as the signer is: a rotation on another replica shows
// here within that time, and at once after a rotation in this process.
func (k *Keys) JWKS(ctx context.Context) ([]byte, error) {
	k.mu.Lock()
	if k.jwks != nil && k.jwksGen == k.signerGen && time.Since(k.jwksAt) < signerRefresh {
		b := k.jwks
		k.mu.Unlock()
		return b, nil
	}
	gen := k.signerGen
	k.mu.Unlock()
	pub, err := k.Published(ctx)
	if err != nil {
		return nil, err
	}
	b, err := JWKS(pub)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	// Kept under the generation it was read in: if the signer moved to a
	// key meanwhile, which this set may not list, it is not reused.
	k.jwks, k.jwksAt, k.jwksGen = b, time.Now(), gen
	k.mu.Unlock()
	return b, nil
}
