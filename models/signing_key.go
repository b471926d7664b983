package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// SigningKey is a key that signs Security Event Tokens. The private key is
// kept in the database so that every replica signs with the same key; it
// is never logged and never leaves the server (the JWK Set at /o/jwks/
// publishes the public half).
type SigningKey struct {
	ID  int64
	Kid string
	// PrivateKey is the PKCS#8 DER encoding of the private key.
	PrivateKey []byte
	CreatedAt  time.Time
	// RetiredAt is when a newer key replaced this one; nil for the key
	// that signs now. A retired key stays published until nothing it
	// signed can still be in flight.
	RetiredAt *time.Time
}

// signingKeyLockKey is the PostgreSQL advisory lock that makes replicas
// starting together agree on one first key.
const signingKeyLockKey = 7009_0002

// SigningKeys returns every key still kept, the current one first and then
// the retired ones, newest first: the keys the JWK Set publishes.
func (s *Store) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	var out []SigningKey
	err := s.r.WithContext(ctx).Select("id", "kid", "private_key", "created_at", "retired_at").
		Order("CASE WHEN retired_at IS NULL THEN 0 ELSE 1 END, id DESC").Find(&out).Error
	if err != nil {
		return nil, unavailable("signing keys", err)
	}
	return out, nil
}

// CurrentSigningKey returns the key that signs now: the newest key not
// retired. None is ErrNotFound (see AddFirstSigningKey).
func (s *Store) CurrentSigningKey(ctx context.Context) (*SigningKey, error) {
	var k SigningKey
	res := s.r.WithContext(ctx).Select("id", "kid", "private_key", "created_at", "retired_at").
		Where("retired_at IS NULL").Order("id DESC").Limit(1).Find(&k)
	if res.Error != nil {
		return nil, unavailable("current signing key", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, fmt.Errorf("%w: signing key", ErrNotFound)
	}
	return &k, nil
}

// ActionKeyRotate is the audit event of a signing key rotation.
const ActionKeyRotate Action = "signing_key.rotate"

// AddSigningKey stores a new key, which signs from now on, and retires
// every other key in the same transaction (`latchkey keys rotate`), with a
// signing_key.rotate audit event naming the new key's id and the keys it
// retired. The retired keys stay published until DeleteRetiredSigningKeys
// removes them.
func (s *Store) AddSigningKey(ctx context.Context, by StaffAction, kid string, privateKeyDER []byte) (*SigningKey, error) {
	var out *SigningKey
	err := s.write(ctx, func(tx *gorm.DB) error {
		var retiring []string
		if err := tx.Raw("SELECT kid FROM signing_keys WHERE retired_at IS NULL ORDER BY id").Scan(&retiring).Error; err != nil {
			return err
		}
		var err error
		if out, err = s.addSigningKeyTx(tx, kid, privateKeyDER, true); err != nil {
			return err
		}
		reason := "new signing key " + kid
		if len(retiring) > 0 {
			reason += "; retired " + strings.Join(retiring, ", ")
		}
		if by.Reason != "" {
			reason += " (" + by.Reason + ")"
		}
		ev := newAuditEvent(by.Actor, ActionKeyRotate, reason, by.Remote, by.RequestID, s.Now())
		return s.insertAudit(tx, &ev)
	})
	if err != nil {
		return nil, wrapWrite("add signing key", err)
	}
	return out, nil
}

// AddFirstSigningKey stores the key when no key signs yet (a first start)
// and returns the key that signs, with whether it was this one. Replicas
// starting together each propose a key; one is kept.
func (s *Store) AddFirstSigningKey(ctx context.Context, kid string, privateKeyDER []byte) (*SigningKey, bool, error) {
	var out *SigningKey
	var added bool
	err := s.write(ctx, func(tx *gorm.DB) error {
		out, added = nil, false
		if s.dialect == DialectPostgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", signingKeyLockKey).Error; err != nil {
				return err
			}
		}
		var cur SigningKey
		res := tx.Select("id", "kid", "private_key", "created_at", "retired_at").Where("retired_at IS NULL").Order("id DESC").Limit(1).Find(&cur)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected > 0 {
			out = &cur
			return nil
		}
		var err error
		out, err = s.addSigningKeyTx(tx, kid, privateKeyDER, false)
		added = err == nil
		return err
	})
	if err != nil {
		return nil, false, wrapWrite("add first signing key", err)
	}
	return out, added, nil
}

func (s *Store) addSigningKeyTx(tx *gorm.DB, kid string, der []byte, retireOthers bool) (*SigningKey, error) {
	if kid == "" || len(kid) > 200 || len(der) == 0 {
		return nil, invalid("kid", "A signing key needs a kid of at most 200 characters and a private key.")
	}
	now := s.Now()
	if retireOthers {
		if err := tx.Exec("UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL", now).Error; err != nil {
			return nil, err
		}
	}
	k := &SigningKey{Kid: kid, PrivateKey: der, CreatedAt: now}
	if err := create(tx, k); err != nil {
		return nil, err
	}
	return k, nil
}

// DeleteRetiredSigningKeys deletes the keys retired before before (nothing
// they signed can still be in flight) and reports how many. The key that
// signs now is never deleted.
func (s *Store) DeleteRetiredSigningKeys(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *gorm.DB) error {
		res := tx.Exec("DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < ?", before.UTC())
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, wrapWrite("delete retired signing keys", err)
	}
	return int(n), nil
}
