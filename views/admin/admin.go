// Package admin holds the dashboard's pages (/admin/…). Handlers fill the
// props structs; the templates only lay them out.
package admin

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/views/components"
	"github.com/latchkey/latchkey/views/layout"
)

// Shell is what every dashboard page carries besides its content.
type Shell struct {
	Page layout.Page
	// Flash announces the outcome of the last action, once.
	Flash string
	// CanAct is true for admins: auditors see no action buttons (and the
	// server refuses their POSTs anyway).
	CanAct bool
	// Self is this page's URL, where an action returns to.
	Self string
}

// The ids of the page regions that actions update in place.
const (
	RegionTokens       = "tokens-list"
	RegionUserGrants   = "user-grants"
	RegionClientGrants = "client-grants"
	RegionClient       = "client-page"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// filterURL is path with one query parameter, escaped: a username such as
// "carl+ops" or "a&b" must reach the filter as typed ("+" would otherwise
// read as a space).
func filterURL(path, key, value string) string {
	return path + "?" + url.Values{key: {value}}.Encode()
}

func num(n int) string { return strconv.Itoa(n) }

// cols is a table's column count: its data columns, and one more for the
// actions when the viewer may act (an auditor's table has none).
func cols(data int, canAct bool) string {
	if canAct {
		data++
	}
	return strconv.Itoa(data)
}

func ptrID(p *int64) string {
	if p == nil {
		return ""
	}
	return itoa(*p)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func plural(n int64, one, many string) string { return components.Plural(n, one, many) }

// grantGroup is the rows of one client on a page of grants.
type grantGroup struct {
	ClientID   int64
	ClientName string
	Rows       []models.GrantRow
}

// groupByClient keeps the page's order of first appearance.
func groupByClient(rows []models.GrantRow) []grantGroup {
	var out []grantGroup
	idx := map[int64]int{}
	for _, r := range rows {
		i, ok := idx[r.ClientID]
		if !ok {
			i = len(out)
			idx[r.ClientID] = i
			out = append(out, grantGroup{ClientID: r.ClientID, ClientName: r.ClientName})
		}
		out[i].Rows = append(out[i].Rows, r)
	}
	return out
}

func actionLabel(a models.Action) string { return string(a) }

func grantTypes(s string) string { return strings.ReplaceAll(s, " ", ", ") }

func dateOnly(t time.Time) string { return t.UTC().Format("Jan 2") }

func typeShort(t models.TokenType) string {
	if t == models.TokenTypeRefresh {
		return "refresh"
	}
	return "access"
}

// sinceURL is the audit page filtered to action (any, if empty) since t.
func sinceURL(action string, t time.Time) string {
	q := url.Values{"since": {t.UTC().Format(time.RFC3339Nano)}}
	if action != "" {
		q.Set("action", action)
	}
	return "/admin/audit?" + q.Encode()
}

// signalLabel says what a leak signal means, for the overview.
func signalLabel(a models.Action) string {
	switch a {
	case models.ActionRefreshReuse:
		return "Refresh tokens presented again after use (grant revoked)"
	case models.ActionCodeReuse:
		return "Authorization codes presented twice (grant revoked)"
	case models.ActionRevokeRefused:
		return "Revocations refused: another client's token"
	case models.ActionLoginThrottled:
		return "Logins throttled (password guessing)"
	}
	return string(a)
}
