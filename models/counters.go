package models

import (
	"context"
	"errors"
	"math/bits"
	"strings"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// RevocationPath names the caller of the revocation core, for metrics.
type RevocationPath string

// The revocation paths.
const (
	PathEndpoint    RevocationPath = "endpoint"     // POST /o/revoke_token/
	PathDashboard   RevocationPath = "dashboard"    // a staff member on /admin/
	PathSelfService RevocationPath = "self_service" // a user on their own authorized clients
	PathCLI         RevocationPath = "cli"          // latchkey revoke
	PathReuse       RevocationPath = "reuse"        // refresh-token or code reuse detection
)

// RevocationOutcome says how a revocation request ended, for metrics.
type RevocationOutcome string

// The revocation outcomes.
const (
	OutcomeRevoked RevocationOutcome = "revoked" // at least one grant revoked
	OutcomeNothing RevocationOutcome = "nothing" // already revoked or expired
	OutcomeUnknown RevocationOutcome = "unknown" // no such token or grant
	OutcomeRefused RevocationOutcome = "refused" // another client's token (RFC 7009 §2.1)
	OutcomeError   RevocationOutcome = "error"   // the database failed
)

// RevocationPaths and RevocationOutcomes list every value, in a fixed
// order, so that a metrics exporter can show zeros before the first event.
var (
	RevocationPaths    = []RevocationPath{PathEndpoint, PathDashboard, PathSelfService, PathCLI, PathReuse}
	RevocationOutcomes = []RevocationOutcome{OutcomeRevoked, OutcomeNothing, OutcomeUnknown, OutcomeRefused, OutcomeError}
)

// PurgeTables lists the tables the purge deletes from, in the order it
// does (tokens before the grants they belong to).
var PurgeTables = []string{"tokens", "codes", "sessions", "setup_tokens", "grants", "events", "signing_keys"}

// BatchSizeBounds are the upper bounds of the write batch size buckets.
var BatchSizeBounds = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}

// CommitSecondsBounds are the upper bounds, in seconds, of the buckets of
// commit times (Stats.CommitSeconds).
var CommitSecondsBounds = [...]float64{0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}

// counters are the store's process-wide counters, read by Stats. They are
// plain atomics: models exposes numbers and does not depend on a metrics
// library.
type counters struct {
	revocations [5][5]atomic.Int64 // [path][outcome]
	grants      [5]atomic.Int64    // grants revoked, by path
	tokens      [5]atomic.Int64    // tokens revoked, by path
	unknown     atomic.Int64       // revocation requests naming an unknown token

	commits    atomic.Int64
	writes     atomic.Int64
	batchSizes [9]atomic.Int64 // per BatchSizeBounds bucket, not cumulative
	// commitTimes counts commits per CommitSecondsBounds bucket (not
	// cumulative; the last is over the largest bound), commitNanos their
	// total time.
	commitTimes [len(CommitSecondsBounds) + 1]atomic.Int64
	commitNanos atomic.Int64

	purged           [7]atomic.Int64 // rows, per PurgeTables entry
	purgeRuns        [3]atomic.Int64 // done, skipped, failed
	purgeLastSuccess atomic.Int64    // unix seconds

	passwordChecks atomic.Int64 // password checks that went on to bcrypt
	loginFailures  atomic.Int64 // wrong passwords and unknown usernames
	loginThrottled atomic.Int64 // password checks the throttle refused before any hash
}

// Stats are the store's counters since the process started.
type Stats struct {
	// Revocations counts revocation requests by path and outcome; each key
	// is in RevocationPaths × RevocationOutcomes.
	Revocations map[RevocationPath]map[RevocationOutcome]int64
	// RevokedGrants and RevokedTokens count what the core revoked, by path.
	RevokedGrants, RevokedTokens map[RevocationPath]int64
	// UnknownTokenRevocations counts revocation requests for tokens
	// Latchkey never issued (or already purged). They write no audit
	// event, so this counter is their only trace.
	UnknownTokenRevocations int64

	// Commits is how many write transactions committed (on SQLite each one
	// an fsync); Writes how many writes they carried (group commit).
	Commits, Writes int64
	// BatchSizes counts commits by how many writes they carried:
	// BatchSizes[i] is the number of commits of at most BatchSizeBounds[i]
	// writes (cumulative, as a Prometheus histogram wants).
	BatchSizes []uint64
	// CommitSeconds counts commits by how long their COMMIT took (on
	// SQLite, writing the batch into the WAL and its fsync):
	// CommitSeconds[i] is the number that took at most
	// CommitSecondsBounds[i] (cumulative); CommitSecondsCount counts them
	// all, and CommitSecondsSum is their total time.
	CommitSeconds      []uint64
	CommitSecondsCount uint64
	CommitSecondsSum   float64

	// Purged counts rows the purge deleted, by table (PurgeTables).
	Purged map[string]int64
	// PurgeRuns counts purge runs that finished, that were skipped
	// because another replica held the lock, and that failed.
	PurgeRuns struct{ Done, Skipped, Failed int64 }
	// PurgeLastSuccess is when a purge last finished; zero if none has.
	PurgeLastSuccess time.Time

	// PasswordChecks counts password checks that went on to bcrypt
	// (counted before waiting for the hashing pool).
	PasswordChecks int64
	// LoginFailures counts wrong passwords and unknown usernames, at the
	// login page and in the password grant.
	LoginFailures int64
	// LoginThrottled counts password checks the throttle refused before
	// any hash was computed.
	LoginThrottled int64
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	c := &s.counters
	st := Stats{
		Revocations:             map[RevocationPath]map[RevocationOutcome]int64{},
		RevokedGrants:           map[RevocationPath]int64{},
		RevokedTokens:           map[RevocationPath]int64{},
		UnknownTokenRevocations: c.unknown.Load(),
		Commits:                 c.commits.Load(),
		Writes:                  c.writes.Load(),
		Purged:                  map[string]int64{},
		PasswordChecks:          c.passwordChecks.Load(),
		LoginFailures:           c.loginFailures.Load(),
		LoginThrottled:          c.loginThrottled.Load(),
	}
	for i, p := range RevocationPaths {
		st.Revocations[p] = map[RevocationOutcome]int64{}
		for j, o := range RevocationOutcomes {
			st.Revocations[p][o] = c.revocations[i][j].Load()
		}
		st.RevokedGrants[p] = c.grants[i].Load()
		st.RevokedTokens[p] = c.tokens[i].Load()
	}
	var cum uint64
	for i := range BatchSizeBounds {
		cum += uint64(c.batchSizes[i].Load())
		st.BatchSizes = append(st.BatchSizes, cum)
	}
	cum = 0
	for i := range CommitSecondsBounds {
		cum += uint64(c.commitTimes[i].Load())
		st.CommitSeconds = append(st.CommitSeconds, cum)
	}
	st.CommitSecondsCount = cum + uint64(c.commitTimes[len(CommitSecondsBounds)].Load())
	st.CommitSecondsSum = time.Duration(c.commitNanos.Load()).Seconds()
	for i, t := range PurgeTables {
		st.Purged[t] = c.purged[i].Load()
	}
	st.PurgeRuns.Done, st.PurgeRuns.Skipped, st.PurgeRuns.Failed = c.purgeRuns[0].Load(), c.purgeRuns[1].Load(), c.purgeRuns[2].Load()
	if ts := c.purgeLastSuccess.Load(); ts != 0 {
		st.PurgeLastSuccess = time.Unix(ts, 0).UTC()
	}
	return st
}

// BatchStats reports how many commits the writer made and how many
// operations they carried: the group-commit ratio.
func (s *Store) BatchStats() (commits, ops int64) {
	return s.counters.commits.Load(), s.counters.writes.Load()
}

// countCommit records one committed transaction that carried n writes and
// whose COMMIT took d.
func (c *counters) countCommit(n int, d time.Duration) {
	c.commits.Add(1)
	c.writes.Add(int64(n))
	i := bits.Len(uint(n - 1)) // 1 → 0, 2 → 1, 3–4 → 2, …, 129–256 → 8
	if i >= len(c.batchSizes) {
		i = len(c.batchSizes) - 1
	}
	c.batchSizes[i].Add(1)
	j, secs := 0, d.Seconds()
	for j < len(CommitSecondsBounds) && secs > CommitSecondsBounds[j] {
		j++
	}
	c.commitTimes[j].Add(1)
	c.commitNanos.Add(int64(d))
}

// revocation is one revocation's outcome, held until its transaction
// commits: the writer may roll a batch back and run it again, and a
// counter must move once, for what is on disk.
type revocation struct {
	path    RevocationPath
	outcome RevocationOutcome
	res     RevokeResult
	token   bool // the request named a token
}

// tally collects the revocations a write made, and whether it queued
// events. A write's transaction carries a pointer to one in its context
// (see write); revokeTx appends to it, and the writer counts them, and
// wakes the event delivery, only once the transaction has committed.
type tally struct {
	revs   []revocation
	events []*Event           // outbox events to write before the commit
	counts map[countKey]int64 // the overview's kept counts to add before the commit
	queued bool               // events were queued on some stream
}

// reset empties t for a fresh run of its write.
func (t *tally) reset() {
	if t != nil {
		t.revs, t.events, t.queued = t.revs[:0], t.events[:0], false
		clear(t.counts)
	}
}

type tallyKey struct{}

// withTally returns a tally and txCtx carrying it, for a write's
// transaction.
func withTally(txCtx context.Context) (*tally, context.Context) {
	t := &tally{}
	return t, context.WithValue(txCtx, tallyKey{}, t)
}

// tallyOf returns the tally of the write tx belongs to, or nil.
func tallyOf(tx *gorm.DB) *tally {
	if tx == nil || tx.Statement == nil || tx.Statement.Context == nil {
		return nil
	}
	t, _ := tx.Statement.Context.Value(tallyKey{}).(*tally)
	return t
}

// noteRevocation records a revocation made inside tx, to be counted when
// tx commits.
func noteRevocation(tx *gorm.DB, req RevokeRequest, outcome RevocationOutcome, res RevokeResult) {
	if t := tallyOf(tx); t != nil {
		t.revs = append(t.revs, revocation{revocationPath(req), outcome, res, req.Token != ""})
	}
}

// committed counts a committed write's revocations and wakes the event
// delivery if it queued events.
func (s *Store) committed(t *tally) {
	if t == nil {
		return
	}
	s.counters.countTally(t)
	if t.queued {
		s.queued.poke()
	}
}

// countTally counts a committed write's revocations.
func (c *counters) countTally(t *tally) {
	if t == nil {
		return
	}
	for _, r := range t.revs {
		c.countRevocation(r.path, r.outcome, r.res, r.token)
	}
}

func (c *counters) countRevocation(path RevocationPath, outcome RevocationOutcome, res RevokeResult, token bool) {
	p := pathIndex(path)
	for j, o := range RevocationOutcomes {
		if o == outcome {
			c.revocations[p][j].Add(1)
		}
	}
	if outcome == OutcomeUnknown && token {
		c.unknown.Add(1)
	}
	c.grants[p].Add(int64(res.Grants))
	c.tokens[p].Add(int64(res.Tokens))
}

func outcomeOf(res RevokeResult) RevocationOutcome {
	if res.Grants > 0 {
		return OutcomeRevoked
	}
	return OutcomeNothing
}

// revokeOutcome classifies a failed revocation.
func revokeOutcome(err error) RevocationOutcome {
	switch {
	case errors.Is(err, ErrNotFound):
		return OutcomeUnknown
	case errors.Is(err, ErrNotTokenOwner):
		return OutcomeRefused
	}
	return OutcomeError
}

// revocationPath says who asked for a revocation.
func revocationPath(req RevokeRequest) RevocationPath {
	switch {
	case req.Action == ActionRefreshReuse || req.Action == ActionCodeReuse:
		return PathReuse
	case req.AsClient != nil || req.Actor.Type == ActorClient:
		return PathEndpoint
	case strings.HasPrefix(req.Actor.Name, "cli:"):
		return PathCLI
	case req.Actor.Type == ActorStaff:
		return PathDashboard
	case req.Actor.Type == ActorUser:
		return PathSelfService
	}
	return PathCLI
}

func pathIndex(p RevocationPath) int {
	for i, x := range RevocationPaths {
		if x == p {
			return i
		}
	}
	return pathIndex(PathCLI)
}
