package web

import (
	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/handlers"
)

// adminRoutes registers the dashboard (/admin/…) and the user's own
// authorized-clients page (/o/authorized_tokens/), one line each. b already
// carries the session and CSRF middleware. Every dashboard route needs
// staff (admin or auditor); every action, and its confirmation, needs an
// admin, so the server refuses an auditor's POST with 403.
func adminRoutes(b *echo.Group, h *handlers.Handler) {
	a := b.Group("/admin", handlers.RequireStaff)
	admin := handlers.RequireAdmin
	a.GET("", h.ShowOverview)
	a.GET("/", h.ShowOverview)
	a.GET("/tokens", h.ShowTokens)
	a.POST("/tokens/find", h.FindToken)
	a.POST("/search", h.Search)
	a.GET("/grants/:id/revoke", h.ShowRevokeGrant, admin)
	a.POST("/grants/:id/revoke", h.RevokeGrant, admin)
	a.GET("/users", h.ShowUsers)
	a.POST("/users", h.CreateUser, admin)
	a.GET("/users/:id", h.ShowUser)
	a.GET("/users/:id/revoke", h.ShowRevokeUserGrants, admin)
	a.POST("/users/:id/revoke", h.RevokeUserGrants, admin)
	a.GET("/users/:id/edit", h.ShowEditUser, admin)
	a.POST("/users/:id/edit", h.UpdateUser, admin)
	a.GET("/users/:id/disable", h.ShowDisableUser, admin)
	a.POST("/users/:id/disable", h.DisableUser, admin)
	a.GET("/users/:id/enable", h.ShowEnableUser, admin)
	a.POST("/users/:id/enable", h.EnableUser, admin)
	a.GET("/clients", h.ShowClients)
	a.POST("/clients", h.CreateClient, admin)
	a.GET("/clients/:id", h.ShowClient)
	a.GET("/clients/:id/revoke", h.ShowRevokeClientTokens, admin)
	a.POST("/clients/:id/revoke", h.RevokeClientTokens, admin)
	a.GET("/clients/:id/rotate", h.ShowRotateSecret, admin)
	a.POST("/clients/:id/rotate", h.RotateSecret, admin)
	a.GET("/clients/:id/disable", h.ShowDisableClient, admin)
	a.POST("/clients/:id/disable", h.DisableClient, admin)
	a.GET("/clients/:id/edit", h.ShowEditClient, admin)
	a.POST("/clients/:id/edit", h.UpdateClient, admin)
	a.GET("/streams", h.ShowEventStreams)
	a.GET("/streams/:id/:action", h.ShowStreamAction, admin)
	a.POST("/streams/:id/:action", h.DoStreamAction, admin)
	a.GET("/revoke", h.ShowMassRevoke, admin)
	a.GET("/revoke/confirm", h.ShowConfirmMassRevoke, admin)
	a.POST("/revoke", h.MassRevoke, admin)
	a.GET("/audit", h.ShowAudit)
	a.GET("/audit.csv", h.ExportAuditCSV)

	// DOT's self-service page, for any logged-in user; both spellings of
	// every path, no redirect.
	o := b.Group("/o/authorized_tokens", handlers.RequireLogin)
	o.GET("", h.ShowAuthorizedTokens)
	o.GET("/", h.ShowAuthorizedTokens)
	o.GET("/:id/delete", h.ShowDeleteAuthorizedToken)
	o.GET("/:id/delete/", h.ShowDeleteAuthorizedToken)
	o.POST("/:id/delete", h.DeleteAuthorizedToken)
	o.POST("/:id/delete/", h.DeleteAuthorizedToken)
}
