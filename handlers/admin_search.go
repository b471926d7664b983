package handlers

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/views/admin"
)

// pastedToken is the token inside what an admin pasted. Tokens leak as
// they were sent or logged: "Bearer lk_at_…", a whole
// "Authorization: Bearer lk_at_…" header line, quoted in a JSON log, with
// surrounding whitespace or a trailing comma. The scheme and header name
// are matched in any case (RFC 9110 §11.1, §5.1).
func pastedToken(s string) string {
	// A whole log or curl line may be pasted: a Latchkey token anywhere in
	// it is what was meant.
	if tok := tokenInText.FindString(s); tok != "" {
		return tok
	}
	trim := func(s string) string { return strings.Trim(strings.TrimSpace(s), "\"'`,;") }
	s = trim(s)
	if name, rest, ok := strings.Cut(s, ":"); ok && strings.EqualFold(strings.TrimSpace(name), "authorization") {
		s = trim(rest)
	}
	if len(s) > 7 && strings.EqualFold(s[:7], "bearer ") {
		s = trim(s[7:])
	}
	return s
}

// looksSecret reports whether text might be a token or secret, which must
// never be echoed back into a page: Latchkey's prefixes, or a long word
// with no space (a token whose prefix was cut off).
func looksSecret(s string) bool {
	if strings.Contains(s, "lk_") {
		return true
	}
	for _, w := range strings.Fields(s) {
		if len(strings.Trim(w, "\"'`,;")) >= 32 {
			return true
		}
	}
	return false
}

// tokenInText finds a Latchkey access or refresh token (or code) inside
// pasted text.
var tokenInText = regexp.MustCompile(`lk_(?:at|rt|ac)_[A-Za-z0-9_-]{20,}`)

// Search is the search box in the header of every staff page. It takes a
// full token (as pasted from a header or a log), a username, a client name
// or a client_id, and goes straight to what it names (303), or lists the
// matches. It is a POST with the CSRF token, like the paste box: a token
// must never sit in a URL, where browser history, proxies and access logs
// keep it. A pasted token is compared by its key only (models.TokenKey: its
// issue time and SHA-256) and never shown; other text is echoed back
// (escaped) so that a miss says what was looked for. Auditors may search:
// it changes nothing.
func (h *Handler) Search(c echo.Context) error {
	ctx := c.Request().Context()
	typed := strings.TrimSpace(c.FormValue("q"))
	p := admin.SearchPageProps{Shell: shell(c, "Search", "")}
	if typed == "" {
		p.Message = "Type a token, a username, a client name or a client_id."
		return render(c, http.StatusOK, admin.SearchPage(p))
	}
	if tok := pastedToken(typed); !strings.ContainsAny(tok, " \t") {
		row, err := h.store.FindTokenRow(ctx, models.TokenKey(tok))
		switch {
		case err == nil:
			return c.Redirect(http.StatusSeeOther, foundTokenURL(row))
		case !errors.Is(err, models.ErrNotFound):
			return err
		}
		if looksSecret(tok) {
			p.Message = noTokenMatches
			return render(c, http.StatusNotFound, admin.SearchPage(p))
		}
	}
	res, err := h.store.Search(ctx, typed)
	if err != nil {
		return err
	}
	switch exact := len(res.ExactClients); {
	case res.ExactUser != nil && exact == 0:
		return c.Redirect(http.StatusSeeOther, "/admin/users/"+strconv.FormatInt(res.ExactUser.ID, 10))
	case res.ExactUser == nil && exact == 1:
		return c.Redirect(http.StatusSeeOther, "/admin/clients/"+strconv.FormatInt(res.ExactClients[0].ID, 10))
	case res.ExactUser == nil && exact == 0 && len(res.Users)+len(res.Clients) == 1:
		if len(res.Users) == 1 {
			return c.Redirect(http.StatusSeeOther, "/admin/users/"+strconv.FormatInt(res.Users[0].ID, 10))
		}
		return c.Redirect(http.StatusSeeOther, "/admin/clients/"+strconv.FormatInt(res.Clients[0].ID, 10))
	}
	p.Query, p.Users, p.Clients = typed, res.Users, res.Clients
	status := http.StatusOK
	if len(res.Users)+len(res.Clients) == 0 {
		status = http.StatusNotFound
	}
	if looksSecret(typed) {
		// Never echo what may hold a token or a secret (a whole pasted
		// line, a token with its prefix cut off).
		p.Query = ""
		if status == http.StatusNotFound {
			p.Message = noTokenMatches
		}
	}
	return render(c, status, admin.SearchPage(p))
}

// noTokenMatches is what a search for an unknown token says: nothing
// more, and never the token.
const noTokenMatches = "No token matches. It was not issued by this server, or it has been purged."

// foundTokenURL is the tokens page with a found token's card: its grant's
// tokens, the token highlighted. It holds row ids only, never the token.
func foundTokenURL(row *models.TokenRow) string {
	return "/admin/tokens?grant=" + strconv.FormatInt(row.GrantID, 10) + "&found=" + strconv.FormatInt(row.ID, 10)
}
