// Package events turns revocations into Security Event Tokens and delivers
// them to receivers: it builds CAEP 1.0 session-revoked SETs (RFC 8417),
// signs them with ES256 through go-jose, renders the public JWK Set and the
// OpenID Shared Signals Framework 1.0 transmitter configuration, pushes SETs
// (RFC 8935) with backoff and answers polls (RFC 8936).
//
// The outbox rows, streams and signing keys are data in package models,
// written inside the revocation core's transactions; this package reads
// them and delivers. It never writes revoked_at.
package events
