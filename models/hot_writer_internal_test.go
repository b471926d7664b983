package models

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
)

// TestWriterConnectionReplaced: the writer's hot statements are prepared
// on its driver connection (hotWriter). Should database/sql let that
// connection go, as it does when a transaction on it ends with its
// context (the readiness probe's, when the prober hangs up), the next
// batch prepares them again on the new connection, writes go on, and the
// old connection is freed, its files closed: mattn's driver leaves a
// closed connection open as long as a statement of it is not finalized.
func TestWriterConnectionReplaced(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.db")
	st := openStoreAt(t, path)
	t.Cleanup(func() { st.Close() })
	cc, err := st.CreateClient(ctx, NewClient{Name: "App", Type: ClientConfidential, GrantTypes: []GrantType{GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	issue := func() *Issued {
		t.Helper()
		iss, err := st.IssueGrant(ctx, StartGrant{Client: cc.Client, GrantType: GrantClientCredentials, Scope: "read"})
		if err != nil {
			t.Fatal(err)
		}
		return iss
	}
	first := issue()
	before := openFiles(t, path)
	old := st.hw.dc
	if old == nil {
		t.Fatal("the hot statements are not prepared on the writer connection")
	}

	replaceWriterConn(t, st)

	second := issue()
	if st.hw.dc == old {
		t.Fatal("the hot statements were not prepared again on the new writer connection")
	}
	res, err := st.Revoke(ctx, RevokeRequest{Token: first.AccessToken, AsClient: cc.Client, Actor: AsClient(cc.Client), RequestID: "after"})
	if err != nil || res != (RevokeResult{Grants: 1, Tokens: 1}) {
		t.Fatalf("revocation on the new connection: %+v, %v", res, err)
	}
	if _, err := st.ActiveToken(ctx, first.AccessToken); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoked token: %v, want ErrNotFound", err)
	}
	if _, err := st.ActiveToken(ctx, second.AccessToken); err != nil {
		t.Errorf("token issued on the new connection: %v", err)
	}
	if after := openFiles(t, path); after != before {
		t.Errorf("%d descriptors open on the WAL after the writer connection was replaced, %d before: the old connection was not freed", after, before)
	}
}

// openFiles counts this process's file descriptors open on the WAL of the
// database at path: one for each open connection. (Not the database
// file's: SQLite defers closing a connection's descriptor of it while
// other connections of the process hold locks on the file, since closing
// any descriptor would drop them.)
func openFiles(t *testing.T, path string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list open files here: %v", err)
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && target == path+"-wal" {
			n++
		}
	}
	return n
}

// TestWriterClosesAfterItsConnectionWasReplaced: a store whose writer
// connection was replaced, with no batch since, still frees the old
// connection when it closes: no descriptor is left open on the WAL.
func TestWriterClosesAfterItsConnectionWasReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	st := openStoreAt(t, path) // closed by the test: that is what it checks
	mustClient(t, st)
	replaceWriterConn(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if n := openFiles(t, path); n != 0 {
		t.Errorf("%d descriptors still open on the WAL after the store closed", n)
	}
}

// TestHotStatementArgumentCount: a hot statement given the wrong number of
// arguments fails, as through database/sql, and its write with it; SQLite
// alone would bind the missing ones as NULL.
func TestHotStatementArgumentCount(t *testing.T) {
	ctx := context.Background()
	st := openPlanStore(t)
	err := st.write(ctx, func(tx *gorm.DB) error {
		_, err := st.exec(tx, qAuditCount, 1)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "expected 2 arguments, got 1") {
		t.Errorf("hot statement with 1 argument of 2: %v, want an error naming the count", err)
	}
	if _, err := st.IssueGrant(ctx, StartGrant{Client: mustClient(t, st), GrantType: GrantClientCredentials, Scope: "read"}); err != nil {
		t.Errorf("a write after the refused one: %v", err)
	}
}

// TestBatchEndRollsBackAnOpenTransaction: a batch that ends with its
// transaction still open (a panic outside the write's closures) rolls it
// back and gives the connection back, so later writes do not wait for it
// forever.
func TestBatchEndRollsBackAnOpenTransaction(t *testing.T) {
	ctx := context.Background()
	// Closed by hand: should the end not give the connection back, Close
	// would wait for it forever.
	st := openStoreAt(t, filepath.Join(t.TempDir(), "e.db"))
	cc := mustClient(t, st)
	// No write is queued: the batcher waits, and this takes its place.
	_, end, err := st.beginWrite()
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan struct{})
	go func() { end(); close(ended) }()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("ending a batch with its transaction open still waits after 5 s")
	}
	if _, err := st.IssueGrant(ctx, StartGrant{Client: cc, GrantType: GrantClientCredentials, Scope: "read"}); err != nil {
		t.Errorf("a write after the batch ended: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Error(err)
	}
}

// replaceWriterConn makes database/sql close the writer connection: a
// transaction on it whose context ends.
func replaceWriterConn(t *testing.T, st *Store) {
	t.Helper()
	cctx, cancel := context.WithCancel(context.Background())
	if _, err := st.wdb.BeginTx(cctx, nil); err != nil {
		t.Fatal(err)
	}
	cancel()
	for deadline := time.Now().Add(5 * time.Second); st.wdb.Stats().OpenConnections != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("database/sql kept the writer connection after its transaction's context ended")
		}
	}
}

func mustClient(t *testing.T, st *Store) *Client {
	t.Helper()
	cc, err := st.CreateClient(context.Background(), NewClient{Name: "App", Type: ClientConfidential, GrantTypes: []GrantType{GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	return cc.Client
}

// openStoreAt opens and migrates a store at path; the caller closes it.
func openStoreAt(t *testing.T, path string) *Store {
	t.Helper()
	st, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(context.Background()); err != nil {
		st.Close()
		t.Fatal(err)
	}
	return st
}
