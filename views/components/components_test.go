package components_test

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
	"github.com/latchkey/latchkey/views/components"
)

// render renders a component and parses it; it returns the HTML too.
func render(t *testing.T, c templ.Component) (*goquery.Document, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	d, err := goquery.NewDocumentFromReader(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	return d, buf.String()
}

func TestStatusBadge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status    string
		wantClass string
	}{
		{"active", "badge-active"},
		{"revoked", "badge-revoked"},
		// Dead without a revocation: muted, and told apart from each other.
		{"expired", "badge-expired"},
		{"rotated", "badge-rotated"},
	}
	for _, tc := range tests {
		t.Run(tc.status, func(t *testing.T) {
			d, _ := render(t, components.StatusBadge(tc.status))
			b := d.Find(`[data-testid="status"]`)
			if b.Length() != 1 {
				t.Fatalf("badges: got %d, want 1", b.Length())
			}
			if got := b.Text(); got != tc.status {
				t.Errorf("text: got %q, want %q (the word, not only the colour)", got, tc.status)
			}
			if !b.HasClass("badge") || !b.HasClass(tc.wantClass) {
				t.Errorf("class: got %q, want badge %s", b.AttrOr("class", ""), tc.wantClass)
			}
			for _, other := range []string{"badge-active", "badge-revoked", "badge-expired", "badge-rotated"} {
				if other != tc.wantClass && b.HasClass(other) {
					t.Errorf("class: got %q, which also has %s", b.AttrOr("class", ""), other)
				}
			}
		})
	}
}

func TestPager(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		props     components.PagerProps
		wantNext  string // the cursor the next link carries; "" for no link
		wantFirst bool
	}{
		{"one page only", components.PagerProps{}, "", false},
		{"first of several", components.PagerProps{Next: "/admin/tokens?before=4021&user=alice"}, "4021", false},
		{"a middle page", components.PagerProps{First: "/admin/tokens?user=alice", Next: "/admin/tokens?before=17&user=alice"}, "17", true},
		{"the last page", components.PagerProps{First: "/admin/tokens?user=alice"}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, html := render(t, components.Pager(tc.props))
			next := d.Find(`[data-testid="page-next"]`)
			if tc.wantNext == "" {
				if next.Length() != 0 {
					t.Errorf("next link on a page without more: %s", html)
				}
			} else {
				if next.Length() != 1 {
					t.Fatalf("next links: got %d, want 1", next.Length())
				}
				href, _ := next.Attr("href")
				u, err := url.Parse(href)
				if err != nil || u.Query().Get("before") != tc.wantNext || u.Query().Get("user") != "alice" {
					t.Errorf("next href: got %q, want the cursor before=%s and the filters kept", href, tc.wantNext)
				}
				if next.AttrOr("rel", "") != "next" {
					t.Errorf("next link without rel=next")
				}
			}
			if got := d.Find(`[data-testid="page-first"]`).Length() == 1; got != tc.wantFirst {
				t.Errorf("first link: got %v, want %v", got, tc.wantFirst)
			}
			if tc.props == (components.PagerProps{}) && strings.TrimSpace(html) != "" {
				t.Errorf("a single page renders a pager: %q", html)
			}
		})
	}
}

func TestSecretOnce(t *testing.T) {
	t.Parallel()
	const secret = "lk_cs_0123456789abcdefghijklmnopqrstuv"
	d, html := render(t, components.SecretOnce("client secret", secret))
	if n := strings.Count(html, secret); n != 1 {
		t.Errorf("the secret appears %d times in the HTML, want exactly once", n)
	}
	if got := d.Find(`[data-testid="secret-value"]`).Text(); got != secret {
		t.Errorf("secret value: got %q, want %q", got, secret)
	}
	warn := d.Find(`[data-testid="secret-once"] [role="alert"]`)
	if warn.Length() != 1 || !strings.Contains(warn.Text(), "Copy the client secret now") || !strings.Contains(warn.Text(), "shown this once") {
		t.Errorf("warning: got %q", warn.Text())
	}
	if strings.Contains(warn.Text(), secret) {
		t.Errorf("the warning repeats the secret")
	}
}

func TestAgo(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 10, 29, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		t    time.Time
		want string
	}{
		{"same instant", now, "just now"},
		{"seconds ago", now.Add(-59 * time.Second), "just now"},
		{"one minute", now.Add(-time.Minute), "1 min ago"},
		{"twelve minutes", now.Add(-12*time.Minute - 30*time.Second), "12 min ago"},
		{"just under an hour", now.Add(-59 * time.Minute), "59 min ago"},
		{"three hours", now.Add(-3*time.Hour - 59*time.Minute), "3 h ago"},
		{"a day", now.Add(-30 * time.Hour), "yesterday"},
		{"five days", now.Add(-5 * 24 * time.Hour), "5 days ago"},
		{"four months", now.Add(-125 * 24 * time.Hour), "4 months ago"},
		{"one year", now.Add(-400 * 24 * time.Hour), "1 year ago"},
		{"two years", now.Add(-800 * 24 * time.Hour), "2 years ago"},
		{"in twelve minutes", now.Add(12*time.Minute + 5*time.Second), "in 12 min"},
		{"tomorrow", now.Add(30 * time.Hour), "tomorrow"},
		{"in ten days", now.Add(10*24*time.Hour + time.Minute), "in 10 days"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := components.Ago(tc.t, now); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestWhen shows the exact time, in UTC and saying so, beside the
// relative one.
func TestWhen(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 10, 29, 12, 0, 0, 0, time.UTC)
	at := time.Date(2026, 10, 29, 13, 48, 0, 0, time.FixedZone("CEST", 2*3600)) // 11:48 UTC
	var buf bytes.Buffer
	if err := components.When(at).Render(components.WithNow(context.Background(), now), &buf); err != nil {
		t.Fatal(err)
	}
	d, err := goquery.NewDocumentFromReader(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Find("time").Text(); got != "2026-10-29 11:48 UTC" {
		t.Errorf("exact: got %q, want 2026-10-29 11:48 UTC", got)
	}
	if got := d.Find("time").AttrOr("datetime", ""); got != "2026-10-29T11:48:00Z" {
		t.Errorf("datetime: got %q", got)
	}
	if got := d.Find(`[data-testid="ago"]`).Text(); got != "12 min ago" {
		t.Errorf("relative: got %q, want 12 min ago", got)
	}
	if got := strings.Join(strings.Fields(d.Text()), " "); got != "2026-10-29 11:48 UTC 12 min ago" {
		t.Errorf("text: got %q (words must be spaced)", got)
	}
}
