package handlers

import (
	"github.com/labstack/echo/v4"
)

// metadata is RFC 8414 §2's authorization server metadata.
type metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
}

// ShowMetadata is GET /.well-known/oauth-authorization-server (RFC 8414).
func (h *Handler) ShowMetadata(c echo.Context) error {
	iss := h.cfg.Issuer
	auth := []string{"client_secret_basic", "client_secret_post", "none"}
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=3600")
	return c.JSON(200, metadata{
		Issuer:                                 iss,
		AuthorizationEndpoint:                  iss + "/o/authorize/",
		TokenEndpoint:                          iss + "/o/token/",
		RevocationEndpoint:                     iss + "/o/revoke_token/",
		IntrospectionEndpoint:                  iss + "/o/introspect/",
		ResponseTypesSupported:                 []string{"code"},
		ResponseModesSupported:                 []string{"query"},
		GrantTypesSupported:                    []string{"authorization_code", "refresh_token", "client_credentials", "password"},
		TokenEndpointAuthMethodsSupported:      auth,
		RevocationEndpointAuthMethodsSupported: auth,
		// Introspection is for resource servers, which are confidential.
		// "Bearer" (RFC 8414 §2 admits values of the OAuth Access Token
		// Types registry): a resource server's own access token.
		IntrospectionEndpointAuthMethodsSupported:  []string{"client_secret_basic", "client_secret_post", "Bearer"},
		CodeChallengeMethodsSupported:              []string{"S256"},
		AuthorizationResponseIssParameterSupported: true,
	})
}
