package main

import (
	"context"
	"testing"

	"github.com/latchkey/latchkey/models"
)

// TestClientCreateRefusesUnsafeRedirectURIs: a redirect URI that a browser
// would run (javascript:, data:), plain http to a remote host or localhost,
// or a fragment is a usage error (exit 2, one line naming --redirect-uri
// and what is allowed), and nothing is registered.
func TestClientCreateRefusesUnsafeRedirectURIs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, uri, contains string }{
		{"javascript", "javascript:alert(document.cookie)", `scheme "javascript:"`},
		{"data", "data:text/html,<script>alert(1)</script>", `scheme "data:"`},
		{"remote http", "http://app.example.com/cb", "not a loopback address"},
		{"localhost", "http://localhost:8080/cb", "localhost"},
		{"fragment", "https://app.example.com/cb#top", "fragment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t)
			r := c.run("", "client", "create", "--name", "x", "--type", "public", "--grant", "authorization_code",
				"--redirect-uri", "https://ok.example.com/cb", "--redirect-uri", tc.uri)
			wantOneLine(t, r, 2, "--redirect-uri: Redirect URI")
			wantOneLine(t, r, 2, tc.contains)
			wantOneLine(t, r, 2, "http://127.0.0.1:PORT/")
			page, err := c.store().ListClients(context.Background(), models.Cursor{}, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Rows) != 0 {
				t.Errorf("a refused client was registered: %+v", page.Rows)
			}
		})
	}
}
