package models

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"gorm.io/gorm"
)

// Scope is a set of scope tokens (RFC 6749 §3.3), kept sorted and unique.
type Scope []string

// ParseScope splits a space-delimited scope string. Each token must be
// NQCHAR: printable ASCII other than space, '"' and '\'.
func ParseScope(s string) (Scope, error) {
	var out Scope
	for tok := range strings.SplitSeq(s, " ") {
		if tok == "" {
			continue
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
				return nil, invalid("scope", "Scope contains a character RFC 6749 §3.3 does not allow.")
			}
		}
		out = append(out, tok)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// String joins the scope with single spaces.
func (sc Scope) String() string { return strings.Join(sc, " ") }

// Within reports whether every token of sc is in allowed.
func (sc Scope) Within(allowed Scope) bool {
	for _, t := range sc {
		if !slices.Contains(allowed, t) {
			return false
		}
	}
	return true
}

// Intersect returns the tokens of sc that are also in other.
func (sc Scope) Intersect(other Scope) Scope {
	var out Scope
	for _, t := range sc {
		if slices.Contains(other, t) {
			out = append(out, t)
		}
	}
	return out
}

// currentClientScopeTx returns granted narrowed to the scopes the client
// may ask for now, read inside tx rather than from the client cache: an
// edit made on another replica a moment ago must already count.
func currentClientScopeTx(tx *gorm.DB, clientID int64, granted string) (Scope, error) {
	var current string
	if err := tx.Raw("SELECT scope FROM clients WHERE id = ?", clientID).Scan(&current).Error; err != nil {
		return nil, err
	}
	g, _ := ParseScope(granted)
	c, _ := ParseScope(current)
	return g.Intersect(c), nil
}

// ResolveScope decides the scope of a grant or refresh: no scope asked means
// everything allowed; asking for anything beyond allowed is invalid_scope
// (RFC 6749 §3.3, §5.2).
func ResolveScope(requested, allowed string) (string, error) {
	al, _ := ParseScope(allowed)
	if strings.TrimSpace(requested) == "" {
		return al.String(), nil
	}
	req, err := ParseScope(requested)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidScope, err)
	}
	if !req.Within(al) {
		return "", fmt.Errorf("%w: requested scope exceeds what is allowed", ErrInvalidScope)
	}
	return req.String(), nil
}

// storable reports whether s can be stored and compared as text by both
// databases: valid UTF-8 without NUL. PostgreSQL rejects anything else with
// an error, which must not turn a client's typo into a 503.
func storable(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}
