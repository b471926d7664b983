package models

import (
	"strings"
	"time"
	"unicode"
)

// Seen is where a request came from: its source address (as the server
// resolved it, behind trusted proxies) and its User-Agent. Grants record
// the one that issued them and the one that last used them, so that staff
// deciding whether a session is theirs can see from where and with what.
type Seen struct {
	Addr      string
	UserAgent string
}

// The longest address and User-Agent a grant keeps. An IPv6 address is at
// most 45 characters; a User-Agent is the client's to choose, so it is
// cut and cleaned before it is stored or shown.
const (
	maxSeenAddr = 64
	maxSeenUA   = 200
)

// clean returns s fit to store: control characters (a User-Agent is
// attacker-chosen text that ends up on a page and in a CSV) and invalid
// UTF-8 dropped, then cut to length on a character boundary.
func (s Seen) clean() Seen {
	return Seen{Addr: truncate(printable(s.Addr), maxSeenAddr), UserAgent: truncate(printable(s.UserAgent), maxSeenUA)}
}

func printable(s string) string {
	s = strings.ToValidUTF8(s, "")
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s))
}

// GrantContext is where a grant was issued from and last seen: the
// source address and User-Agent of the request that started it, and of
// its last use with the holder talking to Latchkey directly (/api/me, a
// refresh). Introspection moves LastUsedAt but not this: its caller is the
// resource server, not the token's holder.
type GrantContext struct {
	IssuedAddr   string
	IssuedUA     string `gorm:"column:issued_ua"`
	LastSeenAt   *time.Time
	LastSeenAddr string
	LastSeenUA   string `gorm:"column:last_seen_ua"`
}
