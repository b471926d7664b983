// Package components holds the templ pieces the dashboard and the
// self-service page share: status badges, times, pagination, confirmations
// and the one place a raw secret is shown.
package components

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// badgeClass gives each status a look of its own: expired is muted and
// dashed, rotated (replaced by a newer token, a normal end) muted and
// dotted.
func badgeClass(status string) string {
	switch status {
	case "active":
		return "badge-active"
	case "revoked":
		return "badge-revoked"
	case "rotated":
		return "badge-rotated"
	}
	return "badge-expired"
}

type nowKey struct{}

// WithNow returns a context whose relative times ("12 min ago") are
// counted from now; without it they are counted from the clock.
func WithNow(ctx context.Context, now time.Time) context.Context {
	return context.WithValue(ctx, nowKey{}, now)
}

func nowFrom(ctx context.Context) time.Time {
	if t, ok := ctx.Value(nowKey{}).(time.Time); ok {
		return t
	}
	return time.Now()
}

// Ago says how far t is from now in words a person reads at a glance:
// "just now", "12 min ago", "3 h ago", "yesterday", "5 days ago",
// "4 months ago", "2 years ago"; a future instant reads "in 12 min".
// The exact time always stands beside it.
func Ago(t, now time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		s = fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 24*time.Hour:
		s = fmt.Sprintf("%d h", int(d/time.Hour))
	case d < 48*time.Hour:
		if future {
			return "tomorrow"
		}
		return "yesterday"
	case d < 60*24*time.Hour:
		s = fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	case d < 365*24*time.Hour:
		s = fmt.Sprintf("%d months", int(d/(30*24*time.Hour)))
	default:
		s = Plural(int64(d/(365*24*time.Hour)), "year", "years")
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// exactUTC is the exact time shown beside a relative one, with its zone.
func exactUTC(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") + " UTC" }

// actionPath is an action URL without its query.
func actionPath(action string) string {
	p, _, _ := strings.Cut(action, "?")
	return p
}

// actionParams are the query parameters of an action URL, in a stable
// order.
func actionParams(action string) [][2]string {
	_, q, ok := strings.Cut(action, "?")
	if !ok {
		return nil
	}
	vals, err := url.ParseQuery(q)
	if err != nil {
		return nil
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out [][2]string
	for _, k := range keys {
		for _, v := range vals[k] {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

// buttonClass is an action button's look: a red outline for a destructive
// action, the quiet secondary look for any other.
func buttonClass(danger bool) string {
	if danger {
		return "danger outline"
	}
	return "secondary"
}

// Plural formats a count with its noun: "1 grant", "3 tokens".
func Plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
