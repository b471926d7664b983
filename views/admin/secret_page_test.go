package admin_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/latchkey/latchkey/views/admin"
	"github.com/latchkey/latchkey/views/layout"
)

// TestSecretPageShowsTheSecretOnce checks the whole page, not only the
// component: the secret is in it exactly once, next to the warning, and a
// public client's page (no secret) has no secret block at all.
func TestSecretPageShowsTheSecretOnce(t *testing.T) {
	t.Parallel()
	const secret = "lk_cs_zyxwvutsrqponmlkjihgfedcba9876543210"
	tests := []struct {
		name   string
		secret string
		want   int
	}{
		{"confidential client", secret, 1},
		{"public client", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := admin.SecretPage(admin.SecretPageProps{Page: layout.Page{Title: "Client registered"}, Title: "Client Billing registered",
				ClientID: "billing-id", Secret: tc.secret, Back: "/admin/clients/7"}).Render(context.Background(), &buf)
			if err != nil {
				t.Fatal(err)
			}
			html := buf.String()
			d, err := goquery.NewDocumentFromReader(strings.NewReader(html))
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Find(`[data-testid="secret-once"]`).Length(); got != tc.want {
				t.Errorf("secret blocks: got %d, want %d", got, tc.want)
			}
			if tc.secret != "" {
				if n := strings.Count(html, tc.secret); n != 1 {
					t.Errorf("the secret appears %d times in the page, want once", n)
				}
				if !strings.Contains(d.Find(`[data-testid="secret-once"]`).Text(), "shown this once") {
					t.Errorf("no warning next to the secret")
				}
			}
			if got := d.Find(`[data-testid="new-client-id"]`).Text(); got != "billing-id" {
				t.Errorf("client_id: got %q", got)
			}
		})
	}
}
