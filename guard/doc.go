// Package guard is the resource-server side of Latchkey: a net/http
// middleware that accepts a request only if its bearer token is active, and
// learns of revocations within a second through Latchkey's revocation events.
// `latchkey guard` is a reverse proxy built on it.
//
// It is a client of Latchkey's public HTTP API and nothing else: it imports
// nothing from the server's packages, so a Go resource server can import it
// without pulling in the server, its database drivers or its templates.
//
// # How a request is checked
//
// The token from `Authorization: Bearer` is introspected at Latchkey's
// introspection endpoint (RFC 7662), authenticated with client_secret_basic
// as a client created with `--introspect --ssf`. An active answer is cached
// until the token's exp and never beyond, keyed by the SHA-256 of the token
// (the raw token is never a map key, nor logged). Concurrent first requests
// with the same token share one introspection call (singleflight). The cache
// holds at most Config.MaxEntries answers.
//
// # How revocations arrive
//
// The Guard subscribes to Latchkey's Shared Signals Framework 1.0
// transmitter: it reads /.well-known/ssf-configuration, gets a bearer access
// token by client_credentials, and creates a stream — poll (RFC 8936) by
// default, push (RFC 8935) when Config.PushURL is set and the caller mounts
// Guard.PushHandler there. Every Security Event Token (RFC 8417) is verified
// with github.com/lestrrat-go/jwx/v3 against the transmitter's jwks_uri
// (typ secevent+jwt, iss, aud); a CAEP session-revoked event drops every
// cached answer its subject names: the session (sid), the user (iss_sub) or
// the client (application), all members of a complex subject having to match,
// as SSF 1.0 defines it. A SET that cannot be verified flushes the whole
// cache: the guard cannot know which tokens it named.
//
// # If events stop
//
// A cache is only as good as its event stream. The guard trusts its cache
// only while the stream is known to be live (Guard.Healthy):
//   - the stream's status, read from the status endpoint every third of
//     Config.StaleAfter, was "enabled" within the last StaleAfter (a paused
//     stream holds its events and a disabled one drops them, so neither
//     may be trusted), and
//   - for poll, a poll succeeded within the last StaleAfter or one is in
//     flight (a long poll may legitimately be held by the transmitter
//     longer than the bound; a hung one is abandoned after
//     Config.PollTimeout); for push, a verification event the guard asked
//     for (or any SET) arrived within the last StaleAfter.
//
// StaleAfter defaults to 30 s. While the stream is not live, every request is
// introspected (fail towards asking Latchkey); when it becomes live again the
// whole cache is flushed, so nothing cached before or during the outage
// survives a revocation the guard may have missed.
//
// If Latchkey cannot be reached and no trusted cached answer exists, the
// request is refused with 503 and Retry-After: the guard fails closed. An
// introspection whose kept-alive connection Latchkey closes as it is sent
// (a restart, an idle timeout) is first sent again on a new connection:
// it only reads, so sending it twice is safe.
package guard
