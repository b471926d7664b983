package models

import (
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// FoldUsername returns the canonical form of a username: ASCII letters in
// lower case. Usernames are stored folded, so "Alice", "ALICE" and "alice"
// are one account: every lookup (login, the password grant, the command
// line, dashboard filters) folds what was typed, and the unique index on
// users.username then makes uniqueness case-insensitive too. Only A–Z are
// folded: usernames are ASCII, and Unicode case mapping would let other
// characters (the Kelvin sign folds to "k") reach an ASCII account.
func FoldUsername(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return 'A' <= r && r <= 'Z' }) < 0 {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// checkUsernamesFold runs before migration 4 folds the stored usernames.
// Two users whose names differ only in case cannot both keep their name:
// rather than merge accounts or pick a winner silently, the migration
// stops and names them, so that an operator renames or removes all but
// one (the old binary keeps working on the unmigrated database meanwhile).
func checkUsernamesFold(tx *gorm.DB) error {
	var rows []struct {
		ID       int64
		Username string
	}
	err := tx.Raw(`SELECT id, username FROM users WHERE LOWER(username) IN
		(SELECT LOWER(username) FROM users GROUP BY LOWER(username) HAVING COUNT(*) > 1)
		ORDER BY LOWER(username), id`).Scan(&rows).Error
	if err != nil || len(rows) == 0 {
		return err
	}
	var names []string
	for _, r := range rows {
		names = append(names, fmt.Sprintf("%q (id %d)", r.Username, r.ID))
	}
	last := rows[len(rows)-1]
	return fmt.Errorf("usernames are now case-insensitive, but users %s differ only in case: "+
		"rename all but one of each (for example UPDATE users SET username = '%s-%d' WHERE id = %d) and migrate again",
		strings.Join(names, ", "), FoldUsername(last.Username), last.ID, last.ID)
}
