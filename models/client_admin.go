package models

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// StaffAction says who does a dashboard action, and why, for the audit
// event it writes.
type StaffAction struct {
	Actor     Actor
	Reason    string
	Remote    string
	RequestID string
}

// event returns the audit event of a staff action at now.
func (a StaffAction) event(action Action, now time.Time) AuditEvent {
	return newAuditEvent(a.Actor, action, a.Reason, a.Remote, a.RequestID, now)
}

// ClientRow is a client as the dashboard lists it. It has no secret hash.
type ClientRow struct {
	ID         int64
	ClientID   string
	Name       string
	Type       ClientType
	SecretHint string
	GrantTypes string
	Scope      string
	Introspect bool
	SSF        bool `gorm:"column:ssf"`
	DisabledAt *time.Time
	CreatedAt  time.Time

	// Space-separated, as stored; the command line lists them.
	RedirectURIs   string
	AllowedOrigins string

	// ActiveGrants and LastUsedAt are filled by ListClientsMatching.
	ActiveGrants int64
	LastUsedAt   *time.Time
}

// ListClients lists clients, newest first, with keyset pagination on the
// primary key.
func (s *Store) ListClients(ctx context.Context, cur Cursor, limit int) (Page[ClientRow], error) {
	return s.ListClientsMatching(ctx, ClientFilter{}, cur, limit)
}

// CreateClientAs registers a client, as CreateClient does, for a staff
// member, and records a client.create audit event. The secret exists only
// in the result.
func (s *Store) CreateClientAs(ctx context.Context, n NewClient, a StaffAction) (*CreatedClient, error) {
	ev := a.event(ActionClientCreate, s.Now())
	return s.createClient(ctx, n, &ev) // the client and its event commit together
}

// RotateClientSecret gives a confidential client a new secret and records a
// client.rotate_secret audit event, in one transaction. The old secret stops
// working at once; tokens already issued stay valid (revoke them apart if
// the secret leaked). The new secret exists only in the result. A public
// client has no secret: ErrInvalid.
func (s *Store) RotateClientSecret(ctx context.Context, id int64, a StaffAction) (string, error) {
	secret := NewSecret(PrefixClientSecret)
	err := s.write(ctx, func(tx *gorm.DB) error {
		var c Client
		res := tx.Select("id", "type").Where("id = ?", id).Limit(1).Find(&c)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("%w: client %d", ErrNotFound, id)
		}
		if c.Type != ClientConfidential {
			return invalid("client", "A public client has no secret to rotate.")
		}
		if err := tx.Exec("UPDATE clients SET secret_hash = ?, secret_hint = ? WHERE id = ?",
			HashSecret(secret), SecretHint(secret), id).Error; err != nil {
			return err
		}
		ev := a.event(ActionClientRotate, s.Now())
		ev.ClientID = &id
		return s.insertAudit(tx, &ev)
	})
	s.forgetClients() // the old secret must stop working at once
	if err != nil {
		return "", wrapWrite("rotate client secret", err)
	}
	return secret, nil
}

// DisableClient stops a client for good: it can no longer authenticate or
// obtain tokens, and every token it holds is revoked through the
// revocation core, in the same transaction, with one client.disable audit
// event that counts them. Disabling only the login would leave its bearer
// tokens working at every resource server until they expire. Disabling a
// disabled client is ErrInvalid.
func (s *Store) DisableClient(ctx context.Context, id int64, a StaffAction) (RevokeResult, error) {
	var res RevokeResult
	err := s.write(ctx, func(tx *gorm.DB) error {
		now := s.Now()
		upd := tx.Exec("UPDATE clients SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL", now, id)
		if upd.Error != nil {
			return upd.Error
		}
		if upd.RowsAffected == 0 {
			var n int64
			if err := tx.Raw("SELECT COUNT(*) FROM clients WHERE id = ?", id).Scan(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("%w: client %d", ErrNotFound, id)
			}
			return invalid("client", "The client is already disabled.")
		}
		var err error
		res, err = s.revokeTx(tx, RevokeRequest{ClientID: id, Actor: a.Actor, Action: ActionClientDisable,
			Reason: strings.TrimSpace(a.Reason), Remote: a.Remote, RequestID: a.RequestID}, nil)
		if err != nil {
			return err
		}
		return s.disableClientStreamsTx(tx, id) // its streams stop too
	})
	s.forgetClients() // a disabled client must be refused at once
	if err != nil {
		return RevokeResult{}, wrapWrite("disable client", err)
	}
	return res, nil
}

// ClientUpdate is what an administrator may change about a client. Its
// type and client_id never change: turning a public client confidential
// would need a secret it was never given, and the reverse would leave a
// secret it no longer needs.
type ClientUpdate struct {
	Name           string
	GrantTypes     []GrantType
	RedirectURIs   []string
	Scope          string
	AllowedOrigins []string
	Introspect     bool
}

// UpdateClient changes a client's settings, validated as NewClient.Validate
// validates a registration, and records a client.update audit event naming
// the fields that changed, in one transaction. Narrowing the scope or
// removing a grant type does not revoke tokens already issued: they keep
// the scope they were issued with until they expire or are revoked (the
// caller says so). A new redirect URI list applies to the next
// authorization request. Saving unchanged settings writes nothing and
// records no event.
func (s *Store) UpdateClient(ctx context.Context, id int64, u ClientUpdate, a StaffAction) (*Client, error) {
	cur, err := s.ClientByID(ctx, id)
	if err != nil {
		return nil, err
	}
	n := NewClient{Name: u.Name, Type: cur.Type, GrantTypes: uniq(u.GrantTypes), RedirectURIs: uniq(u.RedirectURIs),
		Scope: u.Scope, AllowedOrigins: uniq(trimSlashes(u.AllowedOrigins)), Introspect: u.Introspect}
	if err := n.Validate(); err != nil {
		return nil, err
	}
	scope, _ := ParseScope(n.Scope)
	want := Client{Name: strings.TrimSpace(n.Name), GrantTypes: joinGrants(n.GrantTypes), RedirectURIs: strings.Join(n.RedirectURIs, " "),
		Scope: scope.String(), AllowedOrigins: strings.Join(n.AllowedOrigins, " "), Introspect: n.Introspect}
	var out *Client
	err = s.write(ctx, func(tx *gorm.DB) error {
		out = nil // afresh on every run: the writer may run this twice
		var old Client
		res := tx.Select(clientColumns).Where("id = ?", id).Limit(1).Find(&old)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("%w: client %d", ErrNotFound, id)
		}
		if err := clientNameTaken(tx, want.Name, id); err != nil {
			return err
		}
		changed := clientChanges(&old, &want)
		next := old
		next.Name, next.GrantTypes, next.RedirectURIs = want.Name, want.GrantTypes, want.RedirectURIs
		next.Scope, next.AllowedOrigins, next.Introspect = want.Scope, want.AllowedOrigins, want.Introspect
		if len(changed) == 0 {
			out = &old
			return nil
		}
		if err := tx.Exec("UPDATE clients SET name = ?, grant_types = ?, redirect_uris = ?, scope = ?, allowed_origins = ?, introspect = ? WHERE id = ?",
			next.Name, next.GrantTypes, next.RedirectURIs, next.Scope, next.AllowedOrigins, next.Introspect, id).Error; err != nil {
			return err
		}
		ev := a.event(ActionClientUpdate, s.Now())
		ev.ClientID = &id
		ev.Reason = truncate(describeChanges(changed, a.Reason), 500)
		if err := s.insertAudit(tx, &ev); err != nil {
			return err
		}
		out = &next
		return nil
	})
	// The token endpoint reads clients through the cache: a removed grant
	// type must be refused at once.
	s.forgetClients()
	if err != nil {
		return nil, wrapWrite("update client", err)
	}
	return out, nil
}

// clientChanges names the settings that differ between two clients, in
// the order the form shows them. Grant types compare as sets.
func clientChanges(old, next *Client) []string {
	var out []string
	if old.Name != next.Name {
		out = append(out, "name")
	}
	if !sameFields(old.GrantTypes, next.GrantTypes) {
		out = append(out, "grant types")
	}
	if old.RedirectURIs != next.RedirectURIs {
		out = append(out, "redirect URIs")
	}
	if !sameFields(old.Scope, next.Scope) {
		out = append(out, "scope")
	}
	if old.AllowedOrigins != next.AllowedOrigins {
		out = append(out, "allowed origins")
	}
	if old.Introspect != next.Introspect {
		out = append(out, "introspection")
	}
	return out
}

// describeChanges is an edit's audit reason: what changed (never a value
// that could be secret), then the staff member's own reason, if any.
func describeChanges(changed []string, reason string) string {
	return "changed " + strings.Join(changed, ", ") + reasonSuffix(reason)
}

// sameFields reports whether two space-separated lists hold the same
// names, in any order.
func sameFields(a, b string) bool {
	x, y := strings.Fields(a), strings.Fields(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

// joinGrants stores grant types in AllGrantTypes' order.
func joinGrants(gs []GrantType) string {
	var out []string
	for _, g := range AllGrantTypes {
		if slices.Contains(gs, g) {
			out = append(out, string(g))
		}
	}
	return strings.Join(out, " ")
}

// uniq drops repeated values, keeping the first of each in order.
func uniq[T comparable](vs []T) []T {
	var out []T
	for _, v := range vs {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
