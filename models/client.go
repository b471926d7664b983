package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// ClientType is RFC 6749 §2.1's client type.
type ClientType string

// The client types.
const (
	ClientConfidential ClientType = "confidential"
	ClientPublic       ClientType = "public"
)

// GrantType is an RFC 6749 grant a client may use at the token endpoint.
type GrantType string

// The supported grant types.
const (
	GrantAuthorizationCode GrantType = "authorization_code"
	GrantRefreshToken      GrantType = "refresh_token"
	GrantClientCredentials GrantType = "client_credentials"
	GrantPassword          GrantType = "password"
)

// AllGrantTypes lists the supported grants in a stable order.
var AllGrantTypes = []GrantType{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantPassword}

// DefaultScope is what a client may ask for when created without --scope,
// as in django-oauth-toolkit.
const DefaultScope = "read write"

// Client is a registered OAuth client. Space-separated lists (grant types,
// redirect URIs, scopes, origins) are stored as text, as DOT does.
type Client struct {
	ID             int64
	ClientID       string
	Name           string
	Type           ClientType
	SecretHash     []byte
	SecretHint     string
	GrantTypes     string
	RedirectURIs   string
	Scope          string
	AllowedOrigins string
	Introspect     bool
	// SSF lets the client manage revocation event streams as a receiver
	// (OpenID SSF 1.0 stream management), with a client_credentials token.
	SSF        bool `gorm:"column:ssf"`
	DisabledAt *time.Time
	CreatedAt  time.Time
}

var clientColumns = []string{"id", "client_id", "name", "type", "secret_hash", "secret_hint", "grant_types",
	"redirect_uris", "scope", "allowed_origins", "introspect", "ssf", "disabled_at", "created_at"}

// IsPublic reports whether the client cannot keep a secret.
func (c *Client) IsPublic() bool { return c.Type == ClientPublic }

// Allows reports whether the client was registered for grant g.
func (c *Client) Allows(g GrantType) bool {
	return slices.Contains(strings.Fields(c.GrantTypes), string(g))
}

// RedirectURIList returns the registered redirect URIs.
func (c *Client) RedirectURIList() []string { return strings.Fields(c.RedirectURIs) }

// OriginList returns the origins allowed to call the revocation endpoint
// from a browser (CORS).
func (c *Client) OriginList() []string { return strings.Fields(c.AllowedOrigins) }

// ScopeList returns the scopes the client may ask for.
func (c *Client) ScopeList() []string { return strings.Fields(c.Scope) }

// NewClient is what CreateClient needs to register a client.
type NewClient struct {
	Name           string
	Type           ClientType
	GrantTypes     []GrantType
	RedirectURIs   []string
	Scope          string
	AllowedOrigins []string
	Introspect     bool
	SSF            bool // may manage revocation event streams
}

// Validate checks a client registration and says what to fix.
func (n *NewClient) Validate() error {
	if strings.TrimSpace(n.Name) == "" || len(n.Name) > 200 {
		return invalid("name", "Name is required (at most 200 characters).")
	}
	if n.Type != ClientConfidential && n.Type != ClientPublic {
		return invalid("type", "Type must be confidential or public.")
	}
	if len(n.GrantTypes) == 0 {
		return invalid("grant_types", "At least one grant type is required.")
	}
	for _, g := range n.GrantTypes {
		if !slices.Contains(AllGrantTypes, g) {
			return invalid("grant_types", "Unknown grant type %q (use authorization_code, refresh_token, client_credentials, password).", g)
		}
	}
	if n.Type == ClientPublic && slices.Contains(n.GrantTypes, GrantClientCredentials) {
		return invalid("grant_types", "A public client cannot use client_credentials (RFC 6749 §4.4).")
	}
	if slices.Contains(n.GrantTypes, GrantAuthorizationCode) && len(n.RedirectURIs) == 0 {
		return invalid("redirect_uris", "authorization_code needs at least one redirect URI (--redirect-uri).")
	}
	for _, u := range n.RedirectURIs {
		if err := ValidateRedirectURI(u); err != nil {
			return err
		}
	}
	if _, err := ParseScope(n.Scope); err != nil || strings.TrimSpace(n.Scope) == "" {
		return invalid("scope", "Scope must be space-separated names of printable ASCII without \" or \\.")
	}
	for _, o := range n.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return invalid("allowed_origins", "Allowed origin %q must look like https://app.example.com.", o)
		}
	}
	return nil
}

// CreatedClient is a new client with its secret, which exists only here.
type CreatedClient struct {
	Client *Client
	Secret string // empty for public clients
}

// CreateClient registers a client; a confidential one gets a fresh secret.
func (s *Store) CreateClient(ctx context.Context, n NewClient) (*CreatedClient, error) {
	return s.createClient(ctx, n, nil)
}

// createClient registers a client and, when ev is set, writes ev (naming
// the new client) in the same transaction.
func (s *Store) createClient(ctx context.Context, n NewClient, ev *AuditEvent) (*CreatedClient, error) {
	if n.Scope == "" {
		n.Scope = DefaultScope
	}
	if err := n.Validate(); err != nil {
		return nil, err
	}
	scope, _ := ParseScope(n.Scope)
	grants := make([]string, len(n.GrantTypes))
	for i, g := range n.GrantTypes {
		grants[i] = string(g)
	}
	c := &Client{
		ClientID:       newClientID(),
		Name:           strings.TrimSpace(n.Name),
		Type:           n.Type,
		GrantTypes:     strings.Join(grants, " "),
		RedirectURIs:   strings.Join(n.RedirectURIs, " "),
		Scope:          scope.String(),
		AllowedOrigins: strings.Join(trimSlashes(n.AllowedOrigins), " "),
		Introspect:     n.Introspect,
		SSF:            n.SSF,
		CreatedAt:      s.Now(),
	}
	out := &CreatedClient{Client: c}
	if c.Type == ClientConfidential {
		out.Secret = NewSecret(PrefixClientSecret)
		c.SecretHash = HashSecret(out.Secret)
		c.SecretHint = SecretHint(out.Secret)
	}
	err := s.write(ctx, func(tx *gorm.DB) error {
		if err := clientNameTaken(tx, c.Name, 0); err != nil {
			return err
		}
		if err := create(tx, c); err != nil {
			return err
		}
		if err := s.countTotal(tx, countClients, 1); err != nil || ev == nil {
			return err
		}
		e := *ev
		e.ClientID = &c.ID
		return s.insertAudit(tx, &e)
	})
	if err != nil {
		return nil, wrapWrite("create client", err)
	}
	return out, nil
}

// ClientByClientID returns the client with that public identifier.
func (s *Store) ClientByClientID(ctx context.Context, clientID string) (*Client, error) {
	if !storable(clientID) {
		return nil, fmt.Errorf("%w: client", ErrNotFound)
	}
	var c Client
	err := s.readRow(ctx, qClientByClientID, clientID).Scan(
		&c.ID, &c.ClientID, &c.Name, &c.Type, &c.SecretHash, &c.SecretHint, &c.GrantTypes, &c.RedirectURIs,
		&c.Scope, &c.AllowedOrigins, &c.Introspect, &c.SSF, &c.DisabledAt, &c.CreatedAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("%w: client", ErrNotFound)
	case err != nil:
		return nil, unavailable("client by client_id", err)
	}
	return &c, nil
}

// qClientByClientID is the client lookup every authenticated request does.
const qClientByClientID = `SELECT id, client_id, name, type, secret_hash, secret_hint, grant_types, redirect_uris, scope,
	allowed_origins, introspect, ssf, disabled_at, created_at FROM clients WHERE client_id = ?`

// ClientByID returns the client with that row id.
func (s *Store) ClientByID(ctx context.Context, id int64) (*Client, error) {
	var c Client
	res := s.r.WithContext(ctx).Select(clientColumns).Where("id = ?", id).Limit(1).Find(&c)
	if res.Error != nil {
		return nil, unavailable("client by id", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, fmt.Errorf("%w: client %d", ErrNotFound, id)
	}
	return &c, nil
}

// AuthenticateClient checks a client's credentials (RFC 6749 §2.3). A
// confidential client must present its secret; a public client must present
// none. An unknown or disabled client, a wrong secret, a missing secret and a
// secret from a public client all give ErrBadLogin: the caller answers
// invalid_client without saying which.
func (s *Store) AuthenticateClient(ctx context.Context, clientID, secret string, secretGiven bool) (*Client, error) {
	c, err := s.cachedClientByClientID(ctx, clientID)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			// Burn a hash comparison anyway so the timing does not tell
			// whether the client exists.
			SecretMatches(secret, make([]byte, 32))
			return nil, ErrBadLogin
		}
		return nil, err
	}
	switch {
	case c.DisabledAt != nil:
		return nil, ErrBadLogin
	case c.IsPublic():
		if secretGiven {
			return nil, ErrBadLogin
		}
	default:
		if !secretGiven || !SecretMatches(secret, c.SecretHash) {
			return nil, ErrBadLogin
		}
	}
	return c, nil
}

// OriginAllowed reports whether any enabled client lists origin as allowed
// to call the revocation endpoint from a browser (answering a CORS
// preflight, which carries no client credentials).
func (s *Store) OriginAllowed(ctx context.Context, origin string) (bool, error) {
	var lists []string
	err := s.r.WithContext(ctx).Raw("SELECT allowed_origins FROM clients WHERE allowed_origins <> '' AND disabled_at IS NULL").
		Scan(&lists).Error
	if err != nil {
		return false, unavailable("origin allowed", err)
	}
	for _, l := range lists {
		if slices.Contains(strings.Fields(l), origin) {
			return true, nil
		}
	}
	return false, nil
}

// trimSlashes drops each origin's trailing slash: browsers send Origin
// without one.
func trimSlashes(origins []string) []string {
	out := make([]string, len(origins))
	for i, o := range origins {
		out[i] = strings.TrimRight(o, "/")
	}
	return out
}
