package web

import (
	"github.com/latchkey/latchkey/models"
)

// Config is what `latchkey serve` decides.
type Config struct {
	// Issuer is the server's public base URL (RFC 8414 issuer), e.g.
	// "http://127.0.0.1:8000". Cookies are Secure when it is https.
	Issuer string
	// TTLs are the lifetimes of access tokens, refresh tokens and codes.
	TTLs models.TTLs
}
