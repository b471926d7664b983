package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/views/admin"
)

// ShowTokens lists every token, newest first, filtered by user, client,
// type, status or grant; ?found= highlights the token the paste box found.
func (h *Handler) ShowTokens(c echo.Context) error {
	ctx := c.Request().Context()
	form := admin.TokenFilterForm{User: c.QueryParam("user"), Client: c.QueryParam("client"),
		Type: c.QueryParam("type"), Status: c.QueryParam("status"), Grant: c.QueryParam("grant")}
	p := admin.TokensPageProps{Shell: shell(c, "Tokens", "tokens"), Filter: form, Now: h.store.Now()}
	f, ferr := h.tokenFilter(ctx, form)
	if ferr != nil {
		if !errors.Is(ferr, models.ErrInvalid) && !errors.Is(ferr, models.ErrNotFound) {
			return ferr
		}
		p.FilterError = userMessage(ferr)
		return render(c, http.StatusOK, admin.TokensPage(p))
	}
	if id, err := strconv.ParseInt(c.QueryParam("found"), 10, 64); err == nil && id > 0 {
		row, err := h.store.TokenRowByID(ctx, id)
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			return err
		}
		if row != nil {
			p.Found = row
			if p.FoundPreview, err = h.store.RevokePreview(ctx, models.RevokeRequest{GrantID: row.GrantID}); err != nil {
				return err
			}
			if row.GrantRevoked {
				if p.FoundRevocation, err = h.store.GrantRevocation(ctx, row.GrantID); err != nil {
					return err
				}
			}
		}
	}
	list, err := h.store.ListTokens(ctx, f, cursor(c), pageSize)
	if err != nil {
		return err
	}
	p.Rows, p.Pager = list.Rows, pager(c, list.HasNext, list.Next)
	return render(c, http.StatusOK, admin.TokensPage(p))
}

// tokenFilter resolves the names typed in the filter form.
func (h *Handler) tokenFilter(ctx context.Context, form admin.TokenFilterForm) (models.TokenFilter, error) {
	var f models.TokenFilter
	var err error
	if f.Type, err = models.ParseTokenType(form.Type); err != nil {
		return f, err
	}
	if f.Status, err = models.ParseTokenStatus(form.Status); err != nil {
		return f, err
	}
	if f.UserID, f.ClientID, err = h.filterIDs(ctx, form.User, form.Client); err != nil {
		return f, err
	}
	if form.Grant != "" {
		if f.GrantID, err = strconv.ParseInt(form.Grant, 10, 64); err != nil || f.GrantID <= 0 {
			return f, &models.ValidationError{Field: "grant", Message: "Grant must be a grant number."}
		}
	}
	return f, nil
}

// FindToken is the "paste a token" box: it finds a token by the key
// (models.TokenKey: issue time and SHA-256) of the pasted value (read as
// the header search reads it, so "Bearer lk_at_…" works too) and shows it,
// with its grant, on the tokens page. It is a POST so that the token never
// sits in a URL, a browser history or an access log; it is not echoed
// back, and a miss says nothing more than that. Auditors may use it: it
// changes nothing.
func (h *Handler) FindToken(c echo.Context) error {
	raw := pastedToken(c.FormValue("token"))
	if raw != "" {
		row, err := h.store.FindTokenRow(c.Request().Context(), models.TokenKey(raw))
		switch {
		case err == nil:
			return c.Redirect(http.StatusSeeOther, foundTokenURL(row))
		case !errors.Is(err, models.ErrNotFound):
			return err
		}
	}
	p := admin.TokensPageProps{Shell: shell(c, "Tokens", "tokens"), Now: h.store.Now()}
	p.Self = "/admin/tokens"
	p.FindError = noTokenMatches
	if raw == "" {
		p.FindError = "Paste a whole token to find it."
	}
	list, err := h.store.ListTokens(c.Request().Context(), models.TokenFilter{}, models.Cursor{}, pageSize)
	if err != nil {
		return err
	}
	p.Rows = list.Rows
	if list.HasNext {
		p.Pager.Next = "/admin/tokens?before=" + strconv.FormatInt(list.Next.Before, 10)
	}
	return render(c, http.StatusNotFound, admin.TokensPage(p))
}
