package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/views/admin"
	"github.com/latchkey/latchkey/views/components"
)

// ShowUsers lists users, filtered by a username prefix and a role.
func (h *Handler) ShowUsers(c echo.Context) error {
	return h.renderUsers(c, http.StatusOK, admin.UsersPageProps{})
}

func (h *Handler) renderUsers(c echo.Context, status int, p admin.UsersPageProps) error {
	p.Shell = shell(c, "Users", "users")
	p.Prefix, p.Role = c.QueryParam("q"), c.QueryParam("role")
	f := models.UserFilter{Prefix: strings.TrimSpace(p.Prefix)}
	if p.Role != "" {
		r, err := models.ParseRole(p.Role)
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "Unknown role.")
		}
		f.Role = r
	}
	list, err := h.store.ListUsers(c.Request().Context(), f, cursor(c), pageSize)
	if err != nil {
		return err
	}
	p.Rows, p.Pager = list.Rows, pager(c, list.HasNext, list.Next)
	return render(c, status, admin.UsersPage(p))
}

// CreateUser creates a user from the dashboard and records it in the audit
// trail.
func (h *Handler) CreateUser(c echo.Context) error {
	username, role := strings.TrimSpace(c.FormValue("username")), c.FormValue("role")
	r, err := models.ParseRole(role)
	if err == nil {
		var u *models.User
		u, err = h.store.CreateUserAs(c.Request().Context(), username, r, c.FormValue("password"), staffAction(c))
		if err == nil {
			setFlash(c, "Created user "+u.Username+".")
			return c.Redirect(http.StatusSeeOther, "/admin/users/"+strconv.FormatInt(u.ID, 10))
		}
	}
	if errors.Is(err, models.ErrInvalid) || errors.Is(err, models.ErrAlreadyExists) ||
		errors.Is(err, models.ErrPasswordTooShort) || errors.Is(err, models.ErrPasswordTooLong) {
		return h.renderUsers(c, http.StatusUnprocessableEntity, admin.UsersPageProps{
			NewUsername: username, NewRole: role, CreateError: userMessage(err)})
	}
	return err
}

// ShowUser is one user's page: their active grants grouped by client, with
// last use, and the buttons to revoke one, a client's, or all.
func (h *Handler) ShowUser(c echo.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u, err := h.store.UserByID(ctx, id)
	if err != nil {
		return notFound(err, "user")
	}
	p := admin.UserPageProps{Shell: shell(c, "User "+u.Username, "users"), User: u}
	if p.Total, err = h.store.RevokePreview(ctx, models.RevokeRequest{UserID: id}); err != nil {
		return err
	}
	clients, err := h.store.ActiveClientsByUser(ctx, id, models.Cursor{}, 500)
	if err != nil {
		return err
	}
	p.Clients = clients.Rows
	grants, err := h.store.ActiveGrantsByUser(ctx, id, 0, cursor(c), pageSize)
	if err != nil {
		return err
	}
	p.Grants, p.Pager = grants.Rows, pager(c, grants.HasNext, grants.Next)
	return render(c, http.StatusOK, admin.UserPage(p))
}

// ShowRevokeUserGrants asks before revoking all of a user's grants, or,
// with ?client=, all of them at one client.
func (h *Handler) ShowRevokeUserGrants(c echo.Context) error {
	req, title, err := h.userRevokeRequest(c)
	if err != nil {
		return err
	}
	preview, err := h.store.RevokePreview(c.Request().Context(), req)
	if err != nil {
		return err
	}
	action := c.Request().URL.Path
	if req.ClientID != 0 {
		action += "?client=" + strconv.FormatInt(req.ClientID, 10)
	}
	return confirm(c, "Revoke grants", "users", components.ConfirmProps{
		Title: title, Lines: []string{willRevoke(preview)}, Action: action,
		ReturnTo: returnTo(c, "/admin/users/"+c.Param("id")), Region: region(c),
		Reason: true, Submit: "Revoke", Danger: true,
	})
}

// RevokeUserGrants revokes all of a user's grants (at one client, with
// ?client=) through the revocation core.
func (h *Handler) RevokeUserGrants(c echo.Context) error {
	req, _, err := h.userRevokeRequest(c)
	if err != nil {
		return err
	}
	req.Actor, req.Reason, req.Remote, req.RequestID = models.Staff(UserFrom(c)), reason(c), remote(c), requestID(c)
	return h.revoke(c, "/admin/users/"+c.Param("id"), req)
}

func (h *Handler) userRevokeRequest(c echo.Context) (models.RevokeRequest, string, error) {
	id, err := idParam(c)
	if err != nil {
		return models.RevokeRequest{}, "", err
	}
	ctx := c.Request().Context()
	u, err := h.store.UserByID(ctx, id)
	if err != nil {
		return models.RevokeRequest{}, "", notFound(err, "user")
	}
	req := models.RevokeRequest{UserID: id}
	title := "Revoke all of " + u.Username + "'s grants?"
	if s := c.QueryParam("client"); s != "" {
		cid, err := strconv.ParseInt(s, 10, 64)
		if err != nil || cid <= 0 {
			return req, "", echo.NewHTTPError(http.StatusNotFound, "There is no such client.")
		}
		cl, err := h.store.ClientByID(ctx, cid)
		if err != nil {
			return req, "", notFound(err, "client")
		}
		req.ClientID = cid
		title = "Revoke all of " + u.Username + "'s grants at " + cl.Name + "?"
	}
	return req, title, nil
}

func (h *Handler) userParam(c echo.Context) (*models.User, error) {
	id, err := idParam(c)
	if err != nil {
		return nil, err
	}
	u, err := h.store.UserByID(c.Request().Context(), id)
	if err != nil {
		return nil, notFound(err, "user")
	}
	return u, nil
}

// ShowEditUser is the form that changes a user's role or password.
func (h *Handler) ShowEditUser(c echo.Context) error {
	u, err := h.userParam(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, admin.EditUserPage(admin.EditUserPageProps{
		Shell: shell(c, "Edit "+u.Username, "users"), User: u, Role: string(u.Role)}))
}

// UpdateUser saves a user's role and, when one is given, a new password; a
// refused change (an unknown role, a bad password, demoting the last admin)
// shows the form again with what to fix (422).
func (h *Handler) UpdateUser(c echo.Context) error {
	u, err := h.userParam(c)
	if err != nil {
		return err
	}
	role := c.FormValue("role")
	updated, err := h.store.UpdateUser(c.Request().Context(), u.ID,
		models.UserUpdate{Role: models.Role(role), Password: c.FormValue("password")}, staffAction(c))
	if errors.Is(err, models.ErrInvalid) || errors.Is(err, models.ErrPasswordTooShort) || errors.Is(err, models.ErrPasswordTooLong) {
		return render(c, http.StatusUnprocessableEntity, admin.EditUserPage(admin.EditUserPageProps{
			Shell: shell(c, "Edit "+u.Username, "users"), User: u, Role: role, Error: userMessage(err)}))
	}
	if err != nil {
		return notFound(err, "user")
	}
	setFlash(c, "Saved "+updated.Username+" (role "+string(updated.Role)+").")
	if self := UserFrom(c); self != nil && self.ID == u.ID {
		// A new password ended this session, and a new role may close the
		// dashboard: let the home page send the staff member on.
		return c.Redirect(http.StatusSeeOther, "/")
	}
	return c.Redirect(http.StatusSeeOther, "/admin/users/"+strconv.FormatInt(u.ID, 10))
}

// ShowDisableUser asks before disabling a user, saying how much it revokes.
func (h *Handler) ShowDisableUser(c echo.Context) error {
	u, err := h.userParam(c)
	if err != nil {
		return err
	}
	preview, err := h.store.RevokePreview(c.Request().Context(), models.RevokeRequest{UserID: u.ID})
	if err != nil {
		return err
	}
	return confirm(c, "Disable user", "users", components.ConfirmProps{
		Title: "Disable " + u.Username + "?",
		Lines: []string{u.Username + " can no longer log in, and is logged out of every browser session at once.", willRevoke(preview),
			"Enabling the user again later does not bring these tokens back."},
		Action: c.Request().URL.Path, ReturnTo: returnTo(c, "/admin/users/"+c.Param("id")),
		Reason: true, Submit: "Disable", Danger: true,
	})
}

// DisableUser disables a user, ends their sessions and revokes their
// grants through the revocation core, in one transaction.
func (h *Handler) DisableUser(c echo.Context) error {
	u, err := h.userParam(c)
	if err != nil {
		return err
	}
	return act(c, "user", "/admin/users/"+c.Param("id"), func(ctx context.Context) (outcome, error) {
		res, err := h.store.DisableUser(ctx, u.ID, staffAction(c))
		return outcome{Flash: "Disabled " + u.Username + ". " + revokedMessage(res)}, err
	})
}

// ShowEnableUser asks before letting a disabled user log in again.
func (h *Handler) ShowEnableUser(c echo.Context) error {
	u, err := h.userParam(c)
	if err != nil {
		return err
	}
	return confirm(c, "Enable user", "users", components.ConfirmProps{
		Title:  "Enable " + u.Username + "?",
		Lines:  []string{u.Username + " can log in again. Tokens revoked when the user was disabled stay revoked."},
		Action: c.Request().URL.Path, ReturnTo: returnTo(c, "/admin/users/"+c.Param("id")),
		Reason: true, Submit: "Enable",
	})
}

// EnableUser lets a disabled user log in again.
func (h *Handler) EnableUser(c echo.Context) error {
	u, err := h.userParam(c)
	if err != nil {
		return err
	}
	return act(c, "user", "/admin/users/"+c.Param("id"), func(ctx context.Context) (outcome, error) {
		return outcome{Flash: "Enabled " + u.Username + "."}, h.store.EnableUser(ctx, u.ID, staffAction(c))
	})
}
