package models

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
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
