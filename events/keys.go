package events

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// Key is an ES256 signing key: an ECDSA P-256 private key and its key id.
type Key struct {
	ID      string
	Private *ecdsa.PrivateKey
}

// ErrBadKey is a stored signing key that cannot be read.
var ErrBadKey = errors.New("events: signing key is not a PKCS #8 ECDSA P-256 key")

// NewKey generates a P-256 key. Its id is the key's RFC 7638 thumbprint,
// so the same key always has the same kid and two keys never share one.
func NewKey() (Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Key{}, fmt.Errorf("events: generate key: %w", err)
	}
	return keyOf(priv)
}

func keyOf(priv *ecdsa.PrivateKey) (Key, error) {
	jwk := jose.JSONWebKey{Key: &priv.PublicKey}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return Key{}, fmt.Errorf("events: key thumbprint: %w", err)
	}
	return Key{ID: base64.RawURLEncoding.EncodeToString(tp), Private: priv}, nil
}

// MarshalPrivate returns the private key as PKCS #8 DER, the form kept in
// the database.
func (k Key) MarshalPrivate() ([]byte, error) {
	return x509.MarshalPKCS8PrivateKey(k.Private)
}

// ParseKey reads a key written by MarshalPrivate, with its stored id.
func ParseKey(kid string, der []byte) (Key, error) {
	p, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return Key{}, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	priv, ok := p.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return Key{}, ErrBadKey
	}
	return Key{ID: kid, Private: priv}, nil
}

// Signer signs SETs with one key: JWS compact serialization (RFC 7515
// §7.1), alg ES256, typ secevent+jwt (RFC 8417 §2.3), and the key's kid so
// receivers pick the right key from the JWK Set.
type Signer struct {
	kid    string
	signer jose.Signer
}

// NewSigner returns a signer for k.
func NewSigner(k Key) (*Signer, error) {
	opts := (&jose.SignerOptions{}).WithType(JOSEType)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k.Private, KeyID: k.ID}}, opts)
	if err != nil {
		return nil, fmt.Errorf("events: signer: %w", err)
	}
	return &Signer{kid: k.ID, signer: s}, nil
}

// KeyID is the id of the signing key.
func (s *Signer) KeyID() string { return s.kid }

// Sign returns the compact JWS of c.
func (s *Signer) Sign(c Claims) (string, error) {
	payload, err := c.appendJSON(make([]byte, 0, 512))
	if err != nil {
		return "", fmt.Errorf("events: encode claims: %w", err)
	}
	obj, err := s.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("events: sign: %w", err)
	}
	return obj.CompactSerialize()
}

// PublicKey is a key as the JWK Set publishes it.
type PublicKey struct {
	ID     string
	Public *ecdsa.PublicKey
}

// JWKS renders the public keys as an RFC 7517 §5 JWK Set: kty EC, crv
// P-256, kid, alg ES256, use sig. Private material never leaves: only the
// public halves are given.
func JWKS(keys []PublicKey) ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Public, KeyID: k.ID, Algorithm: string(jose.ES256), Use: "sig"})
	}
	return json.Marshal(set)
}
