package web_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/latchkey/latchkey/handlers"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/web"
)

// The dashboard benchmark's database: a million tokens in 500,000 grants
// (an access and a refresh token each) issued over 30 days by 10,000 users
// at 50 clients, a tenth of the grants revoked with one audit event each,
// a fifth of the access tokens rotated. Ten "heavy" users hold 2,000 grants
// each and client 1 holds 40% of everything, so every list has deep pages.
const (
	benchGrants  = 500_000
	benchUsers   = 10_000
	benchClients = 50
	benchSeedVer = 3 // bump when the seed below changes
)

// benchNow is the seeded database's present: the store's clock is set to
// it, so a cached database stays as fresh as the day it was seeded.
var benchNow = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

// benchDB returns the path of the seeded SQLite file, building it once per
// schema version under os.TempDir() and reusing it afterwards.
func benchDB(b *testing.B) string {
	b.Helper()
	probe, err := models.Open(filepath.Join(b.TempDir(), "probe.db"), models.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := probe.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	version, _ := probe.SchemaVersion(context.Background())
	probe.Close()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("latchkey-bench-1m-schema%d-seed%d.db", version, benchSeedVer))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	start := time.Now()
	tmp := path + ".building"
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(tmp + suffix)
	}
	st, err := models.Open(tmp, models.Options{Now: func() time.Time { return benchNow }})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	models.UseFastPasswordHashForTests()
	if _, err := st.CreateUser(context.Background(), "admin", models.RoleAdmin, "bench-password"); err != nil {
		b.Fatal(err)
	}
	st.Close()
	seedBulk(b, tmp)
	// The bulk SQL bypasses the writes that keep the overview's counts:
	// rebuild them from the rows, as the migration does.
	st, err = models.Open(tmp, models.Options{Now: func() time.Time { return benchNow }})
	if err != nil {
		b.Fatal(err)
	}
	if err := st.RebuildCounts(context.Background()); err != nil {
		b.Fatal(err)
	}
	st.Close()
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %s in %s", path, time.Since(start).Round(time.Second))
	return path
}

// seedBulk fills the database with plain SQL in one transaction: recursive
// CTEs generate the rows inside SQLite, hundreds of thousands a second.
func seedBulk(b *testing.B, path string) {
	b.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=OFF&_foreign_keys=off")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	// ts(seconds after the start of the 30 days) as the text the driver writes.
	base := benchNow.Add(-30 * 24 * time.Hour).Unix()
	ts := func(expr string) string {
		return fmt.Sprintf("(strftime('%%Y-%%m-%%d %%H:%%M:%%f', %d + (%s), 'unixepoch') || '+00:00')", base, expr)
	}
	span := float64(30*24*3600) / benchGrants
	gcreated := fmt.Sprintf("(g.id * %f)", span)
	stmts := []string{
		// Users 2..10001 (1 is the admin); 2..11 are the heavy ones.
		`WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < ` + strconv.Itoa(benchUsers+1) + `)
		 INSERT INTO users (id, username, password_hash, role, created_at)
		 SELECT i, printf('user%05d', i), '', CASE WHEN i % 500 = 0 THEN 'auditor' ELSE 'user' END, ` + ts("i") + ` FROM n`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ` + strconv.Itoa(benchClients) + `)
		 INSERT INTO clients (id, client_id, name, type, secret_hash, secret_hint, grant_types, redirect_uris, scope, created_at)
		 SELECT i, printf('client-%04d', i), printf('Bench App %d', i), 'confidential', randomblob(32), 'lk_cs_xxxx…',
		   'authorization_code refresh_token password', 'https://app.example/cb', 'read write', ` + ts("i") + ` FROM n`,
		`WITH RECURSIVE n(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM n WHERE id < ` + strconv.Itoa(benchGrants) + `),
		 g AS (SELECT id,
		   CASE WHEN id % 10 < 4 THEN 1 ELSE 2 + id % 49 END AS client_id,
		   CASE WHEN id % 50 = 1 THEN NULL WHEN id % 25 = 0 THEN 2 + (id / 25) % 10 ELSE 12 + id % 9990 END AS user_id
		   FROM n)
		 INSERT INTO grants (id, client_id, user_id, grant_type, scope, created_at, expires_at, last_used_at, revoked_at)
		 SELECT g.id, g.client_id, g.user_id, CASE WHEN g.user_id IS NULL THEN 'client_credentials' ELSE 'password' END, 'read write',
		   ` + ts(gcreated) + `, ` + ts(gcreated+" + 2592000") + `,
		   CASE WHEN g.id % 3 = 0 THEN ` + ts(gcreated+" + 600") + ` END,
		   CASE WHEN g.id % 10 = 0 THEN ` + ts(gcreated+" + 1800") + ` END
		 FROM g`,
		// Two tokens a grant, in id order: 2g-1 access, 2g refresh.
		`INSERT INTO tokens (id, hash, type, hint, grant_id, client_id, user_id, scope, created_at, expires_at, rotated_at, revoked_at)
		 SELECT 2 * g.id - k.k, randomblob(32), CASE k.k WHEN 1 THEN 'access_token' ELSE 'refresh_token' END,
		   CASE k.k WHEN 1 THEN 'lk_at_' ELSE 'lk_rt_' END || substr(hex(randomblob(2)), 1, 4) || '…',
		   g.id, g.client_id, g.user_id, g.scope, g.created_at,
		   CASE k.k WHEN 1 THEN ` + ts(gcreated+" + 3600") + ` ELSE g.expires_at END,
		   CASE WHEN k.k = 1 AND g.id % 5 = 0 AND g.revoked_at IS NULL THEN ` + ts(gcreated+" + 3000") + ` END,
		   g.revoked_at
		 FROM grants g CROSS JOIN (SELECT 1 AS k UNION ALL SELECT 0) k ORDER BY g.id, k.k DESC`,
		`INSERT INTO audit_events (created_at, actor_type, actor, action, grant_id, user_id, client_id, grants, tokens, reason, remote_addr, request_id)
		 SELECT revoked_at, 'staff', 'admin', 'grant.revoke', id, user_id, client_id, 1, 2, 'bench', '127.0.0.1', printf('req-%d', id)
		 FROM grants WHERE revoked_at IS NOT NULL ORDER BY id`,
		`UPDATE sqlite_sequence SET seq = (SELECT MAX(id) FROM tokens) WHERE name = 'tokens'`,
	}
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range stmts {
		if _, err := tx.Exec(s); err != nil {
			b.Fatalf("seed: %v\n%s", err, s)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDashboardPages measures the server-side time of each dashboard
// list page on a million tokens: first page and a deep page, filtered and
// unfiltered, through the whole echo stack (session, CSRF, handler,
// queries, templ render) with an in-process recorder. It reports the median
// and the 95th percentile; the targets are 50 ms and 150 ms.
//
//	go test ./web -run '^$' -bench DashboardPages -benchtime 60x
func BenchmarkDashboardPages(b *testing.B) {
	path := benchDB(b)
	st, err := models.Open(path, models.Options{Now: func() time.Time { return benchNow }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	ctx := context.Background()
	admin, err := st.UserByUsername(ctx, "admin")
	if err != nil {
		b.Fatal(err)
	}
	heavy, err := st.UserByUsername(ctx, "user00002")
	if err != nil {
		b.Fatal(err)
	}
	adminSession, err := st.CreateSession(ctx, admin)
	if err != nil {
		b.Fatal(err)
	}
	userSession, err := st.CreateSession(ctx, heavy)
	if err != nil {
		b.Fatal(err)
	}
	e := web.New(web.Config{Issuer: "http://127.0.0.1:8000", TTLs: models.DefaultTTLs}, st, nil)
	cases := []struct{ name, path, session string }{
		{"overview", "/admin/", adminSession},
		{"tokens/first", "/admin/tokens", adminSession},
		{"tokens/deep", "/admin/tokens?before=500000", adminSession},
		{"tokens/user/first", "/admin/tokens?user=user00002", adminSession},
		{"tokens/user/deep", "/admin/tokens?user=user00002&before=500000", adminSession},
		{"tokens/client+active/first", "/admin/tokens?client=client-0001&status=active", adminSession},
		{"tokens/client+active/deep", "/admin/tokens?client=client-0001&status=active&before=500000", adminSession},
		{"tokens/revoked/deep", "/admin/tokens?status=revoked&before=500000", adminSession},
		{"tokens/refresh/deep", "/admin/tokens?type=refresh_token&before=500000", adminSession},
		{"users/first", "/admin/users", adminSession},
		{"users/deep", "/admin/users?before=5000", adminSession},
		{"users/auditors/deep", "/admin/users?role=auditor&before=5000", adminSession},
		{"user/first", "/admin/users/2", adminSession},
		{"user/deep", "/admin/users/2?before=250000", adminSession},
		{"clients/first", "/admin/clients", adminSession},
		{"clients/deep", "/admin/clients?before=25", adminSession},
		{"client/first", "/admin/clients/1", adminSession},
		{"client/deep", "/admin/clients/1?before=250000", adminSession},
		{"audit/first", "/admin/audit", adminSession},
		{"audit/deep", "/admin/audit?before=25000", adminSession},
		{"audit/actor+action/deep", "/admin/audit?actor=admin&action=grant.revoke&before=25000", adminSession},
		{"audit/days", "/admin/audit?from=2026-01-01&to=2026-01-05", adminSession},
		{"authorized_tokens", "/o/authorized_tokens/", userSession},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var times []time.Duration
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, tc.path, nil)
				req.AddCookie(&http.Cookie{Name: handlers.SessionCookie, Value: tc.session})
				rec := httptest.NewRecorder()
				t0 := time.Now()
				e.ServeHTTP(rec, req)
				times = append(times, time.Since(t0))
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: status %d", tc.path, rec.Code)
				}
			}
			slices.Sort(times)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(times[len(times)/2]), "median-ms")
			b.ReportMetric(ms(times[min(len(times)-1, len(times)*95/100)]), "p95-ms")
		})
	}
}

// BenchmarkOverviewCounts measures the overview's reads alone (the kept
// counts, the signals and the chart), without the HTTP stack.
func BenchmarkOverviewCounts(b *testing.B) {
	st, err := models.Open(benchDB(b), models.Options{Now: func() time.Time { return benchNow }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	var times []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := st.Overview(context.Background()); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(t0))
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(times[min(len(times)-1, len(times)*95/100)].Microseconds())/1000, "p95-ms")
}
