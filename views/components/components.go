// Package components holds the templ pieces the dashboard and the
// self-service page share: status badges, times, pagination, confirmations
// and the one place a raw secret is shown.
package components

import (
	"fmt"
)

func badgeClass(status string) string {
	switch status {
	case "active":
		return "badge-active"
	case "revoked":
		return "badge-revoked"
	}
	return "badge-expired"
}

// Plural formats a count with its noun: "1 grant", "3 tokens".
func Plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
