// Package models holds Latchkey's data: the gorm structs for users, clients,
// grants, tokens, authorization codes and audit events, the versioned
// migrations that create them, and the operations that keep their invariants.
//
// The revocation core (Revoke in revoke.go) is the only code that writes
// revoked_at; every door into revocation — the RFC 7009 endpoint, the
// dashboard, self-service, refresh-token reuse detection and the command line
// — calls it.
package models
