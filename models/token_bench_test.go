package models_test

import (
	"context"
	"database/sql"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// benchGrants is how many grants the introspection benchmarks seed: each
// has an access and a refresh token, so 100,000 tokens.
const benchGrants = 50_000

// seedActiveTokens returns a store on a real SQLite file (or PostgreSQL,
// with LATCHKEY_TEST_BACKEND=postgres) holding benchGrants grants, and the
// access tokens issued.
func seedActiveTokens(b *testing.B) (*models.Store, []string) {
	b.Helper()
	st := modelstest.NewStore(b)
	f := modelstest.NewFixture(b, st)
	iss, err := st.BulkIssue(context.Background(), f.Confidential, f.Alice.ID, benchGrants)
	if err != nil {
		b.Fatal(err)
	}
	raw := make([]string, len(iss))
	for i, is := range iss {
		raw[i] = is.AccessToken
	}
	return st, raw
}

// BenchmarkActiveToken measures the read behind /api/me and introspection,
// over 100,000 tokens in random order: one goroutine (serial), and as many
// as GOMAXPROCS×4 (parallel).
func BenchmarkActiveToken(b *testing.B) {
	st, raw := seedActiveTokens(b)
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		i := 0
		for b.Loop() {
			i = (i + 7919) % len(raw)
			if _, err := st.ActiveToken(ctx, raw[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var next atomic.Int64
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := (next.Add(1) * 7919) % int64(len(raw))
				if _, err := st.ActiveToken(ctx, raw[i]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkActiveTokenParts splits the cost of the introspection read on
// SQLite: the bare index lookup, each join, the time columns, on prepared
// statements of the reader pool with the hashes computed in advance.
func BenchmarkActiveTokenParts(b *testing.B) {
	modelstest.SkipOnPostgres(b)
	st, raw := seedActiveTokens(b)
	hashes := make([][]byte, len(raw))
	for i, r := range raw {
		hashes[i] = models.TokenKey(r)
	}
	db := st.ReaderForTest()
	now := time.Now().UTC()
	parts := []struct {
		name  string
		query string
		args  func(h []byte) []any
		dest  func() []any
	}{
		{"bare", `SELECT id FROM tokens WHERE hash = ?`, nil, func() []any { var id int64; return []any{&id} }},
		{"join_grant", `SELECT t.id, g.public_id FROM tokens t JOIN grants g ON g.id = t.grant_id WHERE t.hash = ? AND g.revoked_at IS NULL`, nil,
			func() []any { var id int64; var p string; return []any{&id, &p} }},
		{"join_grant_client", `SELECT t.id, g.public_id, c.client_id FROM tokens t JOIN grants g ON g.id = t.grant_id JOIN clients c ON c.id = t.client_id
			WHERE t.hash = ? AND g.revoked_at IS NULL AND c.disabled_at IS NULL`, nil,
			func() []any { var id int64; var p, c string; return []any{&id, &p, &c} }},
		{"join_all", `SELECT t.id, g.public_id, c.client_id, u.username FROM tokens t JOIN grants g ON g.id = t.grant_id JOIN clients c ON c.id = t.client_id
			LEFT JOIN users u ON u.id = t.user_id
			WHERE t.hash = ? AND g.revoked_at IS NULL AND c.disabled_at IS NULL AND (t.user_id IS NULL OR u.disabled_at IS NULL)`, nil,
			func() []any { var id int64; var p, c string; var u *string; return []any{&id, &p, &c, &u} }},
		{"token_row_times", `SELECT id, created_at, expires_at, rotated_at, revoked_at FROM tokens WHERE hash = ?`, nil,
			func() []any { var id int64; var a, e time.Time; var r, v *time.Time; return []any{&id, &a, &e, &r, &v} }},
		{"token_row_text", `SELECT id, created_at || '', expires_at || '' FROM tokens WHERE hash = ? AND rotated_at IS NULL AND revoked_at IS NULL`, nil,
			func() []any { var id int64; var a, e sql.RawBytes; return []any{&id, &a, &e} }},
		{"token_row_where_now", `SELECT id FROM tokens WHERE hash = ? AND expires_at > ?`, func(h []byte) []any { return []any{h, now} },
			func() []any { var id int64; return []any{&id} }},
	}
	for _, p := range parts {
		b.Run(p.name, func(b *testing.B) {
			st, err := db.Prepare(p.query)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			dest := p.dest()
			b.ReportAllocs()
			defer reportCPU(b)()
			i := 0
			for b.Loop() {
				i = (i + 7919) % len(hashes)
				args := []any{hashes[i]}
				if p.args != nil {
					args = p.args(hashes[i])
				}
				rows, err := st.Query(args...)
				if err != nil {
					b.Fatal(err)
				}
				if !rows.Next() {
					b.Fatalf("%s: no row", p.name)
				}
				if err := rows.Scan(dest...); err != nil {
					b.Fatal(err)
				}
				rows.Close()
			}
		})
	}
}

// reportCPU reports the process's CPU time (user and system) per
// operation, as cpu-ns/op: on a machine shared with other work it moves
// much less than the wall-clock ns/op. Use as defer reportCPU(b)().
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
