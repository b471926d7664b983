package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/views/admin"
	"github.com/latchkey/latchkey/views/components"
)

// ShowClients lists the registered clients, searched by name or client_id
// with ?q=.
func (h *Handler) ShowClients(c echo.Context) error {
	return h.renderClients(c, http.StatusOK, admin.ClientsPageProps{Form: admin.NewClientForm{
		Type: "confidential", Grants: map[string]bool{"authorization_code": true, "refresh_token": true}}})
}

func (h *Handler) renderClients(c echo.Context, status int, p admin.ClientsPageProps) error {
	p.Shell = shell(c, "Clients", "clients")
	p.Query = c.QueryParam("q")
	list, err := h.store.ListClientsMatching(c.Request().Context(), models.ClientFilter{Query: p.Query}, cursor(c), pageSize)
	if err != nil {
		return err
	}
	p.Rows, p.Pager = list.Rows, pager(c, list.HasNext, list.Next)
	return render(c, status, admin.ClientsPage(p))
}

// CreateClient registers a client from the dashboard and shows its secret,
// this once.
func (h *Handler) CreateClient(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The form could not be read.")
	}
	f := admin.NewClientForm{Name: strings.TrimSpace(form.Get("name")), Type: form.Get("type"), Grants: map[string]bool{},
		RedirectURIs: form.Get("redirect_uris"), Scope: strings.TrimSpace(form.Get("scope")), Introspect: form.Get("introspect") != ""}
	n := models.NewClient{Name: f.Name, Type: models.ClientType(f.Type), RedirectURIs: strings.Fields(f.RedirectURIs),
		Scope: f.Scope, Introspect: f.Introspect}
	for _, g := range form["grant"] {
		f.Grants[g] = true
		n.GrantTypes = append(n.GrantTypes, models.GrantType(g))
	}
	cc, err := h.store.CreateClientAs(c.Request().Context(), n, staffAction(c))
	if errors.Is(err, models.ErrInvalid) {
		return h.renderClients(c, http.StatusUnprocessableEntity, admin.ClientsPageProps{Form: f, CreateError: userMessage(err)})
	}
	if err != nil {
		return err
	}
	lines := []string{"The client is registered."}
	if cc.Secret == "" {
		lines = append(lines, "It is public: it has no secret and must use PKCE.")
	}
	return render(c, http.StatusOK, admin.SecretPage(admin.SecretPageProps{Page: page(c, "Client registered", "clients"),
		Title: "Client " + cc.Client.Name + " registered", Lines: lines, ClientID: cc.Client.ClientID, Secret: cc.Secret,
		Back: "/admin/clients/" + strconv.FormatInt(cc.Client.ID, 10)}))
}

// ShowClient is one client's page: its settings and active grants.
func (h *Handler) ShowClient(c echo.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	cl, err := h.store.ClientByID(ctx, id)
	if err != nil {
		return notFound(err, "client")
	}
	grants, err := h.store.ActiveGrantsByClient(ctx, id, cursor(c), pageSize)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, admin.ClientPage(admin.ClientPageProps{Shell: shell(c, "Client "+cl.Name, "clients"),
		Client: cl, Grants: grants.Rows, Pager: pager(c, grants.HasNext, grants.Next)}))
}

func (h *Handler) clientParam(c echo.Context) (*models.Client, error) {
	id, err := idParam(c)
	if err != nil {
		return nil, err
	}
	cl, err := h.store.ClientByID(c.Request().Context(), id)
	if err != nil {
		return nil, notFound(err, "client")
	}
	return cl, nil
}

// ShowRevokeClientTokens asks before revoking every token of a client.
func (h *Handler) ShowRevokeClientTokens(c echo.Context) error {
	cl, err := h.clientParam(c)
	if err != nil {
		return err
	}
	preview, err := h.store.RevokePreview(c.Request().Context(), models.RevokeRequest{ClientID: cl.ID})
	if err != nil {
		return err
	}
	return confirm(c, "Revoke client tokens", "clients", components.ConfirmProps{
		Title: "Revoke all of " + cl.Name + "'s tokens?", Lines: []string{willRevoke(preview), "The client itself stays registered and can obtain new tokens."},
		Action: c.Request().URL.Path, ReturnTo: returnTo(c, "/admin/clients/"+c.Param("id")), Region: region(c),
		Reason: true, Submit: "Revoke all", Danger: true,
	})
}

// RevokeClientTokens revokes every grant of a client through the
// revocation core.
func (h *Handler) RevokeClientTokens(c echo.Context) error {
	cl, err := h.clientParam(c)
	if err != nil {
		return err
	}
	return h.revoke(c, "/admin/clients/"+c.Param("id"), models.RevokeRequest{ClientID: cl.ID, Actor: models.Staff(UserFrom(c)),
		Reason: reason(c), Remote: remote(c), RequestID: requestID(c)})
}

// ShowRotateSecret asks before giving a client a new secret.
func (h *Handler) ShowRotateSecret(c echo.Context) error {
	cl, err := h.clientParam(c)
	if err != nil {
		return err
	}
	if cl.Type != models.ClientConfidential {
		return echo.NewHTTPError(http.StatusNotFound, "A public client has no secret.")
	}
	return confirm(c, "Rotate secret", "clients", components.ConfirmProps{
		Title: "Rotate " + cl.Name + "'s secret?",
		Lines: []string{"The current secret stops working at once: the client must be given the new one, which is shown once.",
			"Tokens already issued stay valid; revoke them too if the old secret leaked."},
		Action: c.Request().URL.Path, ReturnTo: returnTo(c, "/admin/clients/"+c.Param("id")),
		Reason: true, Submit: "Rotate secret", Danger: true,
	})
}

// RotateSecret gives a client a new secret and shows it, this once.
func (h *Handler) RotateSecret(c echo.Context) error {
	cl, err := h.clientParam(c)
	if err != nil {
		return err
	}
	return act(c, "client", "/admin/clients/"+c.Param("id"), func(ctx context.Context) (outcome, error) {
		secret, err := h.store.RotateClientSecret(ctx, cl.ID, staffAction(c))
		return outcome{Show: admin.SecretPage(admin.SecretPageProps{Page: page(c, "New secret", "clients"),
			Title: "New secret for " + cl.Name, Lines: []string{"The old secret no longer works."}, ClientID: cl.ClientID,
			Secret: secret, Back: "/admin/clients/" + strconv.FormatInt(cl.ID, 10)})}, err
	})
}

// ShowDisableClient asks before disabling a client.
func (h *Handler) ShowDisableClient(c echo.Context) error {
	cl, err := h.clientParam(c)
	if err != nil {
		return err
	}
	preview, err := h.store.RevokePreview(c.Request().Context(), models.RevokeRequest{ClientID: cl.ID})
	if err != nil {
		return err
	}
	return confirm(c, "Disable client", "clients", components.ConfirmProps{
		Title:  "Disable " + cl.Name + "?",
		Lines:  []string{"The client can no longer authenticate or obtain tokens.", willRevoke(preview)},
		Action: c.Request().URL.Path, ReturnTo: returnTo(c, "/admin/clients/"+c.Param("id")),
		Reason: true, Submit: "Disable", Danger: true,
	})
}

// DisableClient disables a client and revokes its tokens, through the
// revocation core, in one transaction.
func (h *Handler) DisableClient(c echo.Context) error {
	cl, err := h.clientParam(c)
	if err != nil {
		return err
	}
	return act(c, "client", "/admin/clients/"+c.Param("id"), func(ctx context.Context) (outcome, error) {
		res, err := h.store.DisableClient(ctx, cl.ID, staffAction(c))
		return outcome{Flash: fmt.Sprintf("Disabled %s. %s", cl.Name, revokedMessage(res))}, err
	})
}

// ShowEditClient is the form that changes a client's settings.
func (h *Handler) ShowEditClient(c echo.Context) error {
	cl, err := h.clientParam(c)
	if err != nil {
		return err
	}
	f := admin.EditClientForm{Name: cl.Name, Grants: map[string]bool{}, RedirectURIs: strings.Join(cl.RedirectURIList(), "\n"),
		Scope: cl.Scope, AllowedOrigins: strings.Join(cl.OriginList(), "\n"), Introspect: cl.Introspect}
	for _, g := range strings.Fields(cl.GrantTypes) {
		f.Grants[g] = true
	}
	return render(c, http.StatusOK, admin.EditClientPage(admin.EditClientPageProps{
		Shell: shell(c, "Edit "+cl.Name, "clients"), Client: cl, Form: f}))
}

// UpdateClient saves a client's settings; a refused change shows the form
// again with what to fix (422).
func (h *Handler) UpdateClient(c echo.Context) error {
	cl, err := h.clientParam(c)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The form could not be read.")
	}
	f := admin.EditClientForm{Name: strings.TrimSpace(form.Get("name")), Grants: map[string]bool{}, RedirectURIs: form.Get("redirect_uris"),
		Scope: strings.TrimSpace(form.Get("scope")), AllowedOrigins: form.Get("allowed_origins"), Introspect: form.Get("introspect") != ""}
	u := models.ClientUpdate{Name: f.Name, RedirectURIs: strings.Fields(f.RedirectURIs), Scope: f.Scope,
		AllowedOrigins: strings.Fields(f.AllowedOrigins), Introspect: f.Introspect}
	for _, g := range form["grant"] {
		f.Grants[g] = true
		u.GrantTypes = append(u.GrantTypes, models.GrantType(g))
	}
	updated, err := h.store.UpdateClient(c.Request().Context(), cl.ID, u, staffAction(c))
	if errors.Is(err, models.ErrInvalid) {
		return render(c, http.StatusUnprocessableEntity, admin.EditClientPage(admin.EditClientPageProps{
			Shell: shell(c, "Edit "+cl.Name, "clients"), Client: cl, Form: f, Error: userMessage(err)}))
	}
	if err != nil {
		return notFound(err, "client")
	}
	setFlash(c, savedClientMessage(cl, updated, h.cfg.TTLs.Access))
	return c.Redirect(http.StatusSeeOther, "/admin/clients/"+strconv.FormatInt(cl.ID, 10))
}

// savedClientMessage says what a client edit does to grants already
// issued: withdrawn scopes leave each grant at its next refresh, while
// access tokens issued before keep theirs until they expire; a removed
// grant type is refused from now on. Nothing is revoked.
func savedClientMessage(old, updated *models.Client, accessTTL time.Duration) string {
	msg := "Saved " + updated.Name + "."
	if accessTTL <= 0 {
		accessTTL = models.DefaultTTLs.Access
	}
	if gone := missing(old.ScopeList(), updated.ScopeList()); len(gone) > 0 {
		msg += fmt.Sprintf(" Existing grants lose %s at their next refresh (a grant left with no scope can no longer be refreshed);"+
			" access tokens already issued keep it until they expire, within %s.", strings.Join(gone, ", "), shortDuration(accessTTL))
	}
	if gone := missing(strings.Fields(old.GrantTypes), strings.Fields(updated.GrantTypes)); len(gone) > 0 {
		msg += " Requests for " + strings.Join(gone, ", ") + " are refused from now on"
		if slices.Contains(gone, string(models.GrantRefreshToken)) {
			msg += ", so refresh tokens already issued no longer work"
		}
		msg += "."
	}
	return msg + " To cut off tokens at once, revoke the client's tokens."
}

// missing returns the values of old that are not in updated.
func missing(old, updated []string) []string {
	var out []string
	for _, v := range old {
		if !slices.Contains(updated, v) {
			out = append(out, v)
		}
	}
	return out
}

// shortDuration writes d as Go does, without trailing zero units ("1h",
// not "1h0m0s").
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
