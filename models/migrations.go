package models

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// migration is one versioned step of the schema. Its SQL is written once
// with placeholders for the few types that differ between SQLite and
// PostgreSQL: {{pk}}, {{ts}}, {{bytes}}.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations is append-only. Order is important: add new migrations at the
// end of the list and never edit one that has shipped.
var migrations = []migration{
	{1, "initial schema", `
CREATE TABLE users (
	id {{pk}},
	username TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	role TEXT NOT NULL,
	disabled_at {{ts}},
	created_at {{ts}} NOT NULL
);
CREATE UNIQUE INDEX users_username ON users (username);
CREATE INDEX users_role ON users (role, id);

CREATE TABLE clients (
	id {{pk}},
	client_id TEXT NOT NULL,
	name TEXT NOT NULL,
	type TEXT NOT NULL,
	secret_hash {{bytes}},
	secret_hint TEXT NOT NULL DEFAULT '',
	grant_types TEXT NOT NULL,
	redirect_uris TEXT NOT NULL DEFAULT '',
	scope TEXT NOT NULL,
	allowed_origins TEXT NOT NULL DEFAULT '',
	introspect BOOLEAN NOT NULL DEFAULT FALSE,
	disabled_at {{ts}},
	created_at {{ts}} NOT NULL
);
CREATE UNIQUE INDEX clients_client_id ON clients (client_id);

CREATE TABLE grants (
	id {{pk}},
	client_id BIGINT NOT NULL REFERENCES clients (id),
	user_id BIGINT REFERENCES users (id),
	grant_type TEXT NOT NULL,
	scope TEXT NOT NULL,
	created_at {{ts}} NOT NULL,
	expires_at {{ts}} NOT NULL,
	last_used_at {{ts}},
	revoked_at {{ts}}
);
CREATE INDEX grants_user_client ON grants (user_id, client_id, id);
CREATE INDEX grants_client ON grants (client_id, id);

CREATE TABLE tokens (
	id {{pk}},
	hash {{bytes}} NOT NULL,
	type TEXT NOT NULL,
	hint TEXT NOT NULL,
	grant_id BIGINT NOT NULL REFERENCES grants (id),
	client_id BIGINT NOT NULL REFERENCES clients (id),
	user_id BIGINT REFERENCES users (id),
	scope TEXT NOT NULL,
	parent_id BIGINT,
	created_at {{ts}} NOT NULL,
	expires_at {{ts}} NOT NULL,
	rotated_at {{ts}},
	revoked_at {{ts}}
);
CREATE UNIQUE INDEX tokens_hash ON tokens (hash);
CREATE INDEX tokens_grant ON tokens (grant_id, revoked_at);
CREATE INDEX tokens_client ON tokens (client_id, id);
CREATE INDEX tokens_user ON tokens (user_id, id);
CREATE INDEX tokens_expires ON tokens (expires_at);
CREATE INDEX tokens_revoked ON tokens (revoked_at);

CREATE TABLE codes (
	id {{pk}},
	hash {{bytes}} NOT NULL,
	client_id BIGINT NOT NULL REFERENCES clients (id),
	user_id BIGINT NOT NULL REFERENCES users (id),
	redirect_uri TEXT NOT NULL,
	redirect_uri_given BOOLEAN NOT NULL,
	scope TEXT NOT NULL,
	code_challenge TEXT NOT NULL DEFAULT '',
	created_at {{ts}} NOT NULL,
	expires_at {{ts}} NOT NULL,
	used_at {{ts}},
	grant_id BIGINT
);
CREATE UNIQUE INDEX codes_hash ON codes (hash);
CREATE INDEX codes_expires ON codes (expires_at);

CREATE TABLE audit_events (
	id {{pk}},
	created_at {{ts}} NOT NULL,
	actor_type TEXT NOT NULL,
	actor TEXT NOT NULL,
	action TEXT NOT NULL,
	grant_id BIGINT,
	user_id BIGINT,
	client_id BIGINT,
	grants INTEGER NOT NULL DEFAULT 0,
	tokens INTEGER NOT NULL DEFAULT 0,
	reason TEXT NOT NULL DEFAULT '',
	remote_addr TEXT NOT NULL DEFAULT '',
	request_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_created ON audit_events (created_at);
CREATE INDEX audit_events_actor ON audit_events (actor, id);
CREATE INDEX audit_events_action ON audit_events (action, id);
CREATE INDEX audit_events_user ON audit_events (user_id, id);
CREATE INDEX audit_events_client ON audit_events (client_id, id);

CREATE TABLE sessions (
	id {{pk}},
	hash {{bytes}} NOT NULL,
	user_id BIGINT NOT NULL REFERENCES users (id),
	created_at {{ts}} NOT NULL,
	expires_at {{ts}} NOT NULL
);
CREATE UNIQUE INDEX sessions_hash ON sessions (hash);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE setup_tokens (
	id {{pk}},
	hash {{bytes}} NOT NULL,
	created_at {{ts}} NOT NULL,
	expires_at {{ts}} NOT NULL,
	used_at {{ts}}
);
CREATE UNIQUE INDEX setup_tokens_hash ON setup_tokens (hash);
`},
	// Dashboard lists walk an index in id order and stop after a page; the
	// overview counts live rows over partial indexes.
	{2, "dashboard list indexes", `
CREATE INDEX tokens_type ON tokens (type, id);
CREATE INDEX tokens_revoked_id ON tokens (id) WHERE revoked_at IS NOT NULL;
CREATE INDEX tokens_live ON tokens (expires_at, type) WHERE revoked_at IS NULL AND rotated_at IS NULL;
CREATE INDEX tokens_created ON tokens (created_at);
CREATE INDEX grants_live ON grants (expires_at) WHERE revoked_at IS NULL;
`},
	// A user's grants page through (user_id, id), as tokens do; live
	// tokens are counted per type over (type, expires_at).
	{3, "grants by user, live tokens by type", `
CREATE INDEX grants_user ON grants (user_id, id);
DROP INDEX tokens_live;
CREATE INDEX tokens_live_type ON tokens (type, expires_at) WHERE revoked_at IS NULL AND rotated_at IS NULL;
`},
	// Usernames are stored folded to lower case (FoldUsername), so that the
	// unique index makes them case-insensitive; checkUsernamesFold stops
	// first if two users differ only in case.
	{4, "case-insensitive usernames", `
UPDATE users SET username = LOWER(username) WHERE username <> LOWER(username);
`},
	// Repeated events (failed logins, throttled logins, refused
	// revocations) are folded into one row a minute, which counts them.
	{5, "audit event count", `
ALTER TABLE audit_events ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
`},
	// The background purge finds dead rows through an index, a batch at a
	// time: revoked grants, access tokens rotated away, expired sessions,
	// and whether a grant still has a code (kept for reuse detection).
	{6, "purge indexes", `
CREATE INDEX grants_revoked ON grants (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX tokens_rotated ON tokens (type, rotated_at) WHERE rotated_at IS NOT NULL;
CREATE INDEX codes_grant ON codes (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX sessions_expires ON sessions (expires_at);
`},
	// Version 7 was never used (it was set aside for a session CSRF column
	// that proved unnecessary); gaps are fine, as each version is checked
	// on its own.
	//
	// A grant's public id: what introspection answers as sid and what
	// revocation events name, so that neither exposes the row id (a
	// counter of every grant ever issued). 32 random hex digits; existing
	// grants get one here, new grants when they are issued.
	{8, "grants: public id", `
ALTER TABLE grants ADD COLUMN public_id TEXT;
UPDATE grants SET public_id = {{random_id}} WHERE public_id IS NULL;
CREATE UNIQUE INDEX grants_public_id ON grants (public_id);
`},
	// Revocation events (OpenID SSF 1.0, CAEP 1.0). events is the outbox:
	// one row per revocation event, written in the revocation's own
	// transaction, with what a Security Event Token needs copied in (the
	// user's name, the client's public id), so that the SET can be built
	// after the grant was purged. stream_events is each stream's delivery
	// state for each event; a pending row is one whose delivered_at is NULL,
	// found oldest first, and by event when acknowledged, through
	// stream_events_pending. Every revocation writes one events row and a
	// stream_events row per live stream, so their indexes are kept to what
	// the delivery needs (and stream_events has no foreign keys, whose
	// checks a revocation would pay for: the code that deletes a stream or
	// an event deletes its deliveries). streams are the receivers'
	// subscriptions; signing_keys the SETs' ES256 keys (PKCS#8).
	// clients.ssf marks a client allowed to manage streams (--ssf).
	{9, "revocation events", `
ALTER TABLE clients ADD COLUMN ssf BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE events (
	id {{pk}},
	jti TEXT NOT NULL,
	type TEXT NOT NULL,
	sid TEXT,
	user_id BIGINT,
	username TEXT NOT NULL DEFAULT '',
	client_id BIGINT,
	client_public_id TEXT NOT NULL DEFAULT '',
	initiating_entity TEXT NOT NULL DEFAULT '',
	reason_admin TEXT NOT NULL DEFAULT '',
	reason_user TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL DEFAULT '',
	event_time {{ts}} NOT NULL,
	created_at {{ts}} NOT NULL
);
CREATE UNIQUE INDEX events_jti ON events (jti);

CREATE TABLE streams (
	id {{pk}},
	stream_id TEXT NOT NULL,
	client_id BIGINT NOT NULL REFERENCES clients (id),
	status TEXT NOT NULL,
	status_reason TEXT NOT NULL DEFAULT '',
	delivery_method TEXT NOT NULL,
	endpoint_url TEXT NOT NULL DEFAULT '',
	authorization_header TEXT NOT NULL DEFAULT '',
	aud TEXT NOT NULL,
	events_requested TEXT NOT NULL DEFAULT '',
	description TEXT NOT NULL DEFAULT '',
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL,
	last_delivery_at {{ts}},
	last_error TEXT NOT NULL DEFAULT '',
	last_error_at {{ts}}
);
CREATE UNIQUE INDEX streams_stream_id ON streams (stream_id);
CREATE INDEX streams_client ON streams (client_id, id);

CREATE TABLE stream_events (
	id {{pk}},
	stream_id BIGINT NOT NULL,
	event_id BIGINT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt_at {{ts}} NOT NULL,
	delivered_at {{ts}},
	created_at {{ts}} NOT NULL
);
CREATE INDEX stream_events_pending ON stream_events (stream_id, event_id) WHERE delivered_at IS NULL;

CREATE TABLE signing_keys (
	id {{pk}},
	kid TEXT NOT NULL,
	private_key {{bytes}} NOT NULL,
	created_at {{ts}} NOT NULL,
	retired_at {{ts}}
);
CREATE UNIQUE INDEX signing_keys_kid ON signing_keys (kid);
`},
	// Stream hardening: status_by records who set a stream's status
	// (receiver or staff), so that a receiver cannot re-enable a stream
	// staff paused or disabled; last_verification_at rate-limits
	// verification requests; aud is the owner's client_id on every stream.
	// The purge finds delivered deliveries by delivered_at, and the events
	// no delivery points at any more by event_id.
	{12, "stream status_by, verification limit, purge of events", `
ALTER TABLE streams ADD COLUMN status_by TEXT NOT NULL DEFAULT 'receiver';
ALTER TABLE streams ADD COLUMN last_verification_at {{ts}};
UPDATE streams SET aud = (SELECT c.client_id FROM clients c WHERE c.id = streams.client_id);
CREATE INDEX stream_events_delivered ON stream_events (delivered_at) WHERE delivered_at IS NOT NULL;
CREATE INDEX stream_events_event ON stream_events (event_id);
CREATE INDEX events_created ON events (created_at);
`},
	// The dashboard finds clients by name (filters, the search box, the
	// duplicate-name check), lists each client's last use with one index
	// seek, and shows each user's last login.
	{20, "client names, client last use, user last login", `
CREATE INDEX clients_name_lower ON clients (LOWER(name));
CREATE INDEX grants_client_used ON grants (client_id, last_used_at);
ALTER TABLE users ADD COLUMN last_login_at {{ts}};
`},
	// The overview's counts, kept by the writes (see live_counts.go): live
	// tokens and grants per expiry bucket, revocations per bucket of when
	// they happened, and the totals of clients and users. A bucket is
	// (kind, span in seconds, start in unix seconds); span 0 is a total.
	// The rows are filled from the data by rebuildCounts, after the SQL.
	{21, "overview counts", `
CREATE TABLE counts (
	kind TEXT NOT NULL,
	span BIGINT NOT NULL,
	start BIGINT NOT NULL,
	n BIGINT NOT NULL,
	PRIMARY KEY (kind, span, start)
){{without_rowid}};
`},
	// Where a grant came from and was last seen: the source address and
	// User-Agent of the request that issued it and of its last use with
	// the holder talking to Latchkey directly (/api/me, a refresh), for
	// the dashboard to show beside the times.
	{22, "grants: issuing and last-seen address and User-Agent", `
ALTER TABLE grants ADD COLUMN issued_addr TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN issued_ua TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN last_seen_at {{ts}};
ALTER TABLE grants ADD COLUMN last_seen_addr TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN last_seen_ua TEXT NOT NULL DEFAULT '';
`},
	// The overview's leak signals sum the last day's events of a few
	// actions: one short range of this index per action.
	{23, "audit events by action and time", `
CREATE INDEX audit_events_action_created ON audit_events (action, created_at);
`},
	// The outbox, trimmed to what a revocation must write with a stream
	// live. stream_events holds pending deliveries only: a delivery is
	// deleted once delivered (a 202) or acknowledged, so the table is one
	// B-tree keyed by (stream_id, event_id) — a stream's queue in order,
	// its head, its backlog and a delivery by event are all ranges of the
	// key — and queueing or delivering an event is one insert or delete
	// there (WITHOUT ROWID on SQLite). The delivered rows of before go
	// with the old table. An event's jti is no longer stored: it is the
	// database's random prefix (event_jti_prefix, made here, so that a new
	// database never repeats an old one's jtis) and the event's id, which
	// an acknowledgement parses back (see eventJTI); events written before
	// keep the jti they were sent with, looked up through a partial index
	// that new rows (jti '') stay out of. The purge walks events in id
	// order, so events_created goes.
	{24, "outbox: deliveries keyed by stream and event, jti from the id", `
CREATE TABLE event_jti_prefix (prefix TEXT NOT NULL);
INSERT INTO event_jti_prefix (prefix) VALUES ({{random_id}});

CREATE TABLE stream_events_new (
	stream_id BIGINT NOT NULL,
	event_id BIGINT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt_at {{ts}} NOT NULL,
	CONSTRAINT stream_events_key PRIMARY KEY (stream_id, event_id)
){{without_rowid}};
INSERT INTO stream_events_new (stream_id, event_id, attempts, next_attempt_at)
	SELECT stream_id, event_id, attempts, next_attempt_at FROM stream_events WHERE delivered_at IS NULL;
DROP TABLE stream_events;
ALTER TABLE stream_events_new RENAME TO stream_events;

DROP INDEX events_jti;
DROP INDEX events_created;
CREATE UNIQUE INDEX events_stored_jti ON events (jti) WHERE jti <> '';
`},
	// A counts bucket may be kept in several rows (shards), which the
	// readers sum. On PostgreSQL each group commit adds its deltas to the
	// rows of one shard, picked at random, so that concurrent commits do
	// not queue on the same rows' locks (see writer_postgres.go). SQLite
	// has one writer and keeps shard 0.
	// The rows wait in a temporary table, so that the new table takes the
	// SQLite pages the old one frees instead of leaving them free.
	{28, "overview counts in shards", `
CREATE TEMPORARY TABLE counts_before_shards AS SELECT kind, span, start, n FROM counts;
DROP TABLE counts;
CREATE TABLE counts (
	kind TEXT NOT NULL,
	span BIGINT NOT NULL,
	start BIGINT NOT NULL,
	shard INTEGER NOT NULL DEFAULT 0,
	n BIGINT NOT NULL,
	PRIMARY KEY (kind, span, start, shard)
){{without_rowid}};
INSERT INTO counts (kind, span, start, shard, n) SELECT kind, span, start, 0, n FROM counts_before_shards;
DROP TABLE counts_before_shards;
`},
	// Fewer index entries per write. On SQLite an UPDATE touches only the
	// indexes that name a column it sets (in their columns or their WHERE),
	// and every index page it dirties is written to the WAL at COMMIT.
	// - tokens_revoked held a NULL entry for every token that is not
	//   revoked, and a revocation moved the token's entry from the NULL run
	//   (a page anywhere in the index) to the end; the purge's
	//   "revoked_at < ?" only wants revoked rows, so the index is partial,
	//   as grants_revoked is.
	// - tokens_grant carried revoked_at, so revoking a token rewrote its
	//   entry there; a grant has a handful of tokens, found by grant_id
	//   alone and filtered, and the revocation's "revoked_at IS NULL" already
	//   visited every rotated token of the grant through it.
	// - Tokens and grants of client_credentials have no user: the by-user
	//   indexes (read with "user_id = ?" only) leave them out, and audit
	//   events without a user or a client stay out of those indexes.
	// - audit_events_created: the event that revoked a grant is found
	//   by (action, created_at), and the overview's counts already read
	//   audit_events_action_created; the list filters by time while it
	//   walks ids.
	{29, "narrower indexes for fewer writes", `
DROP INDEX tokens_revoked;
CREATE INDEX tokens_revoked ON tokens (revoked_at) WHERE revoked_at IS NOT NULL;
DROP INDEX tokens_grant;
CREATE INDEX tokens_grant ON tokens (grant_id);
DROP INDEX tokens_user;
CREATE INDEX tokens_user ON tokens (user_id, id) WHERE user_id IS NOT NULL;
DROP INDEX grants_user_client;
CREATE INDEX grants_user_client ON grants (user_id, client_id, id) WHERE user_id IS NOT NULL;
DROP INDEX grants_user;
CREATE INDEX grants_user ON grants (user_id, id) WHERE user_id IS NOT NULL;
DROP INDEX audit_events_created;
DROP INDEX audit_events_user;
CREATE INDEX audit_events_user ON audit_events (user_id, id) WHERE user_id IS NOT NULL;
DROP INDEX audit_events_client;
CREATE INDEX audit_events_client ON audit_events (client_id, id) WHERE client_id IS NOT NULL;
`},
	// A push endpoint's user:password goes to its Authorization header
	// (moveEndpointCredentials), so that no stored URL holds a credential.
	{30, "push endpoints: credentials into the Authorization header", ``},
}

// migrationFollowUps run in a migration's transaction after its SQL.
var migrationFollowUps = map[int]func(s *Store, tx *gorm.DB) error{21: (*Store).rebuildCounts, 30: (*Store).moveEndpointCredentials}

// migrationChecks run in a migration's transaction before its SQL, to
// refuse data the migration cannot carry with a message saying what to fix.
var migrationChecks = map[int]func(tx *gorm.DB) error{4: checkUsernamesFold}

func (s *Store) expand(sql string) string {
	var r *strings.Replacer
	if s.dialect == DialectPostgres {
		r = strings.NewReplacer("{{pk}}", "BIGSERIAL PRIMARY KEY", "{{ts}}", "TIMESTAMPTZ", "{{bytes}}", "BYTEA")
	} else {
		r = strings.NewReplacer("{{pk}}", "INTEGER PRIMARY KEY AUTOINCREMENT", "{{ts}}", "DATETIME", "{{bytes}}", "BLOB")
	}
	withoutRowid := " WITHOUT ROWID" // a table that is its primary key
	if s.dialect == DialectPostgres {
		withoutRowid = ""
	}
	return strings.NewReplacer("{{random_id}}", randomIDSQL[s.dialect], "{{without_rowid}}", withoutRowid).Replace(r.Replace(sql))
}

// randomIDSQL is SQL for 32 random lowercase hex digits, the form of the
// public ids migration 8 gave the grants that existed then (newGrantPublicID
// starts new ones with their creation time).
var randomIDSQL = map[Dialect]string{
	DialectSQLite:   "lower(hex(randomblob(16)))",
	DialectPostgres: "replace(gen_random_uuid()::text, '-', '')",
}

// Migrate applies every pending migration, each in its own transaction, and
// returns how many it applied. Concurrent replicas starting together on one
// PostgreSQL take an advisory lock, so each migration runs once.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	db := s.w.WithContext(ctx)
	if err := db.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at ` + s.expand("{{ts}}") + ` NOT NULL)`).Error; err != nil {
		return 0, fmt.Errorf("models: migrate: %w: %w", ErrUnavailable, err)
	}
	applied := 0
	for _, m := range migrations {
		done := false
		err := db.Transaction(func(tx *gorm.DB) error {
			if s.dialect == DialectPostgres {
				if err := tx.Exec("SELECT pg_advisory_xact_lock(7009)").Error; err != nil {
					return err
				}
			}
			var n int64
			if err := tx.Raw("SELECT COUNT(*) FROM schema_migrations WHERE version = ?", m.version).Scan(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				done = true
				return nil
			}
			if check := migrationChecks[m.version]; check != nil {
				if err := check(tx); err != nil {
					return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
				}
			}
			for stmt := range strings.SplitSeq(s.expand(m.sql), ";") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if err := tx.Exec(stmt).Error; err != nil {
					return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
				}
			}
			if follow := migrationFollowUps[m.version]; follow != nil {
				if err := follow(s, tx); err != nil {
					return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
				}
			}
			return tx.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", m.version, m.name, s.Now()).Error
		})
		if err != nil {
			return applied, fmt.Errorf("models: migrate: %w", err)
		}
		if !done {
			applied++
		}
	}
	if err := s.prepareHot(); err != nil {
		return applied, fmt.Errorf("models: prepare statements: %w", err)
	}
	return applied, nil
}

// prepareHot prepares the hot statements once the schema exists: the
// writer's on SQLite (see exec), and the hot reads on the reader pool on
// both databases. It must run before the first write goes through the
// batcher, which is the case: every command migrates first.
func (s *Store) prepareHot() error {
	if s.readStmts == nil {
		hot := s.hotReads()
		reads := make([]string, len(hot))
		for i, q := range hot {
			reads[i] = s.rebind(q)
		}
		var err error
		if s.readStmts, err = newStmtCache(s.rdb, reads); err != nil {
			return err
		}
	}
	if s.dialect == DialectSQLite && s.hot == nil && s.hotN > 0 {
		var err error
		if s.hot, err = openHotReaders(s.rdb, []string{hotActiveToken: s.inDialect(qActiveToken), hotTokenGrant: s.inDialect(qTokenGrant)}, s.hotN); err != nil {
			return err
		}
	}
	if s.dialect != DialectSQLite || s.hw != nil {
		return nil
	}
	hw := newHotWriter(hotStatements)
	conn, err := s.wdb.Conn(context.Background())
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.Raw(hw.attach); err != nil {
		return err
	}
	s.hw = hw
	return nil
}

// SchemaVersion returns the newest applied migration, 0 for an empty database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v *int
	if err := s.r.WithContext(ctx).Raw("SELECT MAX(version) FROM schema_migrations").Scan(&v).Error; err != nil {
		return 0, fmt.Errorf("models: schema version: %w", err)
	}
	if v == nil {
		return 0, nil
	}
	return *v, nil
}
