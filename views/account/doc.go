// Package account holds the end user's own pages: DOT's
// /o/authorized_tokens/, the applications they authorized, with revoke.
package account
